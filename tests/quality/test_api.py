"""The quality API through its real URLs: reports and jobs, the gate and root cause, audit samples
and reviews, adjudication; role denial (403) and other projects (404), errors naming the field,
and pinned query counts on the lists."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone

from projects.models import Membership
from quality.models import Adjudication, AgreementReport, AuditSample, Consensus, QualityJob, Review
from tests.quality.factories import annotations_make, items_make, quality_project

pytestmark = pytest.mark.django_db

REPORTS = "/api/v1/quality/reports/"
JOBS = "/api/v1/quality/jobs/"
GATE = "/api/v1/quality/gate/"
ROOT_CAUSE = "/api/v1/quality/root-cause/"
SAMPLES = "/api/v1/quality/audit-samples/"
DRAW = "/api/v1/quality/audit-samples/draw/"
ADJUDICATIONS = "/api/v1/quality/adjudications/"
QUEUE = "/api/v1/quality/adjudications/queue/"


def _as(api_client, user):
    api_client.force_authenticate(user=user)
    return api_client


def _report(project, *, scope="project", scope_key="", hours_ago=0, alpha=0.7) -> AgreementReport:
    return AgreementReport.objects.create(
        project=project,
        scope=scope,
        scope_key=scope_key,
        computed_at=timezone.now() - dt.timedelta(hours=hours_ago),
        n_annotations=30,
        n_items=10,
        n_items_left_out=0,
        n_annotators=3,
        alpha=alpha,
    )


@pytest.fixture
def stranger(db, other_lead):
    """The lead of another project (with its own report, sample and consensus): they see their
    project's quality records, never this one's."""
    project, people, batch = quality_project(lead=other_lead, annotators=3, name="Other")
    item = items_make(batch, 1)[0]
    annotation = annotations_make([(item, people[0], "spam")])[0]
    _report(project)
    AuditSample.objects.create(project=project, annotation=annotation, stratum="random")
    return other_lead


@pytest.fixture
def annotated(quality, make_items):
    """Six items of the quality project, each answered by three of its annotators."""
    items = make_items(quality.batch, 6)
    rows = [
        (item, quality.people[(index + shift) % 5], "spam") for index, item in enumerate(items) for shift in range(3)
    ]
    return items, annotations_make(rows)


def _samples(annotations, count) -> list[AuditSample]:
    return [
        AuditSample.objects.create(project=annotation.project, annotation=annotation, stratum="random")
        for annotation in annotations[:count]
    ]


def _consensus(items, *, confidence=0.5) -> list[Consensus]:
    return [
        Consensus.objects.create(
            item=item,
            project=item.project,
            method=Consensus.Method.MAJORITY,
            labels=["spam"],
            confidence=confidence,
            votes={"spam": 2, "hate": 1},
            n_annotations=3,
            needs_adjudication=True,
            computed_at=timezone.now(),
        )
        for item in items
    ]


# --- Reports ------------------------------------------------------------------------------------------


def test_reports_list_history_and_latest_for_lead_and_members(api_client, quality):
    old = _report(quality.project, hours_ago=2, alpha=0.5)
    new = _report(quality.project, alpha=0.8)
    batch = _report(quality.project, scope="batch", scope_key=str(quality.batch.pk))
    response = _as(api_client, quality.lead).get(REPORTS, {"project": quality.project.pk})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [batch.pk, new.pk, old.pk]
    latest = api_client.get(REPORTS, {"project": quality.project.pk, "latest": "true", "scope": "project"}).json()
    assert [row["id"] for row in latest["results"]] == [new.pk]
    assert latest["results"][0]["alpha"] == 0.8
    by_key = api_client.get(REPORTS, {"scope": "batch", "scope_key": str(quality.batch.pk)}).json()
    assert [row["id"] for row in by_key["results"]] == [batch.pk]
    member = _as(api_client, quality.people[0]).get(f"{REPORTS}{new.pk}/")
    assert member.status_code == 200
    assert member.json()["scope"] == "project"


def test_reports_of_other_projects_are_hidden(api_client, quality, stranger):
    report = _report(quality.project)
    client = _as(api_client, stranger)
    assert client.get(REPORTS).json()["count"] == 1  # their own project's
    assert client.get(REPORTS, {"project": quality.project.pk}).json()["count"] == 0
    assert client.get(f"{REPORTS}{report.pk}/").status_code == 404


def test_reports_bad_filter_names_the_field(api_client, quality):
    response = _as(api_client, quality.lead).get(REPORTS, {"scope": "galaxy"})
    assert response.status_code == 400
    assert response.json()["field"] == "scope"


def test_reports_list_query_count_is_pinned(api_client, quality, django_assert_num_queries):
    for hours in range(5):
        _report(quality.project, hours_ago=hours)
    client = _as(api_client, quality.lead)
    with django_assert_num_queries(2):  # count, page
        response = client.get(REPORTS)
    assert response.json()["count"] == 5


# --- Jobs ---------------------------------------------------------------------------------------------


def test_job_create_agreement_and_poll(api_client, quality):
    client = _as(api_client, quality.lead)
    response = client.post(
        JOBS, {"project": quality.project.pk, "kind": "agreement", "scope": "batch", "scope_key": str(quality.batch.pk)}
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["kind"] == "agreement_report"
    assert body["status"] == "pending"
    assert body["params"]["scope"] == "batch"
    polled = client.get(f"{JOBS}{body['id']}/").json()
    assert (polled["status"], polled["progress"], polled["report"], polled["finished"]) == ("pending", 0.0, None, False)


def test_job_create_consensus(api_client, quality):
    response = _as(api_client, quality.lead).post(JOBS, {"project": quality.project.pk, "kind": "consensus"})
    assert response.status_code == 202
    assert response.json()["kind"] == "consensus"
    assert response.json()["params"]["method"] == "dawid_skene"


def test_job_status_shows_the_report_once_done(api_client, quality):
    report = _report(quality.project)
    job = QualityJob.objects.create(
        project=quality.project,
        kind=QualityJob.Kind.AGREEMENT_REPORT,
        status=QualityJob.Status.SUCCEEDED,
        progress=1.0,
        message="done",
        report=report,
        finished_at=timezone.now(),
    )
    body = _as(api_client, quality.lead).get(f"{JOBS}{job.pk}/").json()
    assert (body["status"], body["progress"], body["message"], body["report"], body["finished"]) == (
        "succeeded",
        1.0,
        "done",
        report.pk,
        True,
    )


def test_jobs_are_for_leads(api_client, quality):
    annotator = quality.people[0]
    client = _as(api_client, annotator)
    response = client.post(JOBS, {"project": quality.project.pk, "kind": "agreement"})
    assert response.status_code == 403
    job = QualityJob.objects.create(project=quality.project, kind=QualityJob.Kind.CONSENSUS)
    assert client.get(f"{JOBS}{job.pk}/").status_code == 403


def test_jobs_of_other_projects_are_404(api_client, quality, stranger):
    client = _as(api_client, stranger)
    assert client.post(JOBS, {"project": quality.project.pk, "kind": "agreement"}).status_code == 404
    job = QualityJob.objects.create(project=quality.project, kind=QualityJob.Kind.CONSENSUS)
    assert client.get(f"{JOBS}{job.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "sorcery"}, "kind"),
        ({"kind": "agreement", "scope": "batch"}, "scope_key"),
        ({"kind": "agreement", "window_start": "2026-01-01T00:00:00Z"}, "window_end"),
    ],
)
def test_job_create_bad_payload_names_the_field(api_client, quality, payload, field):
    response = _as(api_client, quality.lead).post(JOBS, {"project": quality.project.pk, **payload})
    assert response.status_code == 400
    assert response.json()["field"] == field


# --- Gate and root cause ------------------------------------------------------------------------------


def test_gate_for_lead_and_members(api_client, quality):
    quality.project.min_alpha = 0.6
    quality.project.save()
    response = _as(api_client, quality.people[0]).get(GATE, {"project": quality.project.pk})
    assert response.status_code == 200
    body = response.json()
    assert body["passed"] is False
    assert body["reasons"] == ["no agreement report yet"]
    assert [check["name"] for check in body["checks"]] == ["alpha", "gold_accuracy", "audit_accuracy"]
    assert body["checks"][0]["threshold"] == 0.6
    assert _as(api_client, quality.lead).get(GATE, {"project": quality.project.pk}).status_code == 200


def test_gate_of_other_projects_is_404_and_needs_a_project(api_client, quality, stranger):
    client = _as(api_client, stranger)
    assert client.get(GATE, {"project": quality.project.pk}).status_code == 404
    missing = client.get(GATE)
    assert missing.status_code == 400
    assert missing.json()["field"] == "project"


def test_root_cause_for_leads_only(api_client, quality, stranger):
    _report(quality.project)
    response = _as(api_client, quality.lead).get(ROOT_CAUSE, {"project": quality.project.pk})
    assert response.status_code == 200
    assert set(response.json()) == {
        "report",
        "labels",
        "confused_pairs",
        "annotators",
        "error_causes",
        "guideline_versions",
    }
    assert response.json()["guideline_versions"][0]["version"] == 1
    assert _as(api_client, quality.people[0]).get(ROOT_CAUSE, {"project": quality.project.pk}).status_code == 403
    assert _as(api_client, stranger).get(ROOT_CAUSE, {"project": quality.project.pk}).status_code == 404


# --- Audit samples ------------------------------------------------------------------------------------


def test_audit_queue_for_reviewer_and_all_samples_for_lead(api_client, quality, annotated):
    _, annotations = annotated
    samples = _samples(annotations, 3)
    reviewed = samples[2]
    reviewed.status = AuditSample.Status.REVIEWED
    reviewed.save()
    queue = _as(api_client, quality.reviewer).get(SAMPLES).json()
    assert [row["id"] for row in queue["results"]] == [samples[0].pk, samples[1].pk]
    first = queue["results"][0]
    assert first["labels"] == ["spam"]
    assert first["item"]["id"] == annotations[0].item_id
    assert "gold_labels" not in first["item"] and "is_gold" not in first["item"]
    everything = _as(api_client, quality.lead).get(SAMPLES).json()
    assert everything["count"] == 3
    pending = api_client.get(SAMPLES, {"status": "pending", "project": quality.project.pk}).json()
    assert pending["count"] == 2


def test_audit_samples_of_other_projects_are_hidden(api_client, quality, annotated, stranger):
    sample = _samples(annotated[1], 1)[0]
    client = _as(api_client, stranger)
    own = client.get(SAMPLES).json()["results"]  # their own project's sample only
    assert len(own) == 1 and own[0]["project"] != quality.project.pk
    assert client.get(SAMPLES, {"project": quality.project.pk}).json()["count"] == 0
    assert client.get(f"{SAMPLES}{sample.pk}/").status_code == 404
    assert client.post(f"{SAMPLES}{sample.pk}/review/", {"verdict": "correct"}).status_code == 404


def test_audit_samples_list_query_count_is_pinned(api_client, quality, annotated, django_assert_num_queries):
    _samples(annotated[1], 8)
    client = _as(api_client, quality.reviewer)
    with django_assert_num_queries(2):  # count, page (samples, annotations and items joined)
        response = client.get(SAMPLES)
    assert response.json()["count"] == 8


def test_audit_review_records_the_verdict(api_client, quality, annotated):
    sample = _samples(annotated[1], 1)[0]
    response = _as(api_client, quality.reviewer).post(
        f"{SAMPLES}{sample.pk}/review/",
        {"verdict": "incorrect", "correct_labels": ["hate"], "error_cause": "misread_content", "note": "slur"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["verdict"] == "incorrect"
    assert response.json()["correct_labels"] == ["hate"]
    review = Review.objects.get(sample=sample)
    assert review.reviewer == quality.reviewer
    sample.refresh_from_db()
    assert sample.status == AuditSample.Status.REVIEWED


def test_audit_review_is_for_reviewers(api_client, quality, annotated):
    sample = _samples(annotated[1], 1)[0]
    outsider = quality.people[4]  # an annotator of the project, not the sample's author
    response = _as(api_client, outsider).post(f"{SAMPLES}{sample.pk}/review/", {"verdict": "correct"})
    assert response.status_code == 403
    assert not Review.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"verdict": "maybe"}, "verdict"),
        ({"verdict": "incorrect", "correct_labels": ["hate"]}, "error_cause"),
        ({"verdict": "incorrect", "correct_labels": ["nope"], "error_cause": "careless"}, "correct_labels"),
    ],
)
def test_audit_review_bad_payload_names_the_field(api_client, quality, annotated, payload, field):
    sample = _samples(annotated[1], 1)[0]
    response = _as(api_client, quality.reviewer).post(f"{SAMPLES}{sample.pk}/review/", payload)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_audit_draw_by_lead(api_client, quality, annotated):
    response = _as(api_client, quality.lead).post(DRAW, {"project": quality.project.pk, "share": 0.5, "seed": 3})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["drawn"] == AuditSample.objects.filter(project=quality.project).count() > 0
    assert sum(body["by_stratum"].values()) == body["drawn"]
    again = api_client.post(DRAW, {"project": quality.project.pk, "share": 0.5, "seed": 3}).json()
    assert again["drawn"] == 0  # nothing is drawn twice


def test_audit_draw_denials(api_client, quality, annotated, stranger):
    assert (
        _as(api_client, quality.reviewer).post(DRAW, {"project": quality.project.pk, "share": 0.5}).status_code == 403
    )
    assert _as(api_client, stranger).post(DRAW, {"project": quality.project.pk, "share": 0.5}).status_code == 404
    assert not AuditSample.objects.filter(project=quality.project).exists()


@pytest.mark.parametrize(("share", "field"), [("lots", "share"), (0, "share"), (1.5, "share")])
def test_audit_draw_bad_share_names_the_field(api_client, quality, share, field):
    response = _as(api_client, quality.lead).post(DRAW, {"project": quality.project.pk, "share": share})
    assert response.status_code == 400
    assert response.json()["field"] == field


# --- Adjudication -------------------------------------------------------------------------------------


def test_adjudication_queue_for_reviewers_and_leads(api_client, quality, make_items):
    items = make_items(quality.batch, 3)
    _consensus(items[:2], confidence=0.6)
    _consensus(items[2:], confidence=0.4)
    response = _as(api_client, quality.reviewer).get(QUEUE, {"project": quality.project.pk})
    assert response.status_code == 200
    body = response.json()
    assert [row["item"]["id"] for row in body["results"]] == [items[2].pk, items[0].pk, items[1].pk]
    assert body["results"][0]["votes"] == {"spam": 2, "hate": 1}
    assert _as(api_client, quality.lead).get(QUEUE, {"project": quality.project.pk}).json()["count"] == 3


def test_adjudication_queue_denials(api_client, quality, stranger):
    assert _as(api_client, quality.people[0]).get(QUEUE, {"project": quality.project.pk}).status_code == 403
    assert _as(api_client, stranger).get(QUEUE, {"project": quality.project.pk}).status_code == 404
    missing = api_client.get(QUEUE, {"project": "x"})
    assert missing.status_code == 400
    assert missing.json()["field"] == "project"


def test_adjudication_queue_query_count_is_pinned(api_client, quality, make_items, django_assert_num_queries):
    _consensus(make_items(quality.batch, 6))
    client = _as(api_client, quality.reviewer)
    client.get(QUEUE, {"project": quality.project.pk})  # the reviewer's roles are cached on the user
    with django_assert_num_queries(3):  # the project, count, page (consensus and items joined)
        response = client.get(QUEUE, {"project": quality.project.pk})
    assert response.json()["count"] == 6


def test_adjudication_record(api_client, quality, make_items):
    item = make_items(quality.batch, 1)[0]
    _consensus([item])
    response = _as(api_client, quality.reviewer).post(
        ADJUDICATIONS, {"item": item.pk, "labels": ["hate"], "reason": "a slur"}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["labels"] == ["hate"]
    assert Adjudication.objects.get().reviewer == quality.reviewer
    assert api_client.get(QUEUE, {"project": quality.project.pk}).json()["count"] == 0


def test_adjudication_record_denials(api_client, quality, make_items, stranger):
    item = make_items(quality.batch, 1)[0]
    payload = {"item": item.pk, "labels": ["hate"], "reason": "x"}
    assert _as(api_client, quality.people[0]).post(ADJUDICATIONS, payload).status_code == 403
    assert _as(api_client, stranger).post(ADJUDICATIONS, payload).status_code == 404
    assert not Adjudication.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"labels": []}, "labels"), ({"labels": ["nope"]}, "labels"), ({"labels": ["hate", "spam"]}, "labels")],
)
def test_adjudication_bad_payload_names_the_field(api_client, quality, make_items, payload, field):
    item = make_items(quality.batch, 1)[0]
    response = _as(api_client, quality.reviewer).post(ADJUDICATIONS, {"item": item.pk, **payload})
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_adjudication_member_who_is_a_lead_by_membership(api_client, quality, make_items, stranger):
    """A lead by membership (not the project's lead) reviews like a lead."""
    Membership.objects.create(project=quality.project, user=stranger, role=Membership.Role.LEAD)
    item = make_items(quality.batch, 1)[0]
    _consensus([item])
    assert _as(api_client, stranger).get(QUEUE, {"project": quality.project.pk}).json()["count"] == 1


# --- Schema -------------------------------------------------------------------------------------------


def test_quality_endpoints_are_in_the_schema(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]
    expected = {
        "/api/v1/quality/reports/": {"get"},
        "/api/v1/quality/reports/{id}/": {"get"},
        "/api/v1/quality/jobs/": {"post"},
        "/api/v1/quality/jobs/{id}/": {"get"},
        "/api/v1/quality/gate/": {"get"},
        "/api/v1/quality/alpha/": {"get"},
        "/api/v1/quality/root-cause/": {"get"},
        "/api/v1/quality/audit-samples/": {"get"},
        "/api/v1/quality/audit-samples/{id}/": {"get"},
        "/api/v1/quality/audit-samples/{id}/review/": {"post"},
        "/api/v1/quality/audit-samples/draw/": {"post"},
        "/api/v1/quality/adjudications/": {"post"},
        "/api/v1/quality/adjudications/queue/": {"get"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
        for method in methods:
            assert paths[path][method]["tags"] == ["quality"]
