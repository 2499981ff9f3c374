"""Page forms of authoring: a label schema's draft (one row per label) and a guideline draft.

They parse what the pages post; the rules (unique keys and shortcuts, parents that exist and make
no cycle, revisions) live in annotation.services.authoring, whose refusals name the label row and
field; `label_error_place` puts such a refusal on the row it names.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms

from annotation.models import LabelSchema

SEVERITY_CHOICES = [(0, "0 · benign"), (1, "1"), (2, "2"), (3, "3"), (4, "4 · most severe")]
EXTRA_ROWS = 3
MAX_ROWS = 200


class LabelRowForm(forms.Form):
    """One label. A row with neither key nor name is blank and left out."""

    key = forms.CharField(required=False, max_length=64)
    name = forms.CharField(required=False, max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    parent = forms.CharField(required=False, max_length=64, help_text="The key of the label above it.")
    severity = forms.TypedChoiceField(choices=SEVERITY_CHOICES, coerce=int, initial=0, required=False, empty_value=0)
    shortcut = forms.CharField(required=False, max_length=1, strip=False)
    examples = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="One per line.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return not (data.get("key") or "").strip() and not (data.get("name") or "").strip()

    def definition(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "key": (data.get("key") or "").strip(),
            "name": (data.get("name") or "").strip() or (data.get("key") or "").strip(),
            "description": data.get("description") or "",
            "parent": (data.get("parent") or "").strip() or None,
            "severity": data.get("severity") or 0,
            "shortcut": (data.get("shortcut") or "").strip(),
            "examples": [line.strip() for line in (data.get("examples") or "").splitlines() if line.strip()],
        }


LabelRowFormSet = forms.formset_factory(LabelRowForm, extra=0, max_num=MAX_ROWS, validate_max=True)


def label_rows_initial(labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A draft's label definitions as the rows' initial data (examples one per line)."""
    return [
        {
            "key": label.get("key", ""),
            "name": label.get("name", ""),
            "description": label.get("description", ""),
            "parent": label.get("parent") or "",
            "severity": label.get("severity") or 0,
            "shortcut": label.get("shortcut") or "",
            "examples": "\n".join(label.get("examples") or []),
        }
        for label in labels
    ]


class SchemaSettingsForm(forms.Form):
    """The schema-wide choices of a draft, and the revision it was read at."""

    name = forms.CharField(required=False, max_length=200, help_text="Schemas are shared: name it for its policy.")
    selection = forms.ChoiceField(
        choices=LabelSchema.Selection.choices, initial=LabelSchema.Selection.SINGLE, widget=forms.RadioSelect
    )
    none_option = forms.BooleanField(
        required=False, label="Offer “None of these” (multi-choice): an empty answer is then a real answer"
    )
    note = forms.CharField(required=False, max_length=500, label="Changelog line for this version")
    revision = forms.IntegerField(min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        kwargs.setdefault("auto_id", "schema-%s")
        super().__init__(*args, **kwargs)


_ROW_FIELD = re.compile(r"^labels\[(\d+)\](?:\.(\w+))?$")


def label_error_place(field: str | None, row_numbers: list[int]) -> tuple[int | None, str | None]:
    """Where a service error lands: (formset row index, field) for "labels[i].field", whose i
    counts the non-blank rows only (`row_numbers` maps it back); (None, None) elsewhere."""
    match = _ROW_FIELD.match(field or "")
    if not match:
        return None, None
    index = int(match.group(1))
    if index >= len(row_numbers):
        return None, None
    name = match.group(2)
    return row_numbers[index], name if name in LabelRowForm.base_fields else None


class GuidelineDraftForm(forms.Form):
    body = forms.CharField(
        required=False,
        strip=False,
        label="Guideline (Markdown)",
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "true"}),
    )
    note = forms.CharField(required=False, max_length=500, label="Changelog line: what this version changes")
    revision = forms.IntegerField(min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        kwargs.setdefault("auto_id", "guideline-%s")
        super().__init__(*args, **kwargs)
