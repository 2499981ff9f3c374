from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from delivery import tasks
from delivery.models import Delivery, Evaluation
from delivery.services.build import delivery_build, delivery_create
from delivery.services.evaluation import evaluation_create


def test_delivery_build_task_runs_once(labelled, lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_create(project=labelled.project, actor=lead, formats=["csv"])
    delivery.refresh_from_db()
    again = tasks.delivery_build.delay(delivery.pk).get()
    assert again == {"delivery_id": delivery.pk, "status": "done", "version": 1}
    assert Delivery.objects.filter(project=labelled.project).count() == 1


def test_evaluation_task_fails_cleanly_on_an_unreadable_file(
    labelled, lead, requester, django_capture_on_commit_callbacks
):
    delivery = delivery_build(delivery_id=delivery_create(project=labelled.project, actor=lead, formats=["csv"]).pk)
    with django_capture_on_commit_callbacks(execute=True):
        evaluation = evaluation_create(
            delivery=delivery, actor=requester, file=SimpleUploadedFile("p.csv", b"\xff\xfe\x00bad")
        )
    evaluation.refresh_from_db()
    assert evaluation.status == Evaluation.Status.FAILED
    assert "UnicodeDecodeError" in evaluation.error
    assert tasks.evaluation_compute.delay(evaluation.pk).get()["status"] == "failed"
