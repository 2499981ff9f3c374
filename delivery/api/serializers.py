"""Serializers of the delivery API: <Model>Serializer is output only; the Create serializers only
parse input for the services (delivery.services holds every rule)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from delivery.models import Delivery, Evaluation, Format, WebhookAttempt, WebhookEndpoint
from workbench.api.serializers import VisibleProjectField


class DeliveryFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    split = serializers.CharField(help_text="train, eval or annotations.")
    format = serializers.CharField()
    rows = serializers.IntegerField()
    bytes = serializers.IntegerField()
    sha256 = serializers.CharField()


class DeliverySerializer(serializers.ModelSerializer):
    project_name = serializers.CharField(source="project.name", read_only=True)
    progress = serializers.FloatField(read_only=True, help_text="Share of the rows written, 0 to 1.")
    files = DeliveryFileSerializer(many=True, read_only=True)
    manifest = serializers.JSONField(read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "project",
            "project_name",
            "request",
            "version",
            "status",
            "progress",
            "progress_done",
            "progress_total",
            "message",
            "error",
            "formats",
            "include_annotations",
            "eval_share",
            "seed",
            "min_confidence",
            "gate_passed",
            "override_reason",
            "files",
            "manifest_sha256",
            "manifest",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "heartbeat_at",
        ]
        read_only_fields = fields


class DeliveryCreateSerializer(serializers.Serializer):
    project = VisibleProjectField()
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=Format.choices), required=False, default=list(Format.values)
    )
    include_annotations = serializers.BooleanField(required=False, default=False)
    eval_share = serializers.FloatField(required=False, default=0.2, min_value=0.0, max_value=0.9)
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**31 - 1)
    min_confidence = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0, max_value=1)
    override_reason = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Required when the quality gate fails."
    )


class WebhookEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "team", "url", "is_active", "created_at"]
        read_only_fields = fields


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="http(s) URL that receives POSTed events.")
    secret = serializers.CharField(
        min_length=16, max_length=128, write_only=True, help_text="Shared secret of the HMAC-SHA256 signature."
    )


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "id",
            "delivery",
            "event",
            "event_id",
            "attempt",
            "status_code",
            "error",
            "duration_ms",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


_UNMEASURED = "null when there is nothing to measure"
_FIGURE = {"type": "number", "format": "double", "nullable": True, "minimum": 0, "maximum": 1}


def _figures(what: str) -> dict:
    return {
        "type": "object",
        "properties": {
            name: {**_FIGURE, "description": f"{name} {what}, {_UNMEASURED}"} for name in ("precision", "recall", "f1")
        },
    }


@extend_schema_field(
    {
        "type": "object",
        "description": "The figures of a done evaluation (empty until then), by delivery.metrics. "
        "A figure with nothing to measure is null, never 0.",
        "properties": {
            "n": {"type": "integer", "description": "Predictions scored."},
            "accuracy": {"type": "number", "format": "double"},
            "labels": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        **{
                            name: {
                                **_FIGURE,
                                "description": f"null when the label has no examples and no predictions ({name} "
                                "would be 0/0)",
                            }
                            for name in ("precision", "recall", "f1")
                        },
                        "support": {"type": "integer", "description": "Eval items whose label this is."},
                        "predicted": {"type": "integer", "description": "Predictions of this label."},
                    },
                },
            },
            "macro": _figures("averaged over the labels that occur; null when none does"),
            "weighted": _figures("weighted by support; null when no label occurs"),
            "micro": _figures("pooled over every decision"),
            "confusion": {"type": "object", "description": "keys, and matrix[true][predicted] counts."},
            "thresholds": {
                "type": "array",
                "description": "With scores: figures when only predictions scoring at least the threshold are kept. "
                "precision is null when none is kept; a label's precision and recall are null when it has no "
                "examples and no kept prediction.",
                "items": {"type": "object"},
            },
        },
    }
)
class EvaluationReportField(serializers.JSONField):
    """The stored report as it is, documented in the schema (nullable figures included)."""


class EvaluationSerializer(serializers.ModelSerializer):
    accuracy = serializers.SerializerMethodField()
    macro_f1 = serializers.SerializerMethodField()
    report = EvaluationReportField(read_only=True)

    class Meta:
        model = Evaluation
        fields = [
            "id",
            "delivery",
            "name",
            "format",
            "status",
            "rows_read",
            "rows_bad",
            "accuracy",
            "macro_f1",
            "errors",
            "report",
            "error",
            "created_at",
            "finished_at",
            "attempts",
            "heartbeat_at",
        ]
        read_only_fields = fields

    def get_accuracy(self, obj: Evaluation) -> float | None:
        return obj.report.get("accuracy")

    def get_macro_f1(self, obj: Evaluation) -> float | None:
        return (obj.report.get("macro") or {}).get("f1")


class EvaluationCreateSerializer(serializers.Serializer):
    delivery = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="A done delivery with an evaluation split."
    )
    file = serializers.FileField(help_text="CSV or JSON Lines: item_id, label, optional score.")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
