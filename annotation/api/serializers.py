"""Serializers of the annotation API. <Model>Serializer is output only and reads what the selectors
loaded (no queries here); the input serializers only parse and type-check. The rules (labels of
the schema in force, leases, overlap, roles) live in annotation.services, which the views call
with `validated_data`.

Item content goes out as stored: it is hostile, and the clients escape it. Gold answers
(is_gold, gold_labels) never go out to annotators: an item's output lists its content only.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from annotation.models import Annotation, Assignment, Flag, Guideline, ImportJob, Item, Label, LabelSchemaVersion
from core.filters import BIGINT_MAX

# The API is an interface: like the annotation pages, it may read the projects app (the models
# of annotation may not).
from projects.serializers import VisibleProjectField


class _UserSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username"]
        read_only_fields = fields


# --- Work: next, submit, skip, flag ------------------------------------------------------------


class ItemContentSerializer(serializers.ModelSerializer):
    """What the annotator sees of an item. Never the gold answer, nor whether it is gold."""

    metadata = serializers.JSONField(read_only=True)
    # Strings, not `format: uri`: an item without that medium has "" there (the annotator role's
    # contract run found the schema promising a URI).
    image_url = serializers.CharField(read_only=True, help_text='An http(s) URL on an allowed media host, or "".')
    video_url = serializers.CharField(read_only=True, help_text='An http(s) URL on an allowed media host, or "".')
    audio_url = serializers.CharField(read_only=True, help_text='An http(s) URL on an allowed media host, or "".')

    class Meta:
        model = Item
        fields = [
            "id",
            "external_id",
            "modality",
            "text",
            "image_url",
            "video_url",
            "audio_url",
            "ocr_text",
            "metadata",
            "language",
            "is_graphic",
        ]
        read_only_fields = fields


class LabelSerializer(serializers.ModelSerializer):
    parent = serializers.CharField(
        source="parent.key", read_only=True, allow_null=True, help_text="The parent label's key."
    )

    class Meta:
        model = Label
        fields = ["key", "name", "description", "shortcut", "severity", "parent"]
        read_only_fields = fields


class SchemaVersionSerializer(serializers.ModelSerializer):
    schema = serializers.IntegerField(source="schema_id", read_only=True)
    selection = serializers.CharField(
        source="schema.selection", read_only=True, help_text="single: choose one label; multi: one or more."
    )

    class Meta:
        model = LabelSchemaVersion
        fields = ["id", "schema", "number", "selection"]
        read_only_fields = fields


class GuidelineVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Guideline
        fields = ["id", "version"]
        read_only_fields = fields


class AssignmentSerializer(serializers.ModelSerializer):
    external_id = serializers.CharField(read_only=True, help_text="The item's external id.")

    class Meta:
        model = Assignment
        fields = [
            "id",
            "project",
            "item",
            "external_id",
            "status",
            "leased_at",
            "expires_at",
            "finished_at",
            "skip_reason",
        ]
        read_only_fields = fields


class WorkSerializer(serializers.Serializer):
    """The answer of `next`: the assignment (its lease runs to `expires_at`), the item's content,
    and the label schema version and guideline in force, whose labels the submit is checked against."""

    id = serializers.IntegerField(source="assignment.pk", read_only=True, help_text="The assignment's id.")
    project = serializers.IntegerField(source="assignment.project_id", read_only=True)
    status = serializers.ChoiceField(source="assignment.status", choices=Assignment.Status.choices, read_only=True)
    leased_at = serializers.DateTimeField(source="assignment.leased_at", read_only=True)
    expires_at = serializers.DateTimeField(source="assignment.expires_at", read_only=True)
    item = ItemContentSerializer(read_only=True)
    schema_version = SchemaVersionSerializer(read_only=True, allow_null=True)
    labels = LabelSerializer(many=True, read_only=True)
    guideline = GuidelineVersionSerializer(read_only=True, allow_null=True)


# The two work endpoints answer through these functions, not through the serializers: building a
# DRF serializer (deep-copying its declared fields) and walking it cost about 3 ms per call on this
# machine, most of `next`'s own Python (bench/README.md, throughput). The serializers stay the
# contract and the OpenAPI schema; a test holds each function's output equal to its serializer's.
_DATETIME = serializers.DateTimeField(read_only=True)


def work_data(work) -> dict:
    """WorkSerializer(work).data, built directly."""
    assignment, item, version, guideline = work.assignment, work.item, work.schema_version, work.guideline
    return {
        "id": assignment.pk,
        "project": assignment.project_id,
        "status": str(assignment.status),
        "leased_at": _DATETIME.to_representation(assignment.leased_at),
        "expires_at": _DATETIME.to_representation(assignment.expires_at),
        "item": {
            "id": item.pk,
            "external_id": item.external_id,
            "modality": item.modality,
            "text": item.text,
            "image_url": item.image_url,
            "video_url": item.video_url,
            "audio_url": item.audio_url,
            "ocr_text": item.ocr_text,
            "metadata": item.metadata,
            "language": item.language,
            "is_graphic": item.is_graphic,
        },
        "schema_version": None
        if version is None
        else {
            "id": version.pk,
            "schema": version.schema_id,
            "number": version.number,
            "selection": version.schema.selection,
        },
        "labels": [
            {
                "key": label.key,
                "name": label.name,
                "description": label.description,
                "shortcut": label.shortcut,
                "severity": label.severity,
                "parent": label.parent.key if label.parent_id is not None else None,
            }
            for label in work.labels
        ],
        "guideline": None if guideline is None else {"id": guideline.pk, "version": guideline.version},
    }


def annotation_data(annotation: Annotation) -> dict:
    """AnnotationSerializer(annotation).data, built directly (external_id and batch_id set on it)."""
    return {
        "id": annotation.pk,
        "assignment": annotation.assignment_id,
        "project": annotation.project_id,
        "item": annotation.item_id,
        "external_id": annotation.external_id,
        "batch": annotation.batch_id,
        "annotator": {"id": annotation.annotator.pk, "username": annotation.annotator.username},
        "labels": [str(label) for label in annotation.labels],
        "schema_version": annotation.schema_version_id,
        "guideline": annotation.guideline_id,
        "time_spent_ms": annotation.time_spent_ms,
        "comment": annotation.comment,
        "submitted_at": _DATETIME.to_representation(annotation.submitted_at),
    }


class AssignmentNextSerializer(serializers.Serializer):
    # Bounded by the database's integers: a larger id overflowed the driver (a 500, found by tests/test_contract.py).
    project = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, help_text="The project to work on.")


class AnnotationSubmitSerializer(serializers.Serializer):
    labels = serializers.ListField(
        child=serializers.CharField(max_length=64),
        allow_empty=True,  # "choose at least one label" is the service's message
        help_text="The chosen label keys (exactly one for single-choice schemas).",
    )
    time_spent_ms = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class AssignmentSkipSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, max_length=500, help_text="Why you skip this item.")


class FlagRaiseSerializer(serializers.Serializer):
    question = serializers.CharField(allow_blank=True, max_length=5000, help_text="Your question for the lead.")


# --- Annotations --------------------------------------------------------------------------------


class AnnotationSerializer(serializers.ModelSerializer):
    annotator = _UserSummarySerializer(read_only=True)
    external_id = serializers.CharField(read_only=True, help_text="The item's external id.")
    batch = serializers.IntegerField(source="batch_id", read_only=True, help_text="The item's batch.")
    labels = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Annotation
        fields = [
            "id",
            "assignment",
            "project",
            "item",
            "external_id",
            "batch",
            "annotator",
            "labels",
            "schema_version",
            "guideline",
            "time_spent_ms",
            "comment",
            "submitted_at",
        ]
        read_only_fields = fields


# --- Flags --------------------------------------------------------------------------------------


class FlagSerializer(serializers.ModelSerializer):
    external_id = serializers.CharField(read_only=True, help_text="The item's external id.")
    raised_by = _UserSummarySerializer(read_only=True)
    answered_by = serializers.CharField(source="answered_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Flag
        fields = [
            "id",
            "project",
            "item",
            "external_id",
            "assignment",
            "raised_by",
            "question",
            "status",
            "answer",
            "answered_by",
            "answered_at",
            "created_at",
        ]
        read_only_fields = fields


class FlagAnswerSerializer(serializers.Serializer):
    answer = serializers.CharField(allow_blank=True, max_length=5000, help_text="The answer the annotator reads.")


# --- Imports ------------------------------------------------------------------------------------


class ImportJobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    errors = serializers.ListField(
        child=serializers.DictField(), read_only=True, help_text="The first bad rows: [{row, column, message}]."
    )
    report_url = serializers.SerializerMethodField(
        allow_null=True,  # documented as nullable: it is null until a job has bad rows
        help_text="Where to download every bad row as CSV (row, column, message); null when there are none.",
    )

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "project",
            "batch",
            "batch_name",
            "source_name",
            "format",
            "mode",
            "status",
            "rows_read",
            "items_created",
            "rows_existing",
            "rows_invalid",
            "errors",
            "message",
            "report_url",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "heartbeat_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_report_url(self, job: ImportJob) -> str | None:
        if not job.error_report:
            return None
        url = reverse("importjob-report", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class ImportJobCreateSerializer(serializers.Serializer):
    project = VisibleProjectField()
    batch_name = serializers.CharField(max_length=200, help_text="The batch the items go into (made if new).")
    mode = serializers.ChoiceField(choices=ImportJob.Mode.choices, default=ImportJob.Mode.ALL_OR_NOTHING)
    file = serializers.FileField(help_text="CSV, JSON Lines (.jsonl) or Parquet; the format comes from the name.")
