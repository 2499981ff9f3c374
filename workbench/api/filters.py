"""FilterSets for projects, requests and blockers. The API and the dashboard tables share them."""

from __future__ import annotations

from django_filters import rest_framework as filters

from core.filters import BooleanFilter, IntegerFilter
from projects.models import Blocker, DataRequest, Project


class ProjectFilterSet(filters.FilterSet):
    phase = filters.MultipleChoiceFilter(field_name="phase", choices=Project.Phase.choices)
    lead = IntegerFilter(field_name="lead_id", lookup_expr="exact")
    lead_username = filters.CharFilter(field_name="lead__username", lookup_expr="iexact")
    deadline_before = filters.DateFilter(field_name="deadline", lookup_expr="lte")
    deadline_after = filters.DateFilter(field_name="deadline", lookup_expr="gte")
    priority = IntegerFilter(field_name="priority", lookup_expr="exact")
    modality = filters.ChoiceFilter(field_name="modality", choices=Project.modality.field.choices)
    search = filters.CharFilter(field_name="name", lookup_expr="icontains")
    has_open_blockers = BooleanFilter(method="filter_has_open_blockers")

    class Meta:
        model = Project
        fields = [
            "phase",
            "lead",
            "lead_username",
            "deadline_before",
            "deadline_after",
            "priority",
            "modality",
            "search",
        ]

    def filter_has_open_blockers(self, queryset, name, value):
        # `open_blockers` is annotated by workbench.selectors.project_list.
        return queryset.filter(open_blockers__gt=0) if value else queryset.filter(open_blockers=0)


class DataRequestFilterSet(filters.FilterSet):
    status = filters.MultipleChoiceFilter(field_name="status", choices=DataRequest.Status.choices)
    purpose = filters.ChoiceFilter(field_name="purpose", choices=DataRequest.purpose.field.choices)
    modality = filters.ChoiceFilter(field_name="modality", choices=DataRequest.modality.field.choices)
    deadline_before = filters.DateFilter(field_name="deadline", lookup_expr="lte")
    deadline_after = filters.DateFilter(field_name="deadline", lookup_expr="gte")
    team = IntegerFilter(field_name="team_id", lookup_expr="exact")

    class Meta:
        model = DataRequest
        fields = ["status", "purpose", "modality", "deadline_before", "deadline_after", "team"]


class BlockerFilterSet(filters.FilterSet):
    project = IntegerFilter(field_name="project_id", lookup_expr="exact")
    kind = filters.ChoiceFilter(field_name="kind", choices=Blocker.Kind.choices)
    status = filters.ChoiceFilter(field_name="status", choices=Blocker.Status.choices)
    severity_min = IntegerFilter(field_name="severity", lookup_expr="gte")
    owner = IntegerFilter(field_name="owner_id", lookup_expr="exact")

    class Meta:
        model = Blocker
        fields = ["project", "kind", "status", "severity_min", "owner"]
