"""The project settings page (its leads): one form for exactly what the API's PATCH takes (the
name and workbench.services.lifecycle.PROJECT_SETTINGS), each field with a line on what it does,
saved through project_update with the settings version the form was opened at. When another
lead saved first, nothing is written and the page shows what they changed; saving again then is
a choice made knowing it (the form now carries the current version)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from core.errors import Conflict
from projects.models import Project
from workbench.services.lifecycle import PROJECT_SETTINGS, project_update
from workbench.team import _led_project_or_404, _ListField, form_service_call

FIELDS = ["name", *PROJECT_SETTINGS]

HELP = {
    "name": "The project's name, as its leads, annotators and requesters see it.",
    "description": "What the project is for, shown on its page.",
    "purpose": "Whether the labels will train a model or evaluate one.",
    "modality": "The kind of content; annotators qualified for other modalities only are refused work.",
    "languages": "Language codes of the content, comma-separated (en, pt-BR); language matching uses them.",
    "priority": "How urgent the project is beside the others in the portfolio.",
    "deadline": "When the requester needs the delivery; the forecast and the lateness risk measure against it.",
    "label_schema": "The label schema annotators label with (its current version is in force).",
    "min_alpha": "Quality bar: a delivery passes the gate only with Krippendorff's alpha at least this (0 to 1).",
    "min_gold_accuracy": "Quality bar: annotators' gold accuracy at least this (0 to 1); under it they are flagged.",
    "min_audit_accuracy": "Quality bar: the share of audited annotations judged correct, at least this (0 to 1).",
    "gold_min_items": "Gold items an annotator answers before their gold accuracy is held against the bar.",
    "pause_below_gold_bar": "Stop giving work to annotators under the gold bar until a lead reinstates them.",
    "default_overlap": "How many different annotators label each item (1 to 25).",
    "max_overlap": "Dynamic overlap may add annotators to an item up to this many (at least the overlap).",
    "gold_rate": "Share of each annotator's items that are gold checks with a known answer (0 to 1, e.g. 0.05).",
    "lease_minutes": "Minutes an annotator holds an item before its slot goes back to the pool.",
    "dynamic_overlap_threshold": "When the top answer's share among an item's annotations is under this, "
    "one more annotator is added (0 turns it off).",
    "require_language_match": "Only give annotators items in the languages on their profile.",
    "blur_media": "Blur images and video until the annotator chooses to reveal them.",
    "graphic_daily_cap": "Items tagged graphic per annotator per day; after it only other work (0: no cap).",
    "break_reminder_minutes": "Remind annotators to take a break after this many minutes of work (0: off).",
}

GROUPS = [
    ("About the project", ["name", "description", "purpose", "modality", "languages", "priority", "deadline"]),
    ("Labels", ["label_schema"]),
    ("Overlap and assignment", ["default_overlap", "max_overlap", "dynamic_overlap_threshold", "lease_minutes",
                                "require_language_match"]),
    ("Gold and quality bars", ["gold_rate", "gold_min_items", "min_alpha", "min_gold_accuracy", "min_audit_accuracy",
                               "pause_below_gold_bar"]),
    ("Wellness", ["blur_media", "graphic_daily_cap", "break_reminder_minutes"]),
]  # fmt: skip


class ProjectSettingsForm(forms.Form):
    """The settings, with the model's own fields (types, choices, bounds) and the version read."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        initial = {field: getattr(project, field) for field in FIELDS}
        initial["languages"] = ", ".join(project.languages or [])
        initial["label_schema"] = project.label_schema_id
        initial["version"] = project.settings_version
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        self.fields.update(
            forms.fields_for_model(
                Project,
                fields=FIELDS,
                help_texts=HELP,
                widgets={
                    "deadline": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                    "description": forms.Textarea(attrs={"rows": 3}),
                },
            )
        )
        self.fields["languages"] = _ListField(required=False, help_text=HELP["languages"])
        for name in ("min_alpha", "min_gold_accuracy", "min_audit_accuracy", "gold_rate", "dynamic_overlap_threshold"):
            self.fields[name].widget.attrs.update({"step": "any", "min": "0", "max": "1"})

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(title, [self[name] for name in names]) for title, names in GROUPS]


@login_required
def settings_page(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the form at the current settings. POST: save (a stale version shows what changed)."""
    project = _led_project_or_404(request, pk)
    if request.method != "POST":
        return _render(request, project, ProjectSettingsForm(project=project))
    form = ProjectSettingsForm(request.POST, project=project)
    if not form.is_valid():
        return _render(request, project, form, status=400)
    fields = dict(form.cleaned_data)
    version = fields.pop("version")
    try:
        saved = form_service_call(
            form, project_update, project=project, actor=request.user, expected_version=version, **fields
        )
    except Conflict as conflict:
        data = request.POST.copy()
        data["version"] = str(conflict.version)
        return _render(request, project, ProjectSettingsForm(data, project=project), status=409, conflict=conflict)
    if saved is None:
        return _render(request, project, form, status=400)
    if saved.settings_version == version:
        messages.info(request, "Nothing changed.")
    else:
        messages.success(request, f"Settings saved (version {saved.settings_version}).")
    return redirect("projects:settings", pk=project.pk)


def _render(
    request: HttpRequest,
    project: Project,
    form: ProjectSettingsForm,
    status: int = 200,
    conflict: Conflict | None = None,
) -> HttpResponse:
    changes = []
    if conflict is not None:
        for field, entry in conflict.changes.items():
            label = form.fields[field].label if field in form.fields else field
            changes.append({"field": field, "label": label, **entry, "sent": "yours" in entry})
    context = {"project": project, "form": form, "conflict": conflict, "changes": changes}
    return render(request, "projects/project_settings.html", context, status=status)
