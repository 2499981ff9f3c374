"""Filters shared by every app's FilterSets."""

from __future__ import annotations

from django import forms
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

# The range of the database's 64-bit integers (ids are BigAutoField).
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(filters.NumberFilter):
    """A whole number in the query string (an id, a priority, a severity), or a 400 naming it.

    django-filter's NumberFilter takes any decimal: `?project=1e308` or `?project=2**64` reached
    the database driver, which cannot bind it (OverflowError on SQLite, "bigint out of range" on
    PostgreSQL): a 500. This one parses an integer within the database's range."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", BIGINT_MIN)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)


class _StrictBooleanField(forms.NullBooleanField):
    """true/false (also 1/0, yes/no, on/off, any case), or nothing; anything else is an error
    rather than NullBooleanField's quiet None, which dropped the filter."""

    widget = forms.TextInput
    TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}

    def to_python(self, value):
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError(f"{str(value)[:40]!r} is not a boolean: use true or false", code="invalid")

    def validate(self, value):
        pass


@extend_schema_field(OpenApiTypes.BOOL)
class BooleanFilter(filters.BooleanFilter):
    """A boolean in the query string, or a 400 naming it (django-filter's took `?latest=maybe` as absent)."""

    field_class = _StrictBooleanField

    def __init__(self, *args, **kwargs):
        # django-filter's BooleanWidget turns anything but true/false into None before the field
        # sees it; a plain text input hands the field the value as given.
        kwargs["widget"] = forms.TextInput
        super().__init__(*args, **kwargs)


class StrictFilterBackend(filters.DjangoFilterBackend):
    """DjangoFilterBackend that refuses, with a 400 naming the parameter, a filter given with no
    value (`?submitted_before=`): the form would take it as absent and answer unfiltered rows.
    The pages, whose forms send empty fields, use the FilterSets directly and keep that leniency."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            for name in filterset_class.base_filters:
                if name in request.query_params and any(
                    value.strip() == "" for value in request.query_params.getlist(name)
                ):
                    raise ValidationError({name: ["a value is required here (or leave the parameter out)"]})
        return kwargs
