"""Pages of the projects app: the lead's portfolio and triage, project pages, request pages.

Each handler parses input, checks the role through projects.access, calls one service or
selector, and renders or redirects. A domain refusal (QuorumError or ValidationError) becomes an
error message on the page it came from, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from annotation import selectors as annotation_selectors
from annotation import services as annotation_services
from annotation.forms import ImportJobForm
from annotation.models import Flag, ImportJob
from core.pages import form_errors_text, service_attempt
from projects import access
from projects.models import DataRequest, Project
from quality.views import quality_section_context
from workbench import forecast as forecasting
from workbench import retrospective, rollups, selectors
from workbench.api.filters import ProjectFilterSet
from workbench.forms import BlockerAssignForm, BlockerOpenForm, MilestoneForm
from workbench.services import blockers, datarequests, lifecycle, milestones

T = TypeVar("T")
PORTFOLIO_SORT_LABELS = [
    ("deadline", "Deadline, soonest first"),
    ("-deadline", "Deadline, latest first"),
    ("status", "Status, worst first"),
    ("phase", "Phase"),
    ("lead", "Lead"),
    ("progress", "Progress, least first"),
    ("name", "Name"),
]


# --- Helpers ----------------------------------------------------------------------------------


def _redirect_back(request: HttpRequest, fallback: Any) -> HttpResponse:
    """Back to the page the form was on (its `next` field), if that is one of ours; else `fallback`."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback)


def _project_or_404(request: HttpRequest, pk: int, selector: Callable[..., Project] = selectors.project_get) -> Project:
    """The project if the user may see it; 404 otherwise, so other projects do not leak."""
    try:
        project = selector(user=request.user, pk=pk)
    except Project.DoesNotExist:
        raise Http404("No such project.")
    if not access.can_view_project(request.user, project):
        raise Http404("No such project.")
    return project


def _request_or_404(request: HttpRequest, pk: int) -> DataRequest:
    data_request = get_object_or_404(selectors.datarequest_list(user=request.user), pk=pk)
    if not access.can_view_request(request.user, data_request):
        raise Http404("No such request.")
    return data_request


def _require(allowed: bool, why: str) -> None:
    if not allowed:
        raise PermissionDenied(why)


def _rollups_current() -> None:
    """Embedded mode has no beat: the dashboard pages catch the rollups up before reading them."""
    if settings.QUORUM_ROLLUP_ON_READ:
        rollups.rollup_refresh()


# --- Portfolio --------------------------------------------------------------------------------


@login_required
@vary_on_headers("HX-Request")
def portfolio(request: HttpRequest) -> HttpResponse:
    """The lead's portfolio: projects filtered by ProjectFilterSet, and requests waiting for triage.
    htmx filter requests get only the table; a history restore gets the whole page."""
    _require(access.can_triage_requests(request.user), "The portfolio is for project leads.")
    _rollups_current()
    filterset = ProjectFilterSet(request.GET, queryset=selectors.project_portfolio_list(user=request.user))
    # Forecast status and the sort are computed from the rollups, so they act on the filtered rows.
    status = request.GET.get("status", "")
    sort = request.GET.get("sort", "")
    rows = selectors.portfolio_rows(projects=filterset.qs, today=timezone.now().date(), status=status, sort=sort)
    context: dict[str, Any] = {
        "filterset": filterset,
        "projects": rows,
        "status": status,
        "sort": sort,
        "statuses": forecasting.Status.LABELS.items(),
        "sorts": PORTFOLIO_SORT_LABELS,
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "projects/project_portfolio.html#table", context)
    context["leads"] = selectors.project_lead_list(user=request.user)
    context["triage"] = selectors.datarequest_list(user=request.user).filter(status=DataRequest.Status.SUBMITTED)
    return render(request, "projects/project_portfolio.html", context)


# --- Project page and its actions -------------------------------------------------------------


@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project_or_404(request, pk, selector=selectors.project_page_get)
    audience = access.project_audience(request.user, project)
    if audience == "annotator":
        return _annotator_view(request, project)
    _rollups_current()
    if audience == "requester":
        return _requester_view(request, project)
    can_manage = access.can_manage_project(request.user, project)
    members = [m.user for m in project.memberships.all()]
    context = {
        "project": project,
        "next_phases": [Project.Phase(p) for p in lifecycle.project_next_phases(project=project)] if can_manage else [],
        "blocker_form": BlockerOpenForm(members=members) if access.can_open_blocker(request.user, project) else None,
        "resolvable": {b.pk for b in project.blockers_open if access.can_resolve_blocker(request.user, b)},
        "activities": selectors.activity_list(project=project, limit=20),
        "dashboard": (dashboard := selectors.project_dashboard(project=project, today=timezone.now().date())),
        "charts_json": json.dumps(dashboard["charts"], cls=DjangoJSONEncoder),
        "members": members,
        "can_manage": can_manage,
        "can_view_request": project.request is not None and access.can_view_request(request.user, project.request),
    }
    if can_manage:
        context.update(_lead_sections(request, project))
    return render(request, "projects/project_detail.html", context)


def _annotator_view(request: HttpRequest, project: Project) -> HttpResponse:
    """An annotator's face of a project: where it stands, their own work in it, a way to label
    and to raise a blocker; not the dashboard, which shows everyone's figures."""
    context = {
        "project": project,
        "mine": annotation_selectors.annotator_project_figures(
            project=project, annotator=request.user, now=timezone.now()
        ),
        "can_label": project.phase in access.ANNOTATING_PHASES,
        # The open blockers they own or opened: theirs to follow, and to resolve when they own it.
        "blockers": [b for b in project.blockers_open if request.user.pk in (b.owner_id, b.opened_by_id)],
        # Their blocker goes to the lead to assign: no picker of colleagues.
        "blocker_form": BlockerOpenForm(members=[]),
    }
    return render(request, "projects/project_annotator.html", context)


def _requester_view(request: HttpRequest, project: Project) -> HttpResponse:
    """The requesting team's face of its project: phase, progress in items, forecast, the quality
    headline (the gate and the project-wide figures) and where its deliveries are; no annotator,
    activity or blocker is shown."""
    quality = quality_section_context(project, gold=selectors.project_gold_figures(project=project))
    context = {
        "project": project,
        "dashboard": selectors.project_dashboard(project=project, today=timezone.now().date()),
        "gate": quality["gate"],
        "report": quality["report"],
        "gold": quality["gold"],
        "audit": quality["audit"].overall,
    }
    return render(request, "projects/project_requester.html", context)


def _lead_sections(request: HttpRequest, project: Project) -> dict[str, Any]:
    """What only leads see on the project page: annotators' questions, the item imports and quality."""
    flags = annotation_selectors.project_flag_list
    quality = quality_section_context(project, gold=selectors.project_gold_figures(project=project))
    report = quality["report"]
    agreement = {
        row["annotator_id"]: row.get("agreement") for row in (report.details if report else {}).get("annotators", [])
    }
    audit = {row["annotator_id"]: row["accuracy"] for row in quality["audit"].annotators}
    return {
        "flags_open": flags(user=request.user, project=project, status=Flag.Status.OPEN),
        "flags_answered": flags(user=request.user, project=project, status=Flag.Status.ANSWERED, limit=10),
        "import_form": ImportJobForm(),
        "import_jobs": annotation_selectors.project_import_job_list(user=request.user, project=project),
        "quality": quality,
        "annotators": selectors.project_annotator_rows(project=project, agreement=agreement, audit=audit),
    }


@login_required
@require_POST
def project_transition(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project_or_404(request, pk)
    _require(access.can_manage_project(request.user, project), "Only the project's lead may change its phase.")
    moved = service_attempt(
        request,
        lifecycle.project_transition,
        project=project,
        to_phase=request.POST.get("to_phase", ""),
        reason=request.POST.get("reason", ""),
        actor=request.user,
    )
    if moved is not None:
        messages.success(request, f"The project is now in {moved.get_phase_display()}.")
    return redirect(project)


@login_required
@require_POST
def blocker_open(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project_or_404(request, pk)
    _require(access.can_open_blocker(request.user, project), "Only the project's team may open blockers.")
    form = BlockerOpenForm(request.POST, members=[m.user for m in project.memberships.all()])
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
    elif blocker := service_attempt(
        request, blockers.blocker_open, project=project, actor=request.user, **form.cleaned_data
    ):
        messages.success(request, f"Opened {blocker.get_kind_display().lower()} “{blocker.title}”.")
    return redirect(f"{project.get_absolute_url()}#blockers")


@login_required
@require_POST
def blocker_resolve(request: HttpRequest, pk: int, blocker_pk: int) -> HttpResponse:
    blocker = get_object_or_404(selectors.blocker_list(user=request.user), pk=blocker_pk, project_id=pk)
    _require(access.can_resolve_blocker(request.user, blocker), "Only leads and its owner may resolve a blocker.")
    resolution = request.POST.get("resolution", "")
    if service_attempt(request, blockers.blocker_resolve, blocker=blocker, actor=request.user, resolution=resolution):
        messages.success(request, f"Resolved “{blocker.title}”.")
    return redirect(f"{blocker.project.get_absolute_url()}#blockers")


@login_required
@require_POST
def blocker_assign(request: HttpRequest, pk: int, blocker_pk: int) -> HttpResponse:
    blocker = get_object_or_404(selectors.blocker_list(user=request.user), pk=blocker_pk, project_id=pk)
    _require(access.can_manage_project(request.user, blocker.project), "Only the project's lead assigns blockers.")
    members = [m.user for m in blocker.project.memberships.filter(is_active=True).select_related("user")]
    form = BlockerAssignForm(request.POST, members=members)
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
    elif service_attempt(
        request, blockers.blocker_assign, blocker=blocker, owner=form.cleaned_data["owner"], actor=request.user
    ):
        messages.success(request, f"Gave “{blocker.title}” to {form.cleaned_data['owner'].display_name}.")
    return redirect(f"{blocker.project.get_absolute_url()}#blockers")


# --- Milestones -------------------------------------------------------------------------------


@login_required
@require_POST
def milestone_create(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project_or_404(request, pk)
    _require(access.can_manage_project(request.user, project), "Only the project's lead plans milestones.")
    form = MilestoneForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
    elif not form.cleaned_data["planned_date"]:
        messages.error(request, "planned_date: say when the milestone is planned.")
    elif milestone := service_attempt(
        request,
        milestones.milestone_create,
        project=project,
        name=form.cleaned_data["name"],
        planned_date=form.cleaned_data["planned_date"],
        notes=form.cleaned_data["notes"],
        actor=request.user,
    ):
        messages.success(request, f"Planned “{milestone.name}”.")
    return redirect(f"{project.get_absolute_url()}#milestones")


@login_required
@require_POST
def milestone_update(request: HttpRequest, pk: int, milestone_pk: int) -> HttpResponse:
    """Re-plan a milestone or record the day it was reached."""
    project = _project_or_404(request, pk, selector=selectors.project_get)
    _require(access.can_manage_project(request.user, project), "Only the project's lead edits milestones.")
    milestone = get_object_or_404(project.milestones.all(), pk=milestone_pk)
    form = MilestoneForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
    elif service_attempt(
        request,
        milestones.milestone_update,
        milestone=milestone,
        planned_date=form.cleaned_data["planned_date"],
        actual_date=form.cleaned_data["actual_date"],
        actor=request.user,
    ):
        messages.success(request, f"Updated “{milestone.name}”.")
    return redirect(f"{project.get_absolute_url()}#milestones")


# --- Retrospective ----------------------------------------------------------------------------


@login_required
def retrospective_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The project's retrospective; leads also get the lessons form."""
    project = _project_or_404(request, pk)
    can_manage = access.can_manage_project(request.user, project)
    retro = retrospective.retrospective_get(project=project)
    return render(
        request, "projects/project_retrospective.html", {"retro": retro, "project": project, "can_manage": can_manage}
    )


@login_required
def retrospective_markdown(request: HttpRequest, pk: int) -> HttpResponse:
    """The retrospective as a Markdown download."""
    project = _project_or_404(request, pk)
    text = retrospective.retrospective_markdown(retrospective.retrospective_get(project=project))
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="retrospective-project-{project.pk}.md"'
    return response


@login_required
@require_POST
def lessons_update(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project_or_404(request, pk)
    _require(access.can_manage_project(request.user, project), "Only the project's lead writes its lessons.")
    lessons = request.POST.get("lessons", "")
    if service_attempt(
        request, retrospective.project_lessons_update, project=project, lessons=lessons, actor=request.user
    ):
        messages.success(request, "Lessons saved.")
    return redirect("projects:retrospective", pk=project.pk)


# --- Annotators' questions and item imports (the lead's side) --------------------------------


@login_required
@require_POST
def flag_answer(request: HttpRequest, pk: int, flag_pk: int) -> HttpResponse:
    """The lead answers an annotator's question; the annotator reads it on their "My work" page."""
    project = _project_or_404(request, pk)
    _require(access.can_manage_project(request.user, project), "Only the project's lead answers questions.")
    flag = annotation_selectors.project_flag_get(user=request.user, project=project, pk=flag_pk)
    if flag is None:
        raise Http404("No such question.")
    answer = request.POST.get("answer", "")
    if service_attempt(request, annotation_services.flag_answer, flag=flag, actor=request.user, answer=answer):
        messages.success(request, f"Answered {flag.raised_by.display_name}'s question on item {flag.external_id}.")
    return redirect(f"{project.get_absolute_url()}#flags")


@login_required
@require_POST
def import_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload a file of items into a batch; the import runs as a task and its block polls for progress."""
    project = _project_or_404(request, pk)
    _require(access.can_manage_project(request.user, project), "Only the project's lead imports items.")
    form = ImportJobForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
    elif job := service_attempt(
        request,
        annotation_services.import_job_create,
        project=project,
        actor=request.user,
        upload=form.cleaned_data["file"],
        batch_name=form.cleaned_data["batch_name"],
        mode=form.cleaned_data["mode"],
    ):
        messages.success(request, f"Import of {job.source_name} into batch “{job.batch_name}” started.")
    return redirect(f"{project.get_absolute_url()}#imports")


@login_required
@vary_on_headers("HX-Request")
def import_status(request: HttpRequest, pk: int, job_pk: int) -> HttpResponse:
    """One import job's block; htmx polls it while the job runs. Without htmx, the project page."""
    project, job = _import_job_or_404(request, pk, job_pk)
    if not request.htmx:
        return redirect(f"{project.get_absolute_url()}#import-{job.pk}")
    return render(request, "projects/_importjob.html", {"project": project, "job": job})


@login_required
@require_POST
def import_retry(request: HttpRequest, pk: int, job_pk: int) -> HttpResponse:
    """Import a failed job's file again. htmx gets the job block back (polling again); without
    htmx, back to the project page with a message."""
    project, job = _import_job_or_404(request, pk, job_pk)
    if service_attempt(request, annotation_services.import_job_retry, job=job, actor=request.user):
        messages.success(request, f"Import of {job.source_name} queued again.")
    if not request.htmx:
        return redirect(f"{project.get_absolute_url()}#import-{job.pk}")
    job = annotation_selectors.project_import_job_get(user=request.user, project=project, pk=job.pk)
    return render(request, "projects/_importjob.html", {"project": project, "job": job, "htmx_messages": True})


@login_required
def import_error_report(request: HttpRequest, pk: int, job_pk: int) -> FileResponse:
    """The job's CSV report of bad rows (row, column, message), as a download."""
    _project, job = _import_job_or_404(request, pk, job_pk)
    if not job.error_report:
        raise Http404("This import has no error report.")
    return FileResponse(
        job.error_report.open("rb"),
        as_attachment=True,
        filename=f"import-{job.pk}-errors.csv",
        content_type="text/csv; charset=utf-8",
    )


def _import_job_or_404(request: HttpRequest, pk: int, job_pk: int) -> tuple[Project, ImportJob]:
    project = _project_or_404(request, pk)
    _require(access.can_manage_project(request.user, project), "Only the project's lead sees its imports.")
    job = annotation_selectors.project_import_job_get(user=request.user, project=project, pk=job_pk)
    if job is None:
        raise Http404("No such import.")
    return project, job


# --- Data requests ----------------------------------------------------------------------------


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    """Requesters see their own and their team's requests; leads see all of them."""
    _require(access.can_file_request(request.user), "Data requests are for requesters and leads.")
    data_requests = selectors.datarequest_list(user=request.user)
    context = {"data_requests": data_requests, "openable": _openable_project_ids(request, data_requests)}
    return render(request, "projects/datarequest_list.html", context)


def _openable_project_ids(request: HttpRequest, data_requests: Any) -> set[int]:
    """The projects of `data_requests` the user may open: the rest are named, not linked (a lead
    sees every request, but only the projects they have a role in)."""
    return set(access.visible_projects(request.user).filter(request__in=data_requests).values_list("pk", flat=True))


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    data_request = _request_or_404(request, pk)
    _rollups_current()
    selectors.datarequest_page_progress(data_request=data_request)
    can_triage = access.can_triage_requests(request.user) and data_request.status == DataRequest.Status.SUBMITTED
    context = {
        "data_request": data_request,
        "can_triage": can_triage,
        "openable": _openable_project_ids(request, [data_request]),
    }
    if access.can_comment_on_request(request.user, data_request):
        context["comments"] = selectors.request_comment_list(data_request=data_request)
    return render(request, "projects/datarequest_detail.html", context)


@login_required
@require_POST
def request_comment(request: HttpRequest, pk: int) -> HttpResponse:
    """Add to a request's thread (leads and the requesting team); back to the thread."""
    data_request = _request_or_404(request, pk)
    body = request.POST.get("body", "")
    if service_attempt(
        request, datarequests.request_comment_add, data_request=data_request, author=request.user, body=body
    ):
        messages.success(request, "Comment added.")
    return redirect(f"{data_request.get_absolute_url()}#comments")


@login_required
@require_POST
def request_accept(request: HttpRequest, pk: int) -> HttpResponse:
    """Accept a submitted request; its new project opens."""
    _require(access.can_triage_requests(request.user), "Only project leads triage requests.")
    data_request = _request_or_404(request, pk)
    project = service_attempt(request, datarequests.datarequest_accept, data_request=data_request, actor=request.user)
    if project is None:
        return _redirect_back(request, data_request)
    messages.success(request, f"Accepted “{data_request.title}”. Its project starts in requirements.")
    return redirect(project)


@login_required
@require_POST
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    """Reject a submitted request; the service insists on a reason the requester will read."""
    _require(access.can_triage_requests(request.user), "Only project leads triage requests.")
    data_request = _request_or_404(request, pk)
    reason = request.POST.get("reason", "")
    if service_attempt(
        request, datarequests.datarequest_reject, data_request=data_request, actor=request.user, reason=reason
    ):
        messages.success(request, f"Rejected “{data_request.title}”. The requester sees your reason.")
    return _redirect_back(request, data_request)
