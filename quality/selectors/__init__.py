"""Reads of the quality engine: reports and their trend, job progress, the reviewers' queues, gold
and audit accuracy, the quality gate and the root-cause view.

Gold accuracy, audit accuracy, the gate and root cause compute on read (they are cheap: gold items
and reviews are a small share of the annotations); agreement, which is not cheap, is read from the
stored reports that the services compute in workers.

Modules:
- `reports`: agreement reports (list, latest, trend), the project's annotation state and whether a
  report is stale, the projects the periodic refresh recomputes.
- `jobs`: quality jobs and the status a polling page shows.
- `queues`: the reviewers' queues: audit samples, items to adjudicate, the votes an adjudicator
  sees, the consensus labels in force.
- `accuracy`: gold accuracy (GoldAccuracy, the per-annotator row and its page cache) and audit
  accuracy (AuditAccuracy).
- `gate`: the quality gate (GateResult) and the root-cause view (RootCause).
"""
