"""Every write of the quality engine: agreement reports and the jobs that compute them, consensus
labels, audit samples and reviews, adjudications.

The numbers come from the pure core (the agreement package, gold.py, aggregation.py) through
loading.py (the database → integer codes, streamed) and figures.py; hand-written SQL is in sql.py.
Reads (gold and audit accuracy, the quality gate, root cause, queues) are in the selectors package.

Gold items are left out of agreement and consensus: every annotator answers each of them (they sit
outside the overlap) and their answer is known, so they would weigh far more than a regular item
and say nothing about the regular items' labels. Gold accuracy measures them instead.

Modules:
- `common`: what the others share: the project row (project_get), the lead and reviewer checks
  (through projects.access), a project's regular annotations, the streaming chunk size.
- `jobs`: quality jobs: enqueue (an identical unfinished job is reused until it goes stale), start,
  progress, fail, succeed, the locked row, and the loading progress tracker.
- `reports`: agreement reports: scopes, agreement_report_enqueue/compute, the periodic
  agreement_refresh, and project_alpha_compute (alpha as of now, from the kept counts).
- `counts`: the kept per-item value counts of a project (LabelCounts): refresh, store, read.
- `consensus`: consensus_enqueue/compute (majority or Dawid–Skene), the bulk insert of the rows,
  and adjudication_record.
- `audits`: the seeded coin (seeded_uniform), audit_sample_draw and review_record.
"""
