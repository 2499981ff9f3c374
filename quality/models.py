"""Quality records: agreement reports, the jobs that compute them, audit samples and reviews,
consensus labels and adjudications.

The numbers come from the pure functions in the agreement package, gold.py and aggregation.py; these
models store what the services computed and what reviewers decided. Every write goes through the
services package.
This app reads the annotation app and knows a project only as the foreign key "projects.Project".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


def _unit(field: str) -> Q:
    return Q(**{f"{field}__gte": 0.0, f"{field}__lte": 1.0})


class AgreementReport(models.Model):
    """Inter-annotator agreement of one scope of a project, as computed at `computed_at`.

    Reports are never updated: each computation adds a row, so the history of a scope is its trend.
    The headline figures are columns (filterable, chartable); the tables are in `details`.
    """

    class Scope(models.TextChoices):
        PROJECT = "project", "Project"
        BATCH = "batch", "Batch"
        LABEL = "label", "Label"
        ANNOTATOR = "annotator", "Annotator"
        GUIDELINE_VERSION = "guideline_version", "Guideline version"
        WINDOW = "window", "Date window"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="agreement_reports")
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.PROJECT)
    scope_key = models.CharField(
        max_length=64,
        blank=True,
        help_text="Which batch (id), label (key), annotator (user id) or guideline (version number); "
        "empty for the project and window scopes.",
    )
    # Any scope may be cut to a window of submission times [start, end); the window scope is the
    # whole project in a window.
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField()
    # What went in.
    n_annotations = models.PositiveIntegerField(help_text="Annotations in scope (gold items left out).")
    n_items = models.PositiveIntegerField(help_text="Items with at least one annotation in scope.")
    n_items_left_out = models.PositiveIntegerField(help_text="Items with a single annotation: no agreement to measure.")
    n_annotators = models.PositiveIntegerField()
    # The source's state when computed: newer annotations make the report stale.
    source_annotations = models.PositiveIntegerField(
        default=0, help_text="All annotations of the project (gold included) when the report was computed."
    )
    source_last_submitted_at = models.DateTimeField(null=True, blank=True)
    # The headline figures. None when undefined (details.alpha.reason says why).
    alpha = models.FloatField(null=True, blank=True, help_text="Krippendorff's alpha, nominal.")
    alpha_low = models.FloatField(null=True, blank=True)
    alpha_high = models.FloatField(null=True, blank=True)
    alpha_ordinal = models.FloatField(null=True, blank=True, help_text="Ordinal alpha over the labels' severity.")
    observed_agreement = models.FloatField(null=True, blank=True)
    fleiss_kappa = models.FloatField(null=True, blank=True)
    details = models.JSONField(
        default=dict,
        blank=True,
        help_text="per_label_alpha, confused_pairs, pairwise_kappa, annotators, by_guideline_version, "
        "label_keys, reasons and timings.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [
            # The latest report of a scope, and a scope's trend.
            models.Index(fields=["project", "scope", "scope_key", "-computed_at"], name="agreement_scope_latest_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope__in=["project", "batch", "label", "annotator", "guideline_version", "window"]),
                name="agreement_scope_known",
            ),
            models.CheckConstraint(
                condition=~Q(scope__in=["project", "window"]) | Q(scope_key=""),
                name="agreement_scope_key_only_if_needed",
            ),
            models.CheckConstraint(
                condition=Q(scope__in=["project", "window"]) | ~Q(scope_key=""), name="agreement_scope_key_given"
            ),
            models.CheckConstraint(
                condition=~Q(scope="window") | Q(window_start__isnull=False, window_end__isnull=False),
                name="agreement_window_scope_has_dates",
            ),
            models.CheckConstraint(
                condition=Q(window_start__isnull=True)
                | Q(window_end__isnull=True)
                | Q(window_start__lt=models.F("window_end")),
                name="agreement_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(n_items_left_out__lte=models.F("n_items")), name="agreement_left_out_within_items"
            ),
            models.CheckConstraint(
                condition=Q(alpha_low__isnull=True)
                | Q(alpha_high__isnull=True)
                | Q(alpha_low__lte=models.F("alpha_high")),
                name="agreement_ci_ordered",
            ),
            models.CheckConstraint(
                condition=Q(observed_agreement__isnull=True) | _unit("observed_agreement"),
                name="agreement_observed_in_unit",
            ),
        ]

    def __str__(self) -> str:
        key = f" {self.scope_key}" if self.scope_key else ""
        return f"{self.project_id} {self.scope}{key} alpha={self.alpha} at {self.computed_at:%Y-%m-%d %H:%M}"

    @property
    def n_items_pairable(self) -> int:
        return self.n_items - self.n_items_left_out


class QualityJob(models.Model):
    """One background computation (a report, a consensus run), so pages can poll its progress.

    Progress is written outside the computation's own transaction, so a poller sees it while the
    work runs; the result (the report, or `result`) is written with the final status in one
    transaction at the end.
    """

    class Kind(models.TextChoices):
        AGREEMENT_REPORT = "agreement_report", "Agreement report"
        CONSENSUS = "consensus", "Consensus labels"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="quality_jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True, help_text="The service's keyword arguments (JSON).")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    report = models.ForeignKey(AgreementReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    result = models.JSONField(default=dict, blank=True, help_text="A small summary of what the job produced.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Surviving the worker (core/jobs.py): starts so far, the last sign of life, when the broker took it.
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times the job was started.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "kind", "status"], name="qualityjob_project_kind_idx")]
        constraints = [
            models.CheckConstraint(condition=_unit("progress"), name="qualityjob_progress_in_unit"),
            models.CheckConstraint(
                condition=~Q(status__in=["succeeded", "failed"]) | Q(finished_at__isnull=False),
                name="qualityjob_finished_has_time",
            ),
            models.CheckConstraint(condition=~Q(status="failed") | ~Q(error=""), name="qualityjob_failed_has_error"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status}, {self.progress:.0%})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class AuditSample(models.Model):
    """A submitted annotation drawn for a reviewer to judge. An annotation is drawn at most once.

    Only the `random` stratum is a plain random sample of the project's annotations; the others
    deliberately over-sample (new annotators, annotators under the gold bar, thin annotator × label
    cells), so the project's audit accuracy is estimated from the random stratum alone.
    """

    class Stratum(models.TextChoices):
        RANDOM = "random", "Random"
        ANNOTATOR_LABEL = "annotator_label", "Annotator × label coverage"
        NEW_ANNOTATOR = "new_annotator", "New annotator"
        UNDER_BAR = "under_bar", "Under the gold bar"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        REVIEWED = "reviewed", "Reviewed"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="audit_samples")
    annotation = models.ForeignKey("annotation.Annotation", on_delete=models.CASCADE, related_name="audit_samples")
    stratum = models.CharField(max_length=20, choices=Stratum.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_samples",
        help_text="The reviewer it is assigned to; empty: any reviewer of the project.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["annotation"], name="auditsample_one_per_annotation"),
            models.CheckConstraint(
                condition=Q(stratum__in=["random", "annotator_label", "new_annotator", "under_bar"]),
                name="auditsample_stratum_known",
            ),
        ]
        indexes = [
            # The reviewers' queue: pending samples of a project, oldest first.
            models.Index(
                fields=["project", "created_at", "id"], name="auditsample_pending_idx", condition=Q(status="pending")
            ),
            models.Index(fields=["project", "stratum", "status"], name="auditsample_stratum_idx"),
        ]

    def __str__(self) -> str:
        return f"audit of annotation {self.annotation_id} ({self.stratum}, {self.status})"


class Review(models.Model):
    """A reviewer's verdict on one audit sample: correct or not, the right labels, and why it went wrong."""

    class Verdict(models.TextChoices):
        CORRECT = "correct", "Correct"
        INCORRECT = "incorrect", "Incorrect"

    class ErrorCause(models.TextChoices):
        GUIDELINE_GAP = "guideline_gap", "The guideline does not cover it"
        MISREAD_CONTENT = "misread_content", "Misread the content"
        CARELESS = "careless", "Careless"
        AMBIGUOUS_ITEM = "ambiguous_item", "The item is ambiguous"
        TOOL_PROBLEM = "tool_problem", "Tool problem"

    sample = models.OneToOneField(AuditSample, on_delete=models.CASCADE, related_name="review")
    annotation = models.ForeignKey("annotation.Annotation", on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    correct_labels = models.JSONField(help_text="The labels the annotation should have had (its own when correct).")
    error_cause = models.CharField(max_length=20, choices=ErrorCause.choices, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(verdict="correct", error_cause="") | (Q(verdict="incorrect") & ~Q(error_cause="")),
                name="review_cause_iff_incorrect",
            ),
        ]

    def __str__(self) -> str:
        return f"review of annotation {self.annotation_id}: {self.verdict}"


class Consensus(models.Model):
    """The aggregated label(s) of one item, with how sure we are and how the votes split."""

    class Method(models.TextChoices):
        MAJORITY = "majority", "Majority vote"
        DAWID_SKENE = "dawid_skene", "Dawid–Skene"

    item = models.OneToOneField("annotation.Item", on_delete=models.CASCADE, related_name="consensus")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="consensus_labels")
    method = models.CharField(max_length=12, choices=Method.choices)
    labels = models.JSONField(help_text="The consensus label keys.")
    confidence = models.FloatField(help_text="Dawid–Skene posterior, or the majority's vote share.")
    votes = models.JSONField(default=dict, help_text="{label key: annotations choosing it}.")
    n_annotations = models.PositiveSmallIntegerField()
    tie = models.BooleanField(default=False)
    needs_adjudication = models.BooleanField(default=False)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["project", "item"]
        verbose_name_plural = "consensus labels"
        constraints = [
            models.CheckConstraint(condition=_unit("confidence"), name="consensus_confidence_in_unit"),
            models.CheckConstraint(
                condition=Q(tie=False) | Q(needs_adjudication=True), name="consensus_tie_adjudicated"
            ),
        ]
        indexes = [
            # The adjudication queue: least confident first.
            models.Index(
                fields=["project", "confidence", "item"],
                name="consensus_adjudication_idx",
                condition=Q(needs_adjudication=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.labels} ({self.method}, {self.confidence:.2f})"


class Adjudication(models.Model):
    """A reviewer's final word on an item's labels. The latest adjudication of an item is in force;
    earlier ones stay as its history (corrections are new rows, not edits)."""

    item = models.ForeignKey("annotation.Item", on_delete=models.CASCADE, related_name="adjudications")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="adjudications")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="adjudications")
    labels = models.JSONField(help_text="The final label keys.")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["item", "-created_at"], name="adjudication_item_latest_idx")]

    def __str__(self) -> str:
        return f"{self.item_id} adjudicated {self.labels}"


class LabelCounts(models.Model):
    """A project's per-item value counts over its annotations with ids up to `through_annotation_id`
    (gold items included: they are taken out when read, so an item turning gold needs no rebuild).

    Nominal alpha needs only this matrix, so keeping it saves re-reading every annotation: a read
    adds the annotations past the watermark (quality.services.counts.label_counts_refresh). The matrix is
    packed by quality.valuecounts: `item_ids` int64 and `cells` uint16, little-endian, row by row,
    one column per category (a sorted list of label keys) in `categories` order.
    """

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="label_counts")
    categories = models.JSONField(default=list, help_text="Column order: each a sorted list of label keys.")
    item_ids = models.BinaryField(default=bytes)
    cells = models.BinaryField(default=bytes)
    through_annotation_id = models.BigIntegerField(help_text="Every annotation of the project up to this id is in.")
    n_annotations = models.PositiveBigIntegerField(
        help_text="The project's annotations (gold too) up to the watermark: a read that counts another "
        "number knows some were deleted or committed late, and rebuilds."
    )
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.project_id} value counts through annotation {self.through_annotation_id}"
