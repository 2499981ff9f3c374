"""FilterSets of the annotation API (assignments, annotations, flags, imports)."""

from __future__ import annotations

import datetime as dt

from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django_filters import rest_framework as filters

from annotation.models import Annotation, Assignment, Flag, ImportJob, label_key_validator
from core.filters import IntegerFilter


class AssignmentFilterSet(filters.FilterSet):
    project = IntegerFilter(field_name="project_id", lookup_expr="exact")
    status = filters.MultipleChoiceFilter(field_name="status", choices=Assignment.Status.choices)

    class Meta:
        model = Assignment
        fields = ["project", "status"]


def _start_of_day(day: dt.date) -> dt.datetime:
    """Midnight of `day` in the current time zone, as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class AnnotationFilterSet(filters.FilterSet):
    project = IntegerFilter(field_name="project_id", lookup_expr="exact")
    annotator = IntegerFilter(field_name="annotator_id", lookup_expr="exact")
    batch = IntegerFilter(field_name="item__batch_id", lookup_expr="exact")
    label = filters.CharFilter(
        field_name="labels",
        method="filter_label",
        validators=[label_key_validator],
        help_text="A label key: the annotations whose labels include it.",
    )
    # Dates, compared with submitted_at as day bounds (not submitted_at::date), so the
    # (project, submitted_at) and (annotator, submitted_at) indexes serve them.
    submitted_after = filters.DateFilter(
        field_name="submitted_at", method="filter_submitted_after", help_text="Submitted on or after this day."
    )
    submitted_before = filters.DateFilter(
        field_name="submitted_at", method="filter_submitted_before", help_text="Submitted on or before this day."
    )

    class Meta:
        model = Annotation
        fields = ["project", "annotator", "batch", "label", "submitted_after", "submitted_before"]

    def filter_label(self, queryset, name, value):
        # `labels` is a JSON list of keys. A JSON containment lookup (labels__contains=[key]) exists
        # on PostgreSQL only, so, to work on SQLite too, this searches the JSON text for the key
        # in double quotes: a key is [a-z0-9_-] only (the validator above), so `"key"` can only be
        # one whole element of the list. Matching is in the database; no rows are read to Python.
        return queryset.alias(labels_text=Cast(name, TextField())).filter(labels_text__contains=f'"{value}"')

    def filter_submitted_after(self, queryset, name, value):
        return queryset.filter(**{f"{name}__gte": _start_of_day(value)})

    def filter_submitted_before(self, queryset, name, value):
        return queryset.filter(**{f"{name}__lt": _start_of_day(value + dt.timedelta(days=1))})


class FlagFilterSet(filters.FilterSet):
    project = IntegerFilter(field_name="project_id", lookup_expr="exact")
    status = filters.ChoiceFilter(field_name="status", choices=Flag.Status.choices)

    class Meta:
        model = Flag
        fields = ["project", "status"]


class ImportJobFilterSet(filters.FilterSet):
    project = IntegerFilter(field_name="project_id", lookup_expr="exact")
    status = filters.ChoiceFilter(field_name="status", choices=ImportJob.Status.choices)

    class Meta:
        model = ImportJob
        fields = ["project", "status"]
