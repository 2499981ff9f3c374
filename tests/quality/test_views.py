"""Pages of the quality engine through real URLs: the lead's quality section and its recompute,
the root-cause page, the reviewers' audit queue. Roles are checked, other projects are 404, and
hostile content stays escaped."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.models import Guideline
from projects.models import Membership
from quality.models import AuditSample, QualityJob, Review
from quality.services.audits import review_record
from quality.services.reports import agreement_report_compute
from tests.accounts.test_views import assert_csp_clean
from tests.quality.factories import annotations_make, noisy_rows
from tests.quality.factories import quality_project as make_quality_project
from tests.test_templates import assert_no_template_text

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(1)</script>"
HTMX = {"HTTP_HX_REQUEST": "true"}


def _html(response) -> str:
    return response.content.decode()


def assert_escaped(html: str, raw: str) -> None:
    assert raw not in html
    assert raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html


@pytest.fixture
def rated(quality, make_items):
    """The quality project with 30 items rated by three annotators each and a project report."""
    items = make_items(quality.batch, 30)
    annotations_make(noisy_rows(items, quality.people, accuracy=0.8, seed=1))
    agreement_report_compute(project_id=quality.project.pk, bootstrap=50)
    return quality


def _samples(quality, make_items, count: int, *, text: str = "A post") -> list[AuditSample]:
    items = make_items(quality.batch, count, text=text)
    annotations = annotations_make([(item, quality.people[0], "spam") for item in items])
    return [
        AuditSample.objects.create(project=quality.project, annotation=annotation, stratum=AuditSample.Stratum.RANDOM)
        for annotation in annotations
    ]


# --- The quality section on the project page --------------------------------------------------


def test_project_page_shows_the_quality_section_to_the_lead(client, rated):
    project = rated.project
    project.min_alpha = 0.99
    project.save()
    report = project.agreement_reports.get()
    client.force_login(rated.lead)
    html = _html(client.get(project.get_absolute_url()))
    assert 'id="quality"' in html and "Quality gate failed" in html
    assert f"alpha {report.alpha:.3f} is under the bar 0.990" in html
    assert f"{report.alpha:.3f}" in html and f"{report.alpha_low:.3f}" in html and f"{report.alpha_high:.3f}" in html
    assert f"{report.fleiss_kappa:.3f}" in html and f"{report.observed_agreement:.3f}" in html
    assert f"{report.n_items_pairable} / {report.n_items_left_out}" in html
    assert "No gold answers" in html and "No reviews" in html
    assert reverse("quality:report_recompute", args=[project.pk]) in html
    assert reverse("quality:root_cause", args=[project.pk]) in html
    assert_csp_clean(html)


def test_the_section_loads_alpha_as_of_now_after_the_page(client, rated, make_items):
    client.force_login(rated.lead)
    url = reverse("quality:alpha_now", args=[rated.project.pk])
    assert f'hx-get="{url}"' in _html(client.get(rated.project.get_absolute_url()))
    more = make_items(rated.batch, 6)
    annotations_make(noisy_rows(more, rated.people, accuracy=0.3, seed=7))  # after the report
    annotations_make([(make_items(rated.batch, 1)[0], rated.people[0], "spam")])  # one single-annotated
    response = client.get(url, **HTMX)
    assert response.status_code == 200
    fresh = agreement_report_compute(project_id=rated.project.pk, bootstrap=0)
    html = _html(response)
    assert f"<strong>{fresh.alpha:.3f}</strong>" in html
    assert "over 36 items and 109 annotations, 1 single-annotated item left out" in html
    # Without htmx: back to the section.
    assert client.get(url).url.endswith("#quality")


def test_alpha_as_of_now_is_for_the_lead_and_says_why_when_undefined(client, quality, make_items, other_lead):
    items = make_items(quality.batch, 2)
    annotations_make([(item, quality.people[0], "spam") for item in items])
    url = reverse("quality:alpha_now", args=[quality.project.pk])
    client.force_login(quality.lead)
    assert "undefined (no item has two or more annotations" in _html(client.get(url, **HTMX))
    client.force_login(quality.people[0])
    assert client.get(url, **HTMX).status_code == 403
    client.force_login(other_lead)
    assert client.get(url, **HTMX).status_code in (403, 404)


def test_project_page_has_no_quality_section_for_members(client, rated):
    client.force_login(rated.people[0])
    html = _html(client.get(rated.project.get_absolute_url()))
    assert 'id="quality"' not in html


def test_recompute_creates_a_job_and_shows_it(client, rated, django_capture_on_commit_callbacks):
    client.force_login(rated.lead)
    url = reverse("quality:report_recompute", args=[rated.project.pk])
    # The task is queued on commit: the page shows the job waiting, then (eager) it runs.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, **HTMX)
    assert response.status_code == 200
    job = QualityJob.objects.get(project=rated.project)
    assert job.kind == QualityJob.Kind.AGREEMENT_REPORT
    html = _html(response)
    status_url = reverse("quality:job_status", args=[rated.project.pk, job.pk])
    assert f'id="quality-job-{job.pk}"' in html and 'id="quality"' in html and "<html" not in html
    assert 'hx-trigger="every 1s"' in html and f'hx-get="{status_url}"' in html
    assert_csp_clean(html)
    job.refresh_from_db()
    assert job.status == QualityJob.Status.SUCCEEDED and rated.project.agreement_reports.count() == 2
    status = _html(client.get(status_url, **HTMX))
    assert "Succeeded" in status and "Show the new figures" in status and "hx-trigger" not in status
    page = _html(client.get(rated.project.get_absolute_url()))
    assert f'id="quality-job-{job.pk}"' in page and 'hx-trigger="every' not in page  # done: no more polling


def test_recompute_without_htmx_redirects_to_the_section(client, rated):
    client.force_login(rated.lead)
    response = client.post(reverse("quality:report_recompute", args=[rated.project.pk]))
    assert response.status_code == 302 and response["Location"].endswith("#quality")
    assert QualityJob.objects.filter(project=rated.project).count() == 1


def test_a_running_job_polls(client, rated):
    job = QualityJob.objects.create(
        project=rated.project, kind=QualityJob.Kind.AGREEMENT_REPORT, status=QualityJob.Status.RUNNING, progress=0.4
    )
    client.force_login(rated.lead)
    url = reverse("quality:job_status", args=[rated.project.pk, job.pk])
    html = _html(client.get(url, **HTMX))
    assert 'hx-trigger="every 1s"' in html and f'hx-get="{url}"' in html and "40%" in html
    assert_csp_clean(html)


def test_recompute_is_for_leads_only(client, rated, other_lead):
    url = reverse("quality:report_recompute", args=[rated.project.pk])
    client.force_login(rated.people[0])
    assert client.post(url, **HTMX).status_code == 403
    client.force_login(other_lead)
    assert client.post(url, **HTMX).status_code == 404
    assert not QualityJob.objects.exists()


def test_job_status_of_another_project_is_404(client, rated, lead):
    other, _people, _batch = make_quality_project(lead=lead, name="Other")
    job = QualityJob.objects.create(project=other, kind=QualityJob.Kind.AGREEMENT_REPORT)
    client.force_login(lead)
    assert client.get(reverse("quality:job_status", args=[rated.project.pk, job.pk]), **HTMX).status_code == 404


# --- Root cause --------------------------------------------------------------------------------


def test_root_cause_page_shows_the_tables_escaped(client, rated, make_items):
    Guideline.objects.filter(project=rated.project).update(note=HOSTILE)
    sample = _samples(rated, make_items, 1)[0]
    review_record(
        sample=sample, reviewer=rated.reviewer, verdict="incorrect", correct_labels="hate", error_cause="careless"
    )
    client.force_login(rated.lead)
    response = client.get(reverse("quality:root_cause", args=[rated.project.pk]))
    html = _html(response)
    assert response.status_code == 200
    for table in ("labels", "pairs", "annotators", "causes", "versions"):
        assert f'id="root-cause-{table}"' in html
    assert "hate" in html and "quality-annotator-0" in html and "Careless" in html and "v1" in html
    assert_escaped(html, HOSTILE)
    assert_csp_clean(html)


def test_root_cause_is_for_leads_of_the_project(client, rated, other_lead):
    url = reverse("quality:root_cause", args=[rated.project.pk])
    client.force_login(rated.people[0])
    assert client.get(url).status_code == 403
    client.force_login(rated.reviewer)
    assert client.get(url).status_code == 403
    client.force_login(other_lead)
    assert client.get(url).status_code == 404


# --- The audit queue ---------------------------------------------------------------------------


def test_audit_queue_shows_the_next_sample_escaped(client, quality, make_items):
    _samples(quality, make_items, 1, text=HOSTILE)
    item = AuditSample.objects.get().annotation.item
    item.ocr_text = HOSTILE + " ocr"
    item.image_url = "https://example.org/a.png"
    item.save()
    client.force_login(quality.reviewer)
    response = client.get(reverse("quality:audit_queue"))
    html = _html(response)
    assert response.status_code == 200
    assert_escaped(html, HOSTILE)
    assert_escaped(html, HOSTILE + " ocr")
    assert "media--blurred" in html and "data-reveal" in html
    assert 'data-verdict="c"' in html and 'data-verdict="x"' in html and 'data-key="1"' in html
    assert "js/review.js" in html and ">Spam<" in html
    assert_csp_clean(html)
    assert_no_template_text(html)


def test_reviewing_records_the_review_and_moves_to_the_next_sample(client, quality, make_items):
    first, second = _samples(quality, make_items, 2)
    client.force_login(quality.reviewer)
    response = client.post(reverse("quality:audit_review", args=[first.pk]), {"verdict": "correct"}, **HTMX)
    html = _html(response)
    assert response.status_code == 200 and "<html" not in html
    review = Review.objects.get(sample=first)
    assert review.verdict == "correct" and review.reviewer == quality.reviewer
    assert f'data-sample="{second.pk}"' in html and "Recorded: correct." in html
    response = client.post(
        reverse("quality:audit_review", args=[second.pk]),
        {"verdict": "incorrect", "correct_labels": "hate", "error_cause": "misread_content"},
        **HTMX,
    )
    review = Review.objects.get(sample=second)
    assert review.correct_labels == ["hate"] and review.error_cause == "misread_content"
    assert "No audits waiting" in _html(response)


def test_reviewing_without_htmx_redirects_to_the_queue(client, quality, make_items):
    (sample,) = _samples(quality, make_items, 1)
    client.force_login(quality.reviewer)
    response = client.post(reverse("quality:audit_review", args=[sample.pk]), {"verdict": "correct"}, follow=True)
    assert response.redirect_chain == [(reverse("quality:audit_queue"), 302)]
    assert "Recorded: correct." in _html(response) and "No audits waiting" in _html(response)


def test_a_refused_review_is_a_message_not_a_500(client, quality, make_items):
    (sample,) = _samples(quality, make_items, 1)
    client.force_login(quality.reviewer)
    response = client.post(
        reverse("quality:audit_review", args=[sample.pk]), {"verdict": "incorrect", "correct_labels": "hate"}, **HTMX
    )
    html = _html(response)
    assert response.status_code == 200 and "error_cause" in html and 'class="message message--error"' in html
    assert f'data-sample="{sample.pk}"' in html and not Review.objects.exists()


def test_audit_queue_is_for_reviewers_of_the_project(client, quality, make_items, lead):
    (sample,) = _samples(quality, make_items, 1)
    client.force_login(quality.people[1])
    assert client.get(reverse("quality:audit_queue")).status_code == 403
    _other, people, _batch = make_quality_project(lead=lead, name="Elsewhere")
    stranger = people[0]
    Membership.objects.filter(user=stranger).update(role=Membership.Role.REVIEWER)
    client.force_login(stranger)
    assert "No audits waiting" in _html(client.get(reverse("quality:audit_queue")))
    response = client.post(reverse("quality:audit_review", args=[sample.pk]), {"verdict": "correct"})
    assert response.status_code == 404 and not Review.objects.exists()


def test_queue_page_links_reviewers_to_the_audits(client, quality):
    client.force_login(quality.reviewer)
    html = _html(client.get(reverse("annotation:queue")))
    assert reverse("quality:audit_queue") in html
