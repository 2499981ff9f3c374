"""Page forms of the annotation app. They parse what the task page and the import form post; the
rules live in services.py, which validates again and explains refusals (forms hold no business
logic). The assignment a form acts on is looked up by the view, scoped to the annotator."""

from __future__ import annotations

from django import forms

from annotation.models import ImportJob

# The most common reasons to skip, one key each on the task page; free text covers the rest.
SKIP_REASONS = [
    ("not-my-language", "Not in a language I work in"),
    ("cannot-load", "The content does not load or is unreadable"),
    ("too-distressing", "Too distressing for me right now"),
    ("guideline-unclear", "The guideline does not cover it"),
]
# Positive integer column; a page left open for weeks must not overflow it and lose the labels.
TIME_SPENT_MS_MAX = 2_147_483_647


class LabelKeysField(forms.Field):
    """Every posted `labels` value, as a list. Whether they are labels of the schema in force is
    the service's question (its refusal names the unknown key)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: object) -> list[str]:
        return [str(key) for key in value or []]


class AnnotationSubmitForm(forms.Form):
    """The chosen label keys and the handling time our script measured (0 without JavaScript)."""

    labels = LabelKeysField(required=False)
    # "None of these" (multi-choice schemas that offer it): an explicit empty answer, so that a
    # form sent with nothing ticked is refused rather than recorded as "none".
    none_of_these = forms.BooleanField(required=False)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)
    comment = forms.CharField(required=False, max_length=2000)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("none_of_these") and data.get("labels"):
            self.add_error("labels", "choose labels or “None of these”, not both")
        elif not data.get("none_of_these") and not data.get("labels"):
            self.add_error("labels", "choose at least one label")
        return data

    def clean_time_spent_ms(self) -> int:
        return min(self.cleaned_data["time_spent_ms"] or 0, TIME_SPENT_MS_MAX)


class SkipForm(forms.Form):
    """A quick reason or a reason in the annotator's words (the words win when both are given)."""

    reason = forms.ChoiceField(choices=SKIP_REASONS, required=False)
    other = forms.CharField(required=False, max_length=500)

    def reason_text(self) -> str:
        other = self.cleaned_data.get("other", "").strip()
        return other or dict(SKIP_REASONS).get(self.cleaned_data.get("reason", ""), "")


class FlagRaiseForm(forms.Form):
    question = forms.CharField(required=False, max_length=4000)


class ImportJobForm(forms.Form):
    """The lead's item upload: the file, the batch it fills and what to do with bad rows."""

    file = forms.FileField(label="File (CSV, JSON Lines or Parquet)")
    batch_name = forms.CharField(label="Batch name", max_length=200)
    mode = forms.ChoiceField(
        label="Bad rows",
        choices=ImportJob.Mode.choices,
        initial=ImportJob.Mode.ALL_OR_NOTHING,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        kwargs.setdefault("auto_id", "import-%s")
        super().__init__(*args, **kwargs)
