"""Annotator and reviewer pages: the queue, the task page (label, skip, ask the lead) and "My work".

The task page is one URL per project: GET shows the annotator's current item (their open lease is
resumed, else the engine leases the next one); POST submits labels for it. Skip and flag post to
their own URLs. htmx requests get the task partial (the next item swapped in without a reload);
plain form posts are redirected back to the page, so everything also works without JavaScript.
Domain refusals become messages on the page, never a 500.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from annotation import selectors, services
from annotation.forms import SKIP_REASONS, AnnotationSubmitForm, FlagRaiseForm, SkipForm
from annotation.models import Assignment, Guideline, LabelSchema
from annotation.presenters import (
    guideline_html,
    item_media_urls,
    item_metadata_rows,
    label_choices,
    none_of_these_key,
)
from annotation.selectors_authoring import guideline_changes
from core.errors import AcknowledgementNeeded, NotAllowed, QuorumError
from core.pages import form_errors_text, service_attempt

# Projects, their roles and their selectors belong to the projects app (annotation's models name
# it only as "projects.Project"); this interface module reads them, the models never do.
from projects import access

T = TypeVar("T")
TASK_PAGE = "annotation/task_detail.html"


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    """The projects the user labels or reviews now; annotators and reviewers land here."""
    _require_not_requester(request)
    context = {
        "annotate_projects": access.annotator_projects(user=request.user),
        "review_projects": access.reviewer_projects(user=request.user),
    }
    return render(request, "annotation/project_queue.html", context)


# --- The task page ----------------------------------------------------------------------------


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def task(request: HttpRequest, project_id: int) -> HttpResponse:
    """GET: the current item. POST: submit labels for it, then the next item."""
    project = _annotator_project(request, project_id)
    if request.method == "GET":
        return _task_response(request, project)
    form = AnnotationSubmitForm(request.POST)
    chosen: list[str] = request.POST.getlist("labels")
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
    elif service_attempt(
        request,
        services.annotation_submit,
        forbid_not_allowed=True,
        assignment=_posted_assignment(request, project),
        labels=form.cleaned_data["labels"],
        actor=request.user,
        time_spent_ms=form.cleaned_data["time_spent_ms"],
        comment=form.cleaned_data["comment"],
    ):
        messages.success(request, "Saved your labels.")
        chosen = []
    return _task_response(request, project, chosen=chosen) if request.htmx else redirect("annotation:task", project.pk)


@login_required
@require_POST
def task_skip(request: HttpRequest, project_id: int) -> HttpResponse:
    """Skip the current item with a reason; its slot goes back to the pool. Then the next item."""
    project = _annotator_project(request, project_id)
    form = SkipForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
    elif service_attempt(
        request,
        services.assignment_skip,
        forbid_not_allowed=True,
        assignment=_posted_assignment(request, project),
        actor=request.user,
        reason=form.reason_text(),
    ):
        messages.success(request, "Skipped. Here is the next item.")
    return _task_response(request, project) if request.htmx else redirect("annotation:task", project.pk)


@login_required
@require_POST
def task_flag(request: HttpRequest, project_id: int) -> HttpResponse:
    """Ask the lead a question about the current item. The lease stays: the annotator goes on with it."""
    project = _annotator_project(request, project_id)
    assignment = _posted_assignment(request, project)
    form = FlagRaiseForm(request.POST)
    flag = None
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
    else:
        question = form.cleaned_data["question"]
        flag = service_attempt(
            request,
            services.flag_raise,
            forbid_not_allowed=True,
            assignment=assignment,
            actor=request.user,
            question=question,
        )
    if request.htmx:  # only the flag panel is swapped: the chosen labels and revealed media stay
        context = {"project": project, "assignment": assignment, "flag_sent": flag is not None, "flag_only": True}
        return render(request, f"{TASK_PAGE}#flag", context)
    if flag is not None:
        messages.success(request, "Question sent to the lead. The item stays yours meanwhile.")
    return redirect("annotation:task", project.pk)


# --- My work ----------------------------------------------------------------------------------


@login_required
def my_work(request: HttpRequest) -> HttpResponse:
    """The annotator's own figures per project, and the answers to their questions."""
    _require_not_requester(request)
    rows = selectors.annotator_work_summary(annotator=request.user)
    totals = {key: sum(row[key] for row in rows) for key in ("today", "week", "gold_correct", "gold_total")}
    context = {"rows": rows, "totals": totals, "flags": selectors.annotator_flag_list(annotator=request.user)}
    return render(request, "annotation/work_summary.html", context)


# --- Helpers ----------------------------------------------------------------------------------


def _require_not_requester(request: HttpRequest) -> None:
    if not access.can_use_work_pages(request.user):
        raise PermissionDenied("These pages are for annotators and reviewers.")


def _annotator_project(request: HttpRequest, project_id: int):
    """The project, if the user may see it (404 otherwise, so other projects do not leak) and is
    one of its active annotators (403 otherwise)."""
    project = (
        access.visible_projects(request.user)
        .select_related("lead", "request", "label_schema")
        .filter(pk=project_id)
        .first()
    )
    if project is None:
        raise Http404("No such project.")
    if "annotator" not in access.project_roles(request.user, project):
        raise PermissionDenied("Only the project's annotators label its items.")
    return project


def _posted_assignment(request: HttpRequest, project) -> Assignment:
    """The assignment the form names: one of the user's own in this project, or 404."""
    try:
        pk = int(request.POST.get("assignment", ""))
    except ValueError:
        raise Http404("No such assignment.")
    assignment = selectors.task_assignment_get(user=request.user, project=project, pk=pk)
    if assignment is None:
        raise Http404("No such assignment.")
    return assignment


def _task_response(request: HttpRequest, project, *, chosen: list[str] = ()) -> HttpResponse:
    """The task partial for htmx requests (the task area is swapped), else the whole page."""
    acknowledge, context_extra = None, {}
    try:
        assignment, unavailable = services.assignment_next(project=project, annotator=request.user), False
    except NotAllowed as exc:
        raise PermissionDenied(exc.message)
    except AcknowledgementNeeded:  # a new guideline version: what changed, then the next item
        assignment, unavailable = None, False
        acknowledge = guideline_changes(project=project, annotator=request.user)
        if acknowledge is not None:
            context_extra = {"acknowledge_html": guideline_html(acknowledge.guideline.body)}
    except QuorumError as exc:  # e.g. the project is not in a working phase: say why, no work
        messages.error(request, exc.message)
        assignment, unavailable = None, True
    context: dict[str, Any] = {
        "project": project,
        "assignment": assignment,
        "unavailable": unavailable,
        "acknowledge": acknowledge,
        "chosen": set(chosen),
        # The note is for when graphic work has stopped, not while the last graphic item is shown.
        "cap_reached": not (assignment and assignment.item.is_graphic)
        and selectors.graphic_cap_reached(project=project, annotator=request.user),
        "skip_reasons": SKIP_REASONS,
        # The progress line: the annotator's own count today and what the project still needs.
        "mine": selectors.annotator_project_figures(project=project, annotator=request.user, now=timezone.now()),
        **context_extra,
    }
    if assignment is not None:
        context.update(_item_context(assignment))
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, f"{TASK_PAGE}#task", context)
    guideline = selectors.guideline_current(project=project)
    context.update(guideline=guideline, guideline_html=_guideline_html(guideline))
    return render(request, TASK_PAGE, context)


def _item_context(assignment: Assignment) -> dict[str, Any]:
    work = selectors.assignment_work_get(assignment=assignment)
    version = work.schema_version
    choices = label_choices(work.labels)
    multi = bool(version and version.schema.selection == LabelSchema.Selection.MULTI)
    none_option = bool(multi and version.schema.none_option)
    return {
        "item": work.item,
        "media": item_media_urls(work.item),
        "metadata": item_metadata_rows(work.item.metadata),
        "labels": choices,
        "multi": multi,
        "none_option": none_option,
        "none_key": none_of_these_key(choices) if none_option else "",
    }


def _guideline_html(guideline: Guideline | None) -> SafeString:
    """The guideline's markdown as HTML, sanitised by nh3 (an allow-list of tags and attributes;
    script, event handlers, style and javascript: links are dropped; images only from allowed
    hosts), so it is safe to mark safe."""
    if guideline is None:
        return mark_safe("")
    return guideline_html(guideline.body)
