"""Serializers of the quality API. <Model>Serializer is output only and reads what the views'
querysets loaded (no queries here); the input serializers only parse and type-check. The rules
(scopes, shares, verdicts, labels of the schema in force, roles) live in quality.services, which
the views call with `validated_data`.

Gold answers never go out: an audited or adjudicated item is shown by its content only.
"""

from __future__ import annotations

from rest_framework import serializers

from annotation.api.serializers import ItemContentSerializer
from quality.models import Adjudication, AgreementReport, AuditSample, Consensus, QualityJob, Review

# Enum names for these choices are set in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].
_JOB_REQUESTS = [("agreement", "Agreement report"), ("consensus", "Consensus labels")]


# --- Agreement reports and jobs ---------------------------------------------------------------------


class AgreementReportSerializer(serializers.ModelSerializer):
    details = serializers.JSONField(
        read_only=True,
        help_text="per_label_alpha, confused_pairs, pairwise_kappa, annotators, by_guideline_version, "
        "label_keys, reasons and timings.",
    )

    class Meta:
        model = AgreementReport
        fields = [
            "id",
            "project",
            "scope",
            "scope_key",
            "window_start",
            "window_end",
            "computed_at",
            "n_annotations",
            "n_items",
            "n_items_left_out",
            "n_annotators",
            "source_annotations",
            "source_last_submitted_at",
            "alpha",
            "alpha_low",
            "alpha_high",
            "alpha_ordinal",
            "observed_agreement",
            "fleiss_kappa",
            "details",
            "created_by",
        ]
        read_only_fields = fields


class QualityJobSerializer(serializers.ModelSerializer):
    params = serializers.JSONField(read_only=True, help_text="The service's keyword arguments.")
    result = serializers.JSONField(read_only=True, help_text="A small summary of what the job produced.")
    finished = serializers.BooleanField(source="is_finished", read_only=True)
    kind = serializers.ChoiceField(choices=QualityJob.Kind.choices, read_only=True)
    status = serializers.ChoiceField(choices=QualityJob.Status.choices, read_only=True)

    class Meta:
        model = QualityJob
        fields = [
            "id",
            "project",
            "kind",
            "params",
            "status",
            "progress",
            "message",
            "error",
            "report",
            "result",
            "finished",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "heartbeat_at",
        ]
        read_only_fields = fields


class QualityJobCreateSerializer(serializers.Serializer):
    AGREEMENT, CONSENSUS = "agreement", "consensus"

    project = serializers.IntegerField(help_text="A project you lead.")
    kind = serializers.ChoiceField(
        choices=_JOB_REQUESTS,
        help_text="agreement: compute an agreement report of a scope; consensus: aggregate the labels.",
    )
    scope = serializers.ChoiceField(
        choices=AgreementReport.Scope.choices, default=AgreementReport.Scope.PROJECT, help_text="Agreement only."
    )
    scope_key = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="Which batch (id), label (key), annotator (user id) or guideline (version); agreement only.",
    )
    window_start = serializers.DateTimeField(required=False, help_text="With window_end: cut to [start, end).")
    window_end = serializers.DateTimeField(required=False)
    method = serializers.ChoiceField(
        choices=Consensus.Method.choices, default=Consensus.Method.DAWID_SKENE, help_text="Consensus only."
    )

    def validate(self, attrs):
        if ("window_start" in attrs) != ("window_end" in attrs):
            missing = "window_end" if "window_start" in attrs else "window_start"
            raise serializers.ValidationError({missing: "Give both ends of the window, or neither."})
        return attrs


# --- Gate and root cause ----------------------------------------------------------------------------


class ProjectQuerySerializer(serializers.Serializer):
    """The ?project= of the project-wide reads."""

    project = serializers.IntegerField(min_value=1)


class ReinstateSerializer(serializers.Serializer):
    """Give an annotator paused by the gold bar work again."""

    annotator = serializers.IntegerField(min_value=1, help_text="The paused annotator's user id.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class MembershipPauseSerializer(serializers.Serializer):
    annotator = serializers.IntegerField(source="user_id", read_only=True)
    paused_at = serializers.DateTimeField(read_only=True, allow_null=True)
    reinstated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    reinstated_by = serializers.IntegerField(source="reinstated_by_id", read_only=True, allow_null=True)


class GateCheckSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True, help_text="alpha, gold_accuracy or audit_accuracy.")
    threshold = serializers.FloatField(
        read_only=True, allow_null=True, help_text="The project's bar; null: none, so it passes."
    )
    value = serializers.FloatField(read_only=True, allow_null=True)
    passed = serializers.BooleanField(read_only=True)
    reason = serializers.CharField(read_only=True, help_text="Why it fails; empty when it passes.")


class QualityGateSerializer(serializers.Serializer):
    passed = serializers.BooleanField(read_only=True)
    reasons = serializers.ListField(child=serializers.CharField(), read_only=True)
    checks = GateCheckSerializer(many=True, read_only=True)


class AlphaNowSerializer(serializers.Serializer):
    """services.reports.AlphaNow, flattened."""

    project = serializers.IntegerField(read_only=True)
    alpha = serializers.FloatField(
        source="alpha.value", read_only=True, allow_null=True, help_text="Krippendorff's alpha, nominal."
    )
    reason = serializers.CharField(
        source="alpha.reason", read_only=True, allow_null=True, help_text="Why alpha is undefined, when it is."
    )
    n_items = serializers.IntegerField(
        source="alpha.n_items", read_only=True, help_text="Items with two or more annotations (measured)."
    )
    n_items_left_out = serializers.IntegerField(
        source="alpha.n_single", read_only=True, help_text="Items with a single annotation: nothing to compare."
    )
    n_annotations = serializers.IntegerField(read_only=True, help_text="Annotations of regular items counted.")
    computed_at = serializers.DateTimeField(read_only=True)


class RootCauseSerializer(serializers.Serializer):
    report = AgreementReportSerializer(read_only=True, allow_null=True, help_text="The latest project report.")
    labels = serializers.ListField(
        child=serializers.DictField(), read_only=True, help_text="Per-label alpha, worst first."
    )
    confused_pairs = serializers.ListField(child=serializers.DictField(), read_only=True)
    annotators = serializers.ListField(
        child=serializers.DictField(), read_only=True, help_text="Agreement, gold and audit accuracy; weakest first."
    )
    error_causes = serializers.ListField(child=serializers.DictField(), read_only=True)
    guideline_versions = serializers.ListField(child=serializers.DictField(), read_only=True)


# --- Audits -----------------------------------------------------------------------------------------


class AuditSampleSerializer(serializers.ModelSerializer):
    item = ItemContentSerializer(source="annotation.item", read_only=True)
    annotator = serializers.IntegerField(source="annotation.annotator_id", read_only=True)
    labels = serializers.ListField(
        source="annotation.labels", child=serializers.CharField(), read_only=True, help_text="The annotation's labels."
    )
    submitted_at = serializers.DateTimeField(source="annotation.submitted_at", read_only=True)
    status = serializers.ChoiceField(choices=AuditSample.Status.choices, read_only=True)

    class Meta:
        model = AuditSample
        fields = [
            "id",
            "project",
            "annotation",
            "stratum",
            "status",
            "reviewer",
            "created_at",
            "annotator",
            "labels",
            "submitted_at",
            "item",
        ]
        read_only_fields = fields


class AuditSampleReviewSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Review.Verdict.choices)
    correct_labels = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        help_text="The right labels: required when incorrect; when correct, the annotation's own (or omit).",
    )
    error_cause = serializers.ChoiceField(
        choices=Review.ErrorCause.choices, required=False, allow_blank=True, default="", help_text="When incorrect."
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ReviewSerializer(serializers.ModelSerializer):
    correct_labels = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "sample",
            "annotation",
            "reviewer",
            "verdict",
            "correct_labels",
            "error_cause",
            "note",
            "created_at",
        ]
        read_only_fields = fields


class AuditSampleDrawSerializer(serializers.Serializer):
    project = serializers.IntegerField(help_text="A project you lead.")
    share = serializers.FloatField(
        help_text="The share of the project's regular annotations to have audited, above 0 and at most 1: "
        "the project then has ⌈share × annotations⌉ samples in all, shared among the strata."
    )
    seed = serializers.IntegerField(default=0, min_value=0)
    dry_run = serializers.BooleanField(
        default=False, help_text="Only say what would be drawn (per stratum); draw nothing. Answers 200."
    )


class AuditStratumPlanSerializer(serializers.Serializer):
    stratum = serializers.ChoiceField(choices=AuditSample.Stratum.choices, read_only=True)
    name = serializers.CharField(read_only=True)
    wanted = serializers.IntegerField(read_only=True, help_text="What the stratum asks for at this share.")
    planned = serializers.IntegerField(
        read_only=True, help_text="What it is given inside the share (drawn, unless a dry run)."
    )


class AuditDrawResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(read_only=True)
    drawn = serializers.IntegerField(read_only=True, help_text="New samples drawn (none drawn twice; 0 in a dry run).")
    planned = serializers.IntegerField(read_only=True, help_text="Samples this draw takes (or would take).")
    by_stratum = serializers.DictField(
        child=serializers.IntegerField(), read_only=True, help_text="Samples taken (or that would be) per stratum."
    )
    annotations = serializers.IntegerField(read_only=True, help_text="The project's regular submitted annotations.")
    target = serializers.IntegerField(read_only=True, help_text="⌈share × annotations⌉: the samples wanted in all.")
    drawn_before = serializers.IntegerField(read_only=True, help_text="Samples of the project drawn earlier.")
    strata = AuditStratumPlanSerializer(many=True, read_only=True)


# --- Adjudication -----------------------------------------------------------------------------------


class ConsensusSerializer(serializers.ModelSerializer):
    """An item waiting for adjudication: how the votes split and its content."""

    item = ItemContentSerializer(read_only=True)
    labels = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="The consensus labels.")
    votes = serializers.DictField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = Consensus
        fields = ["item", "method", "labels", "confidence", "votes", "n_annotations", "tie", "computed_at"]
        read_only_fields = fields


class AdjudicationCreateSerializer(serializers.Serializer):
    item = serializers.IntegerField(help_text="An item of a project you review.")
    labels = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class AdjudicationSerializer(serializers.ModelSerializer):
    labels = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Adjudication
        fields = ["id", "item", "project", "reviewer", "labels", "reason", "created_at"]
        read_only_fields = fields
