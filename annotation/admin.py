from django.contrib import admin

from annotation.models import Annotation, Assignment, Batch, Guideline, Item, Label, LabelSchema, LabelSchemaVersion


class LabelInline(admin.TabularInline):
    """Read-only: a schema version is immutable (annotations point at it); changes are new versions."""

    model = Label
    extra = 0
    fk_name = "version"
    can_delete = False
    readonly_fields = ("key", "name", "description", "parent", "severity", "shortcut", "order")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LabelSchema)
class LabelSchemaAdmin(admin.ModelAdmin):
    list_display = ("name", "selection", "created_by", "created_at")
    search_fields = ("name",)


@admin.register(LabelSchemaVersion)
class LabelSchemaVersionAdmin(admin.ModelAdmin):
    list_display = ("schema", "number", "created_by", "created_at")
    readonly_fields = ("schema", "number", "note", "created_by", "created_at")
    inlines = [LabelInline]

    def has_add_permission(self, request) -> bool:
        return False  # versions are made by annotation.services.schema_version_create


@admin.register(Guideline)
class GuidelineAdmin(admin.ModelAdmin):
    list_display = ("project", "version", "created_by", "created_at")


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "source", "created_at")
    list_select_related = ("project",)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = (
        "external_id",
        "project",
        "modality",
        "priority",
        "required_annotations",
        "annotations_done",
        "is_graphic",
    )
    list_filter = ("modality", "is_graphic")
    search_fields = ("external_id",)
    list_select_related = ("project",)
    raw_id_fields = ("batch",)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("item", "annotator", "status", "leased_at", "expires_at")
    list_filter = ("status",)
    raw_id_fields = ("item", "annotator")


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ("item", "annotator", "labels", "time_spent_ms", "submitted_at")
    raw_id_fields = ("item", "annotator", "assignment")
