"""Every write of the annotation app: schemas and their versions, guidelines, batches and items,
assignments and annotations. Each function validates, applies atomically and records who.

By subdomain:

- taxonomy: label schemas, their versions, and guidelines;
- items: batches, items added from rows, and imports of item files (create, run, fail, retry, sweep);
- engine: who may take work, leases, an annotator's next item, expiry sweeps, the work queue's
  vacuum, skips and flags;
- submit: an annotator's labels for their assignment.

Callers use this package (`from annotation import services`); the hand-written SQL the engine,
submit and the imports run is in annotation.sql.
"""

from annotation.services.engine import (
    WorkContext,
    annotator_qualification_problems,
    assignment_create,
    assignment_expire_sweep,
    assignment_next,
    assignment_skip,
    flag_answer,
    flag_raise,
    work_queue_vacuum,
    work_start,
)
from annotation.services.items import (
    IMPORT_ERRORS_KEPT,
    batch_create,
    import_job_create,
    import_job_fail,
    import_job_retry,
    import_job_run,
    import_job_sweep,
    items_add,
)
from annotation.services.submit import annotation_submit
from annotation.services.taxonomy import guideline_publish, schema_create, schema_version_create

__all__ = [
    "IMPORT_ERRORS_KEPT",
    "WorkContext",
    "annotation_submit",
    "annotator_qualification_problems",
    "assignment_create",
    "assignment_expire_sweep",
    "assignment_next",
    "assignment_skip",
    "batch_create",
    "flag_answer",
    "flag_raise",
    "guideline_publish",
    "import_job_create",
    "import_job_fail",
    "import_job_retry",
    "import_job_run",
    "import_job_sweep",
    "items_add",
    "schema_create",
    "schema_version_create",
    "work_queue_vacuum",
    "work_start",
]
