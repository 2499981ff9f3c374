"""Pages of the quality engine: the lead's quality section (on the project page) and its recompute,
the job status block it polls, the root-cause page, and the reviewers' audit queue.

Each handler checks the role through projects.policies (or the reviewer's memberships), calls one
service or selector, and renders or redirects. Projects the user may not see are 404; a domain
refusal (QuorumError or ValidationError) becomes an error message, never a 500.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from annotation import selectors as annotation_selectors
from annotation.models import LabelSchema
from annotation.presenters import item_media_urls, item_metadata_rows
from config.pages import service_attempt
from projects import policies
from projects import selectors as project_selectors
from projects.models import Membership, Project
from quality import selectors, services
from quality.models import AuditSample, QualityJob, Review

T = TypeVar("T")

AUDIT_PAGE = "quality/audit_queue.html"
# Letters that pick an error cause on the audit page (C, X, R and ? are the page's commands).
CAUSE_KEYS = {
    Review.ErrorCause.GUIDELINE_GAP: "g",
    Review.ErrorCause.MISREAD_CONTENT: "m",
    Review.ErrorCause.CARELESS: "l",
    Review.ErrorCause.AMBIGUOUS_ITEM: "a",
    Review.ErrorCause.TOOL_PROBLEM: "t",
}


# --- Helpers ----------------------------------------------------------------------------------


def _project_or_404(request: HttpRequest, pk: int) -> Project:
    """The project if the user may see it; 404 otherwise, so other projects do not leak."""
    try:
        project = project_selectors.project_list(user=request.user).get(pk=pk)
    except Project.DoesNotExist:
        raise Http404("No such project.")
    if not policies.can_view_project(request.user, project):
        raise Http404("No such project.")
    return project


def _lead_project(request: HttpRequest, pk: int) -> Project:
    project = _project_or_404(request, pk)
    if not policies.can_manage_project(request.user, project):
        raise PermissionDenied("Only the project's lead sees its quality figures.")
    return project


# --- The lead's quality section (on the project page) ----------------------------------------


def quality_section_context(project: Project) -> dict[str, Any]:
    """What templates/projects/_quality.html shows: the gate, the latest project-scope report,
    gold and audit accuracy headlines and the latest report job. The project page calls it for leads."""
    return {
        "gate": selectors.quality_gate(project_id=project.pk),
        "report": selectors.agreement_report_latest(project_id=project.pk),
        "gold": selectors.gold_accuracy(project_id=project.pk).overall,
        "audit": selectors.audit_accuracy(project_id=project.pk),
        "job": QualityJob.objects.filter(project=project, kind=QualityJob.Kind.AGREEMENT_REPORT).first(),
    }


@login_required
@require_POST
def report_recompute(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a project-scope agreement report. htmx gets the section back (with the job block
    polling until it finishes); without htmx, back to the project page."""
    project = _lead_project(request, pk)
    job = service_attempt(request, services.agreement_report_enqueue, project_id=project.pk, actor=request.user)
    if job is not None and not request.htmx:
        messages.success(request, "The agreement report is being computed.")
    if not request.htmx:
        return redirect(f"{project.get_absolute_url()}#quality")
    context = {"project": project, "quality": quality_section_context(project), "htmx_messages": True}
    return render(request, "projects/_quality.html", context)


@login_required
def job_status(request: HttpRequest, pk: int, job_pk: int) -> HttpResponse:
    """A report job's block; htmx polls it while the job runs. Without htmx, the project page."""
    project = _lead_project(request, pk)
    try:
        status = selectors.quality_job_status(user=request.user, job_id=job_pk)
    except QualityJob.DoesNotExist:
        raise Http404("No such job.")
    job = QualityJob.objects.get(pk=status["id"])
    if job.project_id != project.pk:
        raise Http404("No such job.")
    if not request.htmx:
        return redirect(f"{project.get_absolute_url()}#quality")
    return render(request, "quality/_job.html", {"project": project, "job": job, "status": status})


# --- Root cause ------------------------------------------------------------------------------


@login_required
def root_cause(request: HttpRequest, pk: int) -> HttpResponse:
    """Where the disagreement comes from: per-label alpha, confused pairs, annotators, error causes
    and guideline versions (quality.selectors.root_cause). Leads only."""
    project = _lead_project(request, pk)
    cause = selectors.root_cause(project_id=project.pk)
    names = dict(Review.ErrorCause.choices)
    error_causes = [{**row, "label": names.get(row["cause"], row["cause"])} for row in cause.error_causes]
    return render(
        request, "quality/root_cause.html", {"project": project, "cause": cause, "error_causes": error_causes}
    )


# --- The reviewers' audit queue ------------------------------------------------------------------


def _require_reviewer(request: HttpRequest) -> None:
    reviews = Membership.objects.filter(user=request.user, role=Membership.Role.REVIEWER, is_active=True).exists()
    if not reviews and request.user.role != request.user.Role.REVIEWER:
        raise PermissionDenied("The audit queue is for reviewers.")


@login_required
@vary_on_headers("HX-Request")
def audit_queue(request: HttpRequest) -> HttpResponse:
    """The reviewer's next pending audit sample, with its item and the annotator's labels."""
    _require_reviewer(request)
    return _audit_response(request)


@login_required
@require_http_methods(["POST"])
def audit_review(request: HttpRequest, sample_pk: int) -> HttpResponse:
    """Record a verdict on one sample, then the next sample (the audit area for htmx)."""
    _require_reviewer(request)
    reviewed = Membership.objects.filter(user=request.user, role=Membership.Role.REVIEWER, is_active=True)
    sample = (
        AuditSample.objects.filter(pk=sample_pk, project_id__in=reviewed.values("project_id"))
        .select_related("project")
        .first()
    )
    if sample is None:
        raise Http404("No such audit sample.")
    verdict = request.POST.get("verdict", "")
    incorrect = verdict == Review.Verdict.INCORRECT
    review = service_attempt(
        request,
        services.review_record,
        sample=sample,
        reviewer=request.user,
        verdict=verdict,
        correct_labels=request.POST.getlist("correct_labels") if incorrect else None,
        error_cause=request.POST.get("error_cause", "") if incorrect else "",
        note=request.POST.get("note", ""),
    )
    if review is not None:
        messages.success(request, f"Recorded: {review.get_verdict_display().lower()}.")
        if not request.htmx:
            return redirect("quality:audit_queue")
        return _audit_response(request)
    # Refused: show the same sample again with the reason.
    if not request.htmx:
        return redirect("quality:audit_queue")
    return _audit_response(request, sample_pk=sample.pk)


def _audit_response(request: HttpRequest, *, sample_pk: int | None = None) -> HttpResponse:
    queue = selectors.audit_queue(reviewer=request.user)
    sample = None
    if sample_pk is not None:
        sample = queue.filter(pk=sample_pk).first()
    if sample is None:
        sample = queue.first()
    context: dict[str, Any] = {"sample": sample, "pending": queue.count(), "cause_keys": _cause_choices()}
    if sample is not None:
        context.update(_sample_context(sample))
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{AUDIT_PAGE}#audit", context)
    return render(request, AUDIT_PAGE, context)


def _cause_choices() -> list[dict[str, str]]:
    return [{"value": value, "label": label, "key": CAUSE_KEYS[value]} for value, label in Review.ErrorCause.choices]


def _sample_context(sample: AuditSample) -> dict[str, Any]:
    annotation = sample.annotation
    version = annotation.schema_version
    rows = annotation_selectors.label_tree_rows(labels=version.labels.all())
    names = {row.label.key: row.label.name for row in rows}
    return {
        "project": sample.project,
        "annotation": annotation,
        "item": annotation.item,
        "media": item_media_urls(annotation.item),
        "metadata": item_metadata_rows(annotation.item.metadata),
        "given": [{"key": key, "name": names.get(key, key)} for key in annotation.labels],
        "labels": [
            {"label": row.label, "key": str(position) if position <= 9 else "", "indent": min(row.depth, 4)}
            for position, row in enumerate(rows, start=1)
        ],
        "multi": version.schema.selection == LabelSchema.Selection.MULTI,
    }
