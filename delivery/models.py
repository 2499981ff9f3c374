"""Deliveries (immutable, numbered dataset versions), webhook endpoints and their attempts, and
model evaluations of a delivered evaluation split.

A delivery's files live on disk under MEDIA_ROOT/deliveries/<project>/<version>/; the row holds
the options, the build's progress and, once done, the manifest (with every file's sha256 and
size). Every write goes through services.py. This app sits on top: delivery → projects → quality
→ annotation → accounts; nothing below imports it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

MANIFEST_SCHEMA_VERSION = 1


class Format(models.TextChoices):
    # The same choices, in the same order, as annotation.models.ImportJob.Format: one enum in the schema.
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"
    PARQUET = "parquet", "Parquet"


class PredictionFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"


class Delivery(models.Model):
    """One build of a project's dataset. `version` (1, 2, ... per project) is given when the build
    commits, so failed builds leave no gaps; a done delivery never changes."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="deliveries")
    request = models.ForeignKey(
        "projects.DataRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    version = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    # Options.
    formats = models.JSONField(default=list, help_text="Any of jsonl, csv, parquet.")
    include_annotations = models.BooleanField(default=False, help_text="Also deliver the raw annotations.")
    eval_share = models.FloatField(
        default=0.2,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.9)],
        help_text="Share of each label's items in the evaluation split (0: everything in train).",
    )
    seed = models.PositiveIntegerField(default=0)
    min_confidence = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Leave out items whose aggregated label is less sure than this.",
    )
    # The quality gate when the lead asked for the build, and the override if it failed.
    gate = models.JSONField(default=dict, blank=True)
    gate_passed = models.BooleanField(default=False)
    override_reason = models.TextField(blank=True)
    # Progress and outcome.
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    path = models.CharField(max_length=300, blank=True, help_text="The files' folder, relative to MEDIA_ROOT.")
    manifest = models.JSONField(default=dict, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Surviving the worker (core/jobs.py): starts so far, the last sign of life, when the broker took it.
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times the job was started.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["project", "status"])]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="delivery_unique_version"),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(version__isnull=False, finished_at__isnull=False),
                name="delivery_done_has_version",
            ),
            models.CheckConstraint(condition=~Q(status="failed") | ~Q(error=""), name="delivery_failed_has_error"),
            models.CheckConstraint(
                condition=Q(gate_passed=True) | ~Q(override_reason=""), name="delivery_failed_gate_overridden"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} v{self.version or '?'} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("delivery:delivery_detail", args=[self.pk])

    @property
    def progress(self) -> float:
        return self.progress_done / self.progress_total if self.progress_total else 0.0

    @property
    def files(self) -> list[dict]:
        return list(self.manifest.get("files", []))


class WebhookEndpoint(models.Model):
    """Where a team wants to hear about its deliveries. Events are signed with `secret`."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "created_at", "id"]

    def __str__(self) -> str:
        return self.url


class WebhookAttempt(models.Model):
    """One POST of an event to an endpoint: what came back, or why it did not arrive."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="attempts")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="webhook_attempts")
    event = models.CharField(max_length=40)
    event_id = models.CharField(max_length=64, help_text="The same for every attempt of one event.")
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="Set when the receiver answered 2xx.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id", "attempt"], name="webhookattempt_unique_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.attempt} → {self.endpoint_id}: {self.status_code or self.error[:40]}"


class Evaluation(models.Model):
    """A requester's model predictions for a delivery's evaluation split, and the figures."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="evaluations")
    name = models.CharField(max_length=200, help_text="The model's name, to tell uploads apart.")
    file = models.FileField(upload_to="deliveries/evaluations/%Y/%m/")
    format = models.CharField(max_length=8, choices=PredictionFormat.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    rows_read = models.PositiveIntegerField(default=0)
    rows_bad = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first bad rows: [{row, column, message}].")
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Surviving the worker (core/jobs.py): starts so far, the last sign of life, when the broker took it.
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times the job was started.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(status="failed") | ~Q(error=""), name="evaluation_failed_has_error"),
        ]

    def __str__(self) -> str:
        return f"{self.name} on delivery {self.delivery_id} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("delivery:evaluation_detail", args=[self.pk])
