"""FilterSets of the quality API (agreement reports, audit samples)."""

from __future__ import annotations

from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django_filters import rest_framework as filters

from core.filters import BooleanFilter, IntegerFilter
from quality.models import AgreementReport, AuditSample


class AgreementReportFilterSet(filters.FilterSet):
    project = IntegerFilter(field_name="project_id", lookup_expr="exact")
    scope = filters.ChoiceFilter(field_name="scope", choices=AgreementReport.Scope.choices)
    scope_key = filters.CharFilter(field_name="scope_key", lookup_expr="exact")
    latest = BooleanFilter(
        field_name="computed_at",
        method="filter_latest",
        help_text="true: only the newest report of each scope, key and window (what "
        "agreement_report_latest_list gives); false or absent: the whole history.",
    )

    class Meta:
        model = AgreementReport
        fields = ["project", "scope", "scope_key", "latest"]

    def filter_latest(self, queryset, name, value):
        if not value:
            return queryset
        # The same ranking as quality.selectors.reports.agreement_report_latest_list, over any project set.
        ranked = queryset.annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("project_id"), F("scope"), F("scope_key"), F("window_start"), F("window_end")],
                order_by=[F("computed_at").desc(), F("id").desc()],
            )
        )
        return ranked.filter(rank=1)


class AuditSampleFilterSet(filters.FilterSet):
    project = IntegerFilter(field_name="project_id", lookup_expr="exact")
    stratum = filters.ChoiceFilter(field_name="stratum", choices=AuditSample.Stratum.choices)
    status = filters.ChoiceFilter(field_name="status", choices=AuditSample.Status.choices)

    class Meta:
        model = AuditSample
        fields = ["project", "stratum", "status"]
