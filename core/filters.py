"""Filters shared by every app's FilterSets."""

from __future__ import annotations

from django import forms
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

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
