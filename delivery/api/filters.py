"""FilterSets of the delivery API."""

from __future__ import annotations

from django_filters import rest_framework as filters

from core.filters import IntegerFilter
from delivery.models import Delivery, Evaluation

# Ids beyond the database's bigint are refused as invalid input, not sent to the database.
ID_BOUNDS = {"min_value": 1, "max_value": 2**63 - 1}


class DeliveryFilterSet(filters.FilterSet):
    project = IntegerFilter(field_name="project_id", lookup_expr="exact")
    request = IntegerFilter(field_name="request_id", lookup_expr="exact")
    status = filters.MultipleChoiceFilter(field_name="status", choices=Delivery.Status.choices)

    class Meta:
        model = Delivery
        fields = ["project", "request", "status"]


class EvaluationFilterSet(filters.FilterSet):
    delivery = IntegerFilter(field_name="delivery_id", lookup_expr="exact")
    status = filters.MultipleChoiceFilter(field_name="status", choices=Evaluation.Status.choices)

    class Meta:
        model = Evaluation
        fields = ["delivery", "status"]
