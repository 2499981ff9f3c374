"""Data requests, projects and their lifecycle, membership, milestones, blockers and risks, activity.

Models hold fields, constraints and single-row rules only; every write goes through services.py.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

LANGUAGE_CODE_RE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class Modality(models.TextChoices):
    """What kind of content an item (and a project, a request, a qualification) is."""

    TEXT = "text", "Text"
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    OCR = "ocr", "OCR (text in images)"
    MULTIMODAL = "multimodal", "Multimodal post"


class Priority(models.IntegerChoices):
    LOW = 1, "Low"
    NORMAL = 2, "Normal"
    HIGH = 3, "High"
    URGENT = 4, "Urgent"


class Purpose(models.TextChoices):
    TRAINING = "training", "Training"
    EVALUATION = "evaluation", "Evaluation"


def _unit_interval() -> list:
    return [MinValueValidator(0.0), MaxValueValidator(1.0)]


class DataRequest(models.Model):
    """What an algorithm team asks for. `submitted → accepted | rejected`; accepted becomes a Project."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    class Stage(models.TextChoices):
        """Where the request is, as its team follows it: its status, then delivered once a delivery
        of its project is done (`delivered_at`), else its project's phase. Not stored itself
        (workbench.selectors.datarequest_list annotates it)."""

        SUBMITTED = "submitted", "Submitted"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        IN_PRODUCTION = "in_production", "In production"
        DELIVERED = "delivered", "Delivered"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="data_requests")
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="data_requests"
    )
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.TRAINING)
    modality = models.CharField(max_length=16, choices=Modality.choices, default=Modality.TEXT)
    languages = models.JSONField(default=list, blank=True, help_text="Language codes, e.g. ['en', 'pt-BR'].")
    regions = models.JSONField(default=list, blank=True)
    label_schema = models.ForeignKey(
        "annotation.LabelSchema",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="data_requests",
        help_text="An existing schema to label with; or propose labels instead.",
    )
    proposed_labels = models.JSONField(
        default=list, blank=True, help_text="[{'key': 'hate', 'name': 'Hate', 'definition': '...'}, ...]"
    )
    volume_total = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    volume_per_class = models.JSONField(default=dict, blank=True, help_text="{label key: item count}")
    sampling_notes = models.TextField(blank=True)
    privacy_notes = models.TextField(blank=True)
    deadline = models.DateField()
    min_alpha = models.FloatField(null=True, blank=True, validators=_unit_interval())
    min_gold_accuracy = models.FloatField(null=True, blank=True, validators=_unit_interval())
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    delivered_at = models.DateTimeField(
        null=True, blank=True, help_text="When the first delivery of its project was done (set by the build)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"]), models.Index(fields=["team", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""), name="datarequest_rejected_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("projects:request_detail", args=[self.pk])


class Project(models.Model):
    """A labeling project: one request turned into work, moving through its phases."""

    class Phase(models.TextChoices):
        REQUIREMENTS = "requirements", "Requirements"
        DESIGN = "design", "Design"
        PILOT = "pilot", "Pilot"
        PRODUCTION = "production", "Production"
        QA = "qa", "QA"
        DELIVERED = "delivered", "Delivered"
        CLOSED = "closed", "Closed"
        ON_HOLD = "on_hold", "On hold"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    request = models.OneToOneField(
        DataRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="project"
    )
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="led_projects")
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.REQUIREMENTS)
    phase_before_hold = models.CharField(max_length=16, choices=Phase.choices, blank=True)
    phase_changed_at = models.DateTimeField(null=True, blank=True)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.TRAINING)
    modality = models.CharField(max_length=16, choices=Modality.choices, default=Modality.TEXT)
    languages = models.JSONField(default=list, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    deadline = models.DateField(null=True, blank=True)
    label_schema = models.ForeignKey(
        "annotation.LabelSchema", null=True, blank=True, on_delete=models.PROTECT, related_name="projects"
    )
    # Quality bars: a delivery passes the gate only when these hold (or a lead overrides).
    min_alpha = models.FloatField(null=True, blank=True, validators=_unit_interval())
    min_gold_accuracy = models.FloatField(null=True, blank=True, validators=_unit_interval())
    min_audit_accuracy = models.FloatField(null=True, blank=True, validators=_unit_interval())
    gold_min_items = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1)],
        help_text="Gold items an annotator must have answered before their gold accuracy is held against the bar.",
    )
    consensus_min_confidence = models.FloatField(
        default=0.8,
        validators=_unit_interval(),
        help_text="Items whose consensus confidence is under this (or whose votes tie) go to adjudication.",
    )
    pause_below_gold_bar = models.BooleanField(
        default=False,
        help_text="Stop giving work to annotators whose gold accuracy is under the bar until a lead reinstates them.",
    )
    # Assignment settings read by the annotation app through this row.
    default_overlap = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(25)]
    )
    max_overlap = models.PositiveSmallIntegerField(default=5, validators=[MinValueValidator(1), MaxValueValidator(50)])
    gold_rate = models.FloatField(default=0.05, validators=_unit_interval())
    lease_minutes = models.PositiveSmallIntegerField(default=30, validators=[MinValueValidator(1)])
    dynamic_overlap_threshold = models.FloatField(
        default=0.6,
        validators=_unit_interval(),
        help_text="When the share of the most common answer among an item's first annotations is below this, "
        "the item gets one more annotator (up to max_overlap). 0 turns dynamic overlap off.",
    )
    require_language_match = models.BooleanField(
        default=False, help_text="Only give an annotator items in the languages on their profile."
    )
    # Wellness: harmful content all day takes care.
    blur_media = models.BooleanField(default=True, help_text="Blur images and video until the annotator reveals them.")
    graphic_daily_cap = models.PositiveIntegerField(
        default=100, help_text="Items tagged graphic per annotator per day; after it, only non-graphic work. 0: no cap."
    )
    break_reminder_minutes = models.PositiveSmallIntegerField(
        default=50, help_text="Remind the annotator to take a break after this many minutes of continuous work. 0: off."
    )
    # Progress rollup, refreshed by the projects.project_progress_refresh task.
    items_total = models.PositiveIntegerField(default=0)
    annotations_required = models.PositiveIntegerField(default=0)
    annotations_done = models.PositiveIntegerField(default=0)
    items_completed = models.PositiveIntegerField(default=0)
    progress_refreshed_at = models.DateTimeField(null=True, blank=True)
    # Automatic risks (workbench.risks): how long production may sit without an annotation, and
    # how long an annotator's question may wait for an answer, before the system raises a risk.
    risk_idle_hours = models.PositiveSmallIntegerField(
        default=24,
        validators=[MinValueValidator(1)],
        help_text="Hours without annotations in production before a risk opens.",
    )
    risk_flag_hours = models.PositiveSmallIntegerField(
        default=48,
        validators=[MinValueValidator(1)],
        help_text="Hours an annotator's question may wait before a risk opens.",
    )
    # The retrospective's lessons, written by the lead.
    lessons = models.TextField(blank=True)
    # Grows by one with every settings change (workbench.services.lifecycle.project_update), so a
    # lead saving settings they read at an older version is refused instead of overwriting.
    settings_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["deadline", "name"]
        indexes = [models.Index(fields=["phase", "deadline"]), models.Index(fields=["lead", "phase"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_overlap__gte=models.F("default_overlap")), name="project_max_overlap_gte_default"
            ),
            models.CheckConstraint(
                condition=Q(phase="on_hold") | Q(phase_before_hold=""), name="project_hold_memory_only_on_hold"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("projects:project_detail", args=[self.pk])

    def clean(self) -> None:
        if (
            self.max_overlap is not None
            and self.default_overlap is not None
            and self.max_overlap < self.default_overlap
        ):
            raise ValidationError({"max_overlap": f"must be at least the default overlap ({self.default_overlap})"})

    @property
    def progress(self) -> float:
        return self.annotations_done / self.annotations_required if self.annotations_required else 0.0


class PhaseTransition(models.Model):
    """One move of a project between phases: who, when, why."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="transitions")
    from_phase = models.CharField(max_length=16, choices=Project.Phase.choices)
    to_phase = models.CharField(max_length=16, choices=Project.Phase.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.project}: {self.from_phase} → {self.to_phase}"


class Membership(models.Model):
    """A user's role on one project. A user may hold several roles (annotator and reviewer)."""

    class Role(models.TextChoices):
        LEAD = "lead", "Lead"
        ANNOTATOR = "annotator", "Annotator"
        REVIEWER = "reviewer", "Reviewer"
        REQUESTER = "requester", "Requester"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    # An annotator paused by the gold bar gets no work until a lead reinstates them.
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=300, blank=True)
    reinstated_at = models.DateTimeField(null=True, blank=True)
    reinstated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "role", "user"]
        constraints = [models.UniqueConstraint(fields=["project", "user", "role"], name="membership_unique_role")]
        indexes = [models.Index(fields=["user", "role"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} · {self.project}"


class Milestone(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="milestones")
    name = models.CharField(max_length=200)
    planned_date = models.DateField()
    actual_date = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["planned_date", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def slip_days(self) -> int | None:
        """Days late (positive) or early (negative); None until it is reached."""
        if self.actual_date is None:
            return None
        return (self.actual_date - self.planned_date).days


class BlockerQuerySet(models.QuerySet):
    def open(self) -> BlockerQuerySet:
        return self.filter(status=Blocker.Status.OPEN)


class Blocker(models.Model):
    """A blocker (work cannot proceed) or a risk (it may not finish well), opened by a person or the system."""

    class Kind(models.TextChoices):
        BLOCKER = "blocker", "Blocker"
        RISK = "risk", "Risk"

    class Severity(models.IntegerChoices):
        LOW = 1, "Low"
        MEDIUM = 2, "Medium"
        HIGH = 3, "High"
        CRITICAL = 4, "Critical"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="blockers")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.BLOCKER)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.MEDIUM)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_blockers"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule = models.CharField(
        max_length=64, blank=True, help_text="Set on risks the system raised: which rule raised it."
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.TextField(blank=True)

    objects = BlockerQuerySet.as_manager()

    class Meta:
        ordering = ["status", "-severity", "opened_at"]
        indexes = [models.Index(fields=["project", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open", resolved_at__isnull=True) | Q(status="resolved", resolved_at__isnull=False),
                name="blocker_resolved_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def time_to_resolve(self) -> timedelta | None:
        if self.resolved_at is None or self.opened_at is None:
            return None
        return self.resolved_at - self.opened_at


class RequestComment(models.Model):
    """A message on a data request's thread, between its requesters and the leads."""

    request = models.ForeignKey(DataRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="request_comments")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author} on {self.request}"


class Activity(models.Model):
    """The project's activity log: one line per state change, written by the service that made it."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="activities")
    request = models.ForeignKey(DataRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="activities")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=64)
    summary = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return self.summary


# --- Rollups (workbench.rollups keeps them; dashboards read them, never the annotations) ------------


class DailyRollup(models.Model):
    """One project's figures for one day (UTC), added to incrementally by workbench.rollups.

    Handling time is kept as a histogram over fixed log-spaced buckets (workbench.rollups.TIME_BUCKETS_MS),
    so medians and p90s over any set of days are exact to within one bucket's width.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="daily_rollups")
    day = models.DateField()
    annotations = models.PositiveIntegerField(default=0, help_text="Regular (non-gold) annotations submitted.")
    items_completed = models.PositiveIntegerField(default=0)
    time_ms_sum = models.BigIntegerField(default=0)
    time_histogram = models.JSONField(default=list, blank=True)
    gold_answered = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    flags_raised = models.PositiveIntegerField(default=0)
    label_votes = models.JSONField(default=dict, blank=True, help_text="{label key: votes} of regular annotations.")
    last_submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "day"]
        constraints = [models.UniqueConstraint(fields=["project", "day"], name="dailyrollup_unique_day")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.day}"


class AnnotatorDailyRollup(models.Model):
    """One annotator's figures on one project for one day (UTC); same conventions as DailyRollup."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotator_rollups")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    annotations = models.PositiveIntegerField(default=0)
    time_ms_sum = models.BigIntegerField(default=0)
    time_histogram = models.JSONField(default=list, blank=True)
    gold_answered = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    flags_raised = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["project", "annotator", "day"]
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator", "day"], name="annotatorrollup_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.annotator_id} {self.day}"


class RollupWatermark(models.Model):
    """How far the rollups have read: the highest annotation and flag ids already counted.
    One row (name "default"); the refresh locks it, so two refreshes never count a row twice."""

    name = models.CharField(max_length=32, unique=True)
    annotation_id = models.BigIntegerField(default=0)
    flag_id = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: annotation {self.annotation_id}, flag {self.flag_id}"
