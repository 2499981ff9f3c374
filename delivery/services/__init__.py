"""Writes of the delivery app, one module per subdomain (import from the module that owns a name):

- storage: where a delivery's files live (the deliveries folder, a done delivery's folder, build
  attempts' temporary folders), the split and file names, and the path of a file to download.
- build: asking for a delivery (the quality gate, delivery_create), building it (delivery_start,
  delivery_build, delivery_build_fail), its manifest and the commit that gives it its version.
- plan: what a build reads and decides: final labels, the stratified split (split_assign), the
  leakage check (pass 1), and the delivered rows in column batches (pass 2).
- webhooks: a team's endpoints, the signed `delivery.done` event, the SSRF-safe send and the record
  of every attempt.
- evaluation: uploaded predictions for a delivery's evaluation split and the report scoring them.
"""
