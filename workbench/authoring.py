"""The lead's authoring pages: a project's label schema (create it, edit the draft of its next
version row by row, preview it as annotators see it, "use this version") and its guideline
(Markdown with a live preview, published as numbered versions; who has not acknowledged).

Each handler checks the role through projects.access, calls one service of
annotation.services.authoring and renders or redirects. A refusal keeps what the lead typed: an
invalid label is marked on its row and field, a stale save (someone else saved meanwhile) says
what changed and offers to save again over it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotation.presenters import draft_labels, guideline_html, label_choices, none_of_these_key
from annotation.selectors_authoring import (
    guideline_acknowledgement_rows,
    guideline_draft_state,
    guideline_versions,
    schema_draft_state,
)
from annotation.services import authoring
from annotation.validation import label_definitions_clean
from core.errors import NotAllowed, QuorumError, StaleEdit
from projects import access
from projects.models import Project
from workbench.forms_authoring import (
    EXTRA_ROWS,
    GuidelineDraftForm,
    LabelRowFormSet,
    SchemaSettingsForm,
    label_error_place,
    label_rows_initial,
)
from workbench.views import _project_or_404

SCHEMA_PAGE = "projects/schema_edit.html"
GUIDELINE_PAGE = "projects/guideline_edit.html"


def _led_project(request: HttpRequest, pk: int) -> Project:
    """The project if the user may see it (404 otherwise) and leads it (403 otherwise)."""
    project = _project_or_404(request, pk)
    if not access.can_manage_project(request.user, project):
        raise PermissionDenied("Only a lead of this project edits its label schema and guideline.")
    return project


# --- Label schema -------------------------------------------------------------------------------


def _schema_context(project: Project, settings_form: SchemaSettingsForm, formset, preview_rows) -> dict[str, Any]:
    schema = project.label_schema
    state = schema_draft_state(schema=schema) if schema else None
    return {
        "project": project,
        "schema": schema,
        "state": state,
        "settings_form": settings_form,
        "formset": formset,
        "preview": _preview(preview_rows, settings_form),
        "sharing": list(Project.objects.filter(label_schema=schema).exclude(pk=project.pk)) if schema else [],
    }


def _preview(rows: list[dict[str, Any]], settings_form: SchemaSettingsForm) -> dict[str, Any]:
    """The labels as the task page shows them (annotation/_label_fieldset.html's context)."""
    data = settings_form.cleaned_data if settings_form.is_bound and settings_form.is_valid() else settings_form.initial
    multi = data.get("selection") == "multi"
    none_option = bool(multi and data.get("none_option"))
    choices = label_choices(draft_labels(rows))
    return {
        "labels": choices,
        "multi": multi,
        "none_option": none_option,
        "none_key": none_of_these_key(choices) if none_option else "",
        "chosen": set(),
    }


def _formset_rows(formset) -> tuple[list[dict[str, Any]], list[int]]:
    """The non-blank rows' definitions and their formset indexes (blank rows are left out)."""
    rows, numbers = [], []
    for index, form in enumerate(formset.forms):
        if form.is_valid() and not form.is_blank():
            rows.append(form.definition())
            numbers.append(index)
    return rows, numbers


def _blank_rows_formset(initial: list[dict[str, Any]]):
    formset = LabelRowFormSet(prefix="labels", initial=initial + [{} for _ in range(EXTRA_ROWS)])
    formset.extra = 0
    return formset


@login_required
@require_http_methods(["GET", "POST"])
def schema_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the draft of the next version (or a new schema's form). POST `action`: save the draft,
    create the schema, or add blank rows; a refusal re-renders with the input kept."""
    project = _led_project(request, pk)
    schema = project.label_schema
    if request.method == "GET":
        state = schema_draft_state(schema=schema) if schema else None
        initial = {"selection": "single", "revision": 0}
        if state:
            initial = {
                "selection": state.selection,
                "none_option": state.none_option,
                "note": state.note,
                "revision": state.revision,
            }
        settings_form = SchemaSettingsForm(initial=initial)
        rows = state.labels if state else []
        context = _schema_context(project, settings_form, _blank_rows_formset(label_rows_initial(rows)), rows)
        return render(request, SCHEMA_PAGE, context)
    settings_form = SchemaSettingsForm(request.POST)
    formset = LabelRowFormSet(request.POST, prefix="labels")
    formset.is_valid()
    rows, numbers = _formset_rows(formset)
    if request.POST.get("action") == "rows":
        initial = [form.cleaned_data if form.is_valid() else {} for form in formset.forms]
        return render(request, SCHEMA_PAGE, _schema_context(project, settings_form, _blank_rows_formset(initial), rows))
    status = _schema_save(request, project, settings_form, formset, rows, numbers)
    if status == 200:
        return redirect("projects:schema_edit", project.pk)
    context = _schema_context(project, settings_form, formset, rows)
    return render(request, SCHEMA_PAGE, context, status=status)


def _schema_save(request: HttpRequest, project: Project, settings_form, formset, rows, numbers) -> int:
    """Save (or create) the draft from the posted rows: 200, or the status of the refusal shown."""
    if not settings_form.is_valid() or not formset.is_valid():
        messages.error(request, "Some fields are not valid; each is marked below.")
        return 400
    data = settings_form.cleaned_data
    schema = project.label_schema
    try:
        if schema is None:
            authoring.project_schema_draft_create(
                project=project,
                name=data["name"],
                labels=rows,
                actor=request.user,
                selection=data["selection"],
                none_option=data["none_option"],
                note=data["note"],
            )
            messages.success(request, f"Schema “{data['name']}” created as a draft of v1. Preview it, then use it.")
        else:
            draft = authoring.schema_draft_save(
                schema=schema,
                labels=rows,
                actor=request.user,
                revision=data["revision"],
                selection=data["selection"],
                none_option=data["none_option"],
                note=data["note"],
            )
            messages.success(
                request, f"Draft saved (revision {draft.revision}). Annotators still see the version in force."
            )
        return 200
    except StaleEdit as exc:
        _keep_input_over(settings_form, revision=exc.current["revision"])
        messages.error(request, f"{exc.message} Save again to replace their draft with yours, or reload to see theirs.")
        return 409
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except QuorumError as exc:
        row, field = label_error_place(exc.field, numbers)
        if row is not None:
            formset.forms[row].add_error(field, exc.message.split(": ", 1)[-1])
            messages.error(request, f"Label row {row + 1}, {field or 'row'}: {exc.message.split(': ', 1)[-1]}")
        elif exc.field in settings_form.fields:
            settings_form.add_error(exc.field, exc.message.split(": ", 1)[-1])
            messages.error(request, exc.message)
        else:
            messages.error(request, exc.message)
        return 400


def _keep_input_over(form, *, revision: int) -> None:
    """The posted input stays in the form, now at the stored revision (a second save overwrites)."""
    data: QueryDict = form.data.copy()
    data["revision"] = str(revision)
    form.data = data
    form.cleaned_data["revision"] = revision


@login_required
@require_POST
def schema_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx: the posted rows rendered as the task page would show them, or what is wrong."""
    project = _led_project(request, pk)
    settings_form = SchemaSettingsForm(request.POST)
    settings_form.is_valid()
    formset = LabelRowFormSet(request.POST, prefix="labels")
    formset.is_valid()
    rows, numbers = _formset_rows(formset)
    error = None
    try:
        label_definitions_clean(rows)
    except QuorumError as exc:
        row, field = label_error_place(exc.field, numbers)
        detail = exc.message.split(": ", 1)[-1]
        error = f"Label row {row + 1}, {field or 'row'}: {detail}" if row is not None else exc.message
    context = {"project": project, "preview": _preview(rows, settings_form), "preview_error": error}
    return render(request, f"{SCHEMA_PAGE}#preview", context)


@login_required
@require_POST
def schema_publish(request: HttpRequest, pk: int) -> HttpResponse:
    """Use this version: the saved draft becomes the next version, in force from now on."""
    project = _led_project(request, pk)
    if project.label_schema is None:
        messages.error(request, "label_schema: create the schema first.")
        return redirect("projects:schema_edit", project.pk)
    try:
        revision = int(request.POST.get("revision", ""))
    except ValueError:
        revision = -1
    try:
        version = authoring.schema_draft_publish(schema=project.label_schema, actor=request.user, revision=revision)
    except NotAllowed as exc:
        messages.error(request, exc.message)
    except QuorumError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{project.label_schema.name} v{version.number} is now in force in {project.name}.")
    return redirect("projects:schema_edit", project.pk)


# --- Guideline ------------------------------------------------------------------------------------


def _guideline_context(project: Project, form: GuidelineDraftForm, body: str) -> dict[str, Any]:
    state = guideline_draft_state(project=project)
    return {
        "project": project,
        "state": state,
        "form": form,
        "preview_html": guideline_html(body),
        "versions": guideline_versions(project=project),
        "acknowledgements": guideline_acknowledgement_rows(guideline=state.current) if state.current else [],
    }


@login_required
@require_http_methods(["GET", "POST"])
def guideline_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the draft of the next version (or the version in force to start from), the versions
    and who has acknowledged the one in force. POST: save the draft (kept on refusal)."""
    project = _led_project(request, pk)
    if request.method == "GET":
        state = guideline_draft_state(project=project)
        form = GuidelineDraftForm(initial={"body": state.body, "note": state.note, "revision": state.revision})
        return render(request, GUIDELINE_PAGE, _guideline_context(project, form, state.body))
    form = GuidelineDraftForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Some fields are not valid; each is marked below.")
        return render(
            request, GUIDELINE_PAGE, _guideline_context(project, form, request.POST.get("body", "")), status=400
        )
    data = form.cleaned_data
    try:
        draft = authoring.guideline_draft_save(
            project=project, body=data["body"], note=data["note"], revision=data["revision"], actor=request.user
        )
    except StaleEdit as exc:
        _keep_input_over(form, revision=exc.current["revision"])
        messages.error(request, f"{exc.message} Save again to replace their draft with yours, or reload to see theirs.")
        return render(request, GUIDELINE_PAGE, _guideline_context(project, form, data["body"]), status=409)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except QuorumError as exc:
        if exc.field in form.fields:
            form.add_error(exc.field, exc.message.split(": ", 1)[-1])
        messages.error(request, exc.message)
        return render(request, GUIDELINE_PAGE, _guideline_context(project, form, data["body"]), status=400)
    messages.success(request, f"Draft saved (revision {draft.revision}). Annotators still see the version in force.")
    return redirect("projects:guideline_edit", project.pk)


@login_required
@require_POST
def guideline_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx: the posted Markdown rendered and sanitised exactly as the task page renders it."""
    project = _led_project(request, pk)
    context = {"project": project, "preview_html": guideline_html(request.POST.get("body", ""))}
    return render(request, f"{GUIDELINE_PAGE}#preview", context)


@login_required
@require_POST
def guideline_publish(request: HttpRequest, pk: int) -> HttpResponse:
    """Publish the saved draft as the next numbered version (in force at once)."""
    project = _led_project(request, pk)
    try:
        revision = int(request.POST.get("revision", ""))
    except ValueError:
        revision = -1
    try:
        guideline = authoring.guideline_draft_publish(project=project, actor=request.user, revision=revision)
    except QuorumError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Guideline v{guideline.version} published: {guideline.note}")
    return redirect("projects:guideline_edit", project.pk)
