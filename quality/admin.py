"""Admin: read-mostly views of the quality records. Reports, jobs, samples, reviews, consensus
labels and adjudications are written by the services only, so the admin does not edit them."""

from __future__ import annotations

from django.contrib import admin

from quality.models import Adjudication, AgreementReport, AuditSample, Consensus, QualityJob, Review


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AgreementReport)
class AgreementReportAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "project",
        "scope",
        "scope_key",
        "computed_at",
        "alpha",
        "alpha_low",
        "alpha_high",
        "n_annotations",
    ]
    list_filter = ["scope"]
    list_select_related = ["project"]
    search_fields = ["project__name", "scope_key"]
    date_hierarchy = "computed_at"


@admin.register(QualityJob)
class QualityJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "kind", "status", "progress", "message", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["project"]


@admin.register(AuditSample)
class AuditSampleAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "annotation", "stratum", "status", "reviewer", "created_at"]
    list_filter = ["stratum", "status"]
    list_select_related = ["project", "annotation", "reviewer"]
    raw_id_fields = ["annotation"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "annotation", "reviewer", "verdict", "error_cause", "created_at"]
    list_filter = ["verdict", "error_cause"]
    list_select_related = ["annotation", "reviewer"]


@admin.register(Consensus)
class ConsensusAdmin(ReadOnlyAdmin):
    list_display = ["item", "project", "method", "labels", "confidence", "tie", "needs_adjudication", "computed_at"]
    list_filter = ["method", "needs_adjudication", "tie"]
    list_select_related = ["item", "project"]


@admin.register(Adjudication)
class AdjudicationAdmin(ReadOnlyAdmin):
    list_display = ["item", "project", "reviewer", "labels", "created_at"]
    list_select_related = ["item", "project", "reviewer"]
