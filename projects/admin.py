from django.contrib import admin

from projects.models import Activity, Blocker, DataRequest, Membership, Milestone, PhaseTransition, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


class MilestoneInline(admin.TabularInline):
    model = Milestone
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "phase", "lead", "deadline", "priority", "items_total", "annotations_done")
    list_filter = ("phase", "modality", "purpose", "priority")
    search_fields = ("name", "description")
    list_select_related = ("lead",)
    # Phases move only through projects.services.project_transition, which records who and why.
    readonly_fields = (
        "phase",
        "phase_before_hold",
        "phase_changed_at",
        "items_total",
        "annotations_required",
        "annotations_done",
        "items_completed",
        "progress_refreshed_at",
    )
    inlines = [MembershipInline, MilestoneInline]


@admin.register(DataRequest)
class DataRequestAdmin(admin.ModelAdmin):
    list_display = ("title", "requester", "team", "status", "purpose", "modality", "deadline", "priority")
    list_filter = ("status", "purpose", "modality", "priority")
    search_fields = ("title", "description")
    list_select_related = ("requester", "team")
    readonly_fields = ("status", "decided_by", "decided_at", "rejection_reason")


@admin.register(Blocker)
class BlockerAdmin(admin.ModelAdmin):
    list_display = ("title", "project", "kind", "severity", "status", "owner", "opened_at", "resolved_at")
    list_filter = ("kind", "status", "severity")
    search_fields = ("title", "description")
    list_select_related = ("project", "owner")


@admin.register(PhaseTransition)
class PhaseTransitionAdmin(admin.ModelAdmin):
    list_display = ("project", "from_phase", "to_phase", "actor", "created_at")
    list_select_related = ("project", "actor")

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("created_at", "project", "actor", "verb", "summary")
    list_filter = ("verb",)
    list_select_related = ("project", "actor")

    def has_change_permission(self, request, obj=None) -> bool:
        return False
