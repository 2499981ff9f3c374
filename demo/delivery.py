"""The demo's delivery: the project in QA (the image evaluation set) delivered once, so the
deliveries pages and API have something to show after `manage.py seed_demo`."""

from __future__ import annotations

from typing import TextIO

from annotation.models import Annotation
from delivery.models import Delivery
from delivery.services.build import delivery_create
from projects.models import Project
from quality.selectors.gate import quality_gate
from quality.services.consensus import consensus_compute

OVERRIDE_REASON = "Demo: a dry-run delivery of the evaluation set before the audit is finished"


def demo_delivery_seed(*, stdout: TextIO | None = None) -> Delivery | None:
    """Deliver the demo's QA project (consensus by majority vote first) unless a delivery exists.

    The quality gate is checked as for any delivery; when it fails (the audit is still running in
    the demo), the lead's override with OVERRIDE_REASON is recorded. The build runs on commit: in
    the embedded mode, at once. Returns the delivery, or None when there was nothing to do.
    """
    if Delivery.objects.exists():
        return None
    project = Project.objects.filter(phase=Project.Phase.QA).order_by("pk").first()
    if project is None or not Annotation.objects.filter(project=project, item__is_gold=False).exists():
        return None
    consensus_compute(project_id=project.pk, method="majority")
    passed = quality_gate(project_id=project.pk).passed
    delivery = delivery_create(project=project, actor=project.lead, override_reason="" if passed else OVERRIDE_REASON)
    if stdout is not None:
        delivery.refresh_from_db()
        stdout.write(f"Delivery of {project.name!r}: {delivery.get_status_display().lower()}.\n")
    return delivery
