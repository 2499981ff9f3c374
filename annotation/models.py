"""Label schemas and guidelines (versioned), batches, items, assignments (leases) and annotations.

Annotation stands on the project floor (projects.models: the project, its settings, its members).
Every write goes through services.py.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from projects.models import Modality

LABEL_KEY_RE = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
label_key_validator = RegexValidator(
    LABEL_KEY_RE, "A label key is 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit."
)


class LabelSchema(models.Model):
    """A taxonomy of labels, shared by the projects that use it. Its labels live in versions."""

    class Selection(models.TextChoices):
        SINGLE = "single", "Single choice"
        MULTI = "multi", "Multiple choice"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    selection = models.CharField(max_length=8, choices=Selection.choices, default=Selection.SINGLE)
    # Multi-choice only: annotators may answer "none of these" (an empty list of labels).
    none_option = models.BooleanField(
        default=False, help_text='Multi-choice: offer "none of these"; the answer is then an empty list.'
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LabelSchemaVersion(models.Model):
    """An immutable set of labels. The newest version of a schema is the one in force."""

    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["schema", "-number"]
        constraints = [models.UniqueConstraint(fields=["schema", "number"], name="schema_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.schema.name} v{self.number}"


class Label(models.Model):
    version = models.ForeignKey(LabelSchemaVersion, on_delete=models.CASCADE, related_name="labels")
    key = models.CharField(max_length=64, validators=[label_key_validator])
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    severity = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(4)], help_text="0 (benign) to 4 (most severe)"
    )
    shortcut = models.CharField(max_length=1, blank=True)
    examples = models.JSONField(default=list, blank=True, help_text="Short example texts that carry this label.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["version", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="label_unique_key_per_version"),
            models.UniqueConstraint(
                fields=["version", "shortcut"], condition=~Q(shortcut=""), name="label_unique_shortcut_per_version"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Guideline(models.Model):
    """One version of a project's labeling guideline (markdown). The newest is in force."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="guidelines")
    version = models.PositiveIntegerField()
    body = models.TextField(help_text="Markdown.")
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="guideline_unique_version")]

    def __str__(self) -> str:
        return f"{self.project_id} guideline v{self.version}"


class Batch(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="batches")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=300, blank=True, help_text="Where the items came from (file name).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "created_at"]
        verbose_name_plural = "batches"
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="batch_unique_name_per_project")]

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    """One piece of content to label. Content is hostile: it is stored as given and escaped on output."""

    Modality = Modality

    # No index of its own on project: the unique (project, external_id) index serves project look-ups.
    # No database constraint either: the batch's (enforced) foreign key already ties an item to an
    # existing project, and on PostgreSQL Django's deferred constraint would cost a check per row at
    # COMMIT (4.7 s of a million-row import). Deletes still cascade through the ORM and the batch.
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False
    )
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=200)
    modality = models.CharField(max_length=16, choices=Modality.choices)
    text = models.TextField(blank=True)
    image_url = models.URLField(max_length=2048, blank=True)
    video_url = models.URLField(max_length=2048, blank=True)
    audio_url = models.URLField(max_length=2048, blank=True)
    ocr_text = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=16, blank=True)
    is_graphic = models.BooleanField(default=False, help_text="Counts against annotators' daily wellness cap.")
    is_gold = models.BooleanField(default=False, help_text="A gold item: its answer is known (gold_labels).")
    gold_labels = models.JSONField(
        null=True, blank=True, help_text="Label keys of the known answer; set on gold items only."
    )
    priority = models.IntegerField(default=0)
    required_annotations = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    # Slots taken: active leases plus submitted annotations. Gold items are outside the overlap
    # (every annotator answers each once), so their counters stay 0.
    assigned_count = models.PositiveSmallIntegerField(default=0)
    annotations_done = models.PositiveSmallIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="item_unique_external_id_per_project"),
            models.CheckConstraint(
                condition=Q(annotations_done__lte=models.F("required_annotations")), name="item_done_within_overlap"
            ),
            models.CheckConstraint(
                condition=Q(assigned_count__lte=models.F("required_annotations")), name="item_assigned_within_overlap"
            ),
            models.CheckConstraint(
                condition=Q(is_gold=False) | Q(gold_labels__isnull=False), name="item_gold_has_labels"
            ),
        ]
        indexes = [
            # The assignment engine's pick: items of a project with open slots, best first. Partial,
            # so finished items drop out of it and the walk stays short.
            models.Index(
                fields=["project", "-priority", "id"],
                name="item_open_pick_idx",
                condition=Q(is_gold=False, assigned_count__lt=models.F("required_annotations")),
            ),
            models.Index(fields=["project", "id"], name="item_gold_idx", condition=Q(is_gold=True)),
        ]

    def __str__(self) -> str:
        return self.external_id


class Assignment(models.Model):
    """An annotator's lease on one item slot. One per (item, annotator), ever."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    # No database constraint on project (nor on Annotation's project, schema version and guideline):
    # a foreign-key check locks the row it points to (FOR KEY SHARE), and these rows are shared by
    # every annotator of a project, so concurrent cycles turned each check into a multixact on one
    # hot row: 10% of the work loop's WAL, and PostgreSQL CPU (bench/README.md, throughput). The
    # item's enforced key ties a lease to an existing item, and through its batch to the project;
    # deletes still cascade (or are refused, PROTECT) through the ORM; nothing deletes versions.
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="assignments", db_constraint=False
    )
    # No single-column indexes of their own on item and annotator: the unique (item, annotator)
    # and (item, status) indexes lead with item, (annotator, project, status) with annotator, and
    # serve every look-up by either; each index costs every lease two entries (the insert, and
    # the status update, which is not a HOT update as status is indexed).
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    is_gold = models.BooleanField(default=False)
    leased_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-leased_at"]
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="assignment_one_per_item_annotator"),
        ]
        indexes = [
            models.Index(fields=["annotator", "project", "status"]),
            models.Index(fields=["item", "status"]),
            models.Index(
                fields=["status", "expires_at"], name="assignment_active_expiry_idx", condition=Q(status="active")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} on {self.item_id} ({self.status})"


class Annotation(models.Model):
    """A submitted judgement. Immutable once written; corrections are new reviews, not edits."""

    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="annotation")
    # No single-column indexes of their own on project, item and annotator: (project,
    # submitted_at), the unique (item, annotator) and (annotator, submitted_at) lead with them and
    # serve every look-up by each (an index is an entry per annotation written).
    project = models.ForeignKey(  # no database constraint: see Assignment.project
        "projects.Project", on_delete=models.CASCADE, related_name="annotations", db_index=False, db_constraint=False
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations", db_index=False)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations", db_index=False
    )
    labels = models.JSONField(help_text="The chosen label keys (one for single-choice schemas).")
    schema_version = models.ForeignKey(  # no database constraint: see Assignment.project
        LabelSchemaVersion, on_delete=models.PROTECT, related_name="annotations", db_constraint=False
    )
    guideline = models.ForeignKey(  # no database constraint: see Assignment.project
        Guideline, null=True, blank=True, on_delete=models.PROTECT, related_name="annotations", db_constraint=False
    )
    time_spent_ms = models.PositiveIntegerField(default=0)
    comment = models.TextField(blank=True)
    submitted_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="annotation_one_per_item_annotator"),
        ]
        indexes = [models.Index(fields=["project", "submitted_at"]), models.Index(fields=["annotator", "submitted_at"])]

    def __str__(self) -> str:
        return f"{self.annotator_id} → {self.item_id}: {self.labels}"


class Flag(models.Model):
    """An annotator's question about an item, for the lead to answer."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="flags")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="flags")
    assignment = models.ForeignKey(Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="flags")
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="flags")
    question = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["status", "created_at"]
        indexes = [models.Index(fields=["project", "status", "created_at"])]

    def __str__(self) -> str:
        return f"flag on {self.item_id}: {self.question[:40]}"


class ImportJob(models.Model):
    """One file of items being imported into a batch, with its progress and its error report."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Mode(models.TextChoices):
        ALL_OR_NOTHING = "all_or_nothing", "All or nothing"
        SKIP_BAD_ROWS = "skip_bad_rows", "Import the good rows, report the bad"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"
        PARQUET = "parquet", "Parquet"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="import_jobs")
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs")
    batch_name = models.CharField(max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source_name = models.CharField(max_length=300)
    file = models.FileField(
        upload_to="imports/%Y/%m/", blank=True, help_text="Uploaded files; empty for a server-side path."
    )
    format = models.CharField(max_length=8, choices=Format.choices)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.ALL_OR_NOTHING)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    rows_read = models.PositiveIntegerField(default=0)
    items_created = models.PositiveIntegerField(default=0)
    rows_existing = models.PositiveIntegerField(default=0, help_text="Rows whose external id was already imported.")
    rows_invalid = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first bad rows: [{row, column, message}].")
    error_report = models.FileField(upload_to="imports/reports/%Y/%m/", blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Surviving the worker (core/jobs.py): starts so far, the last sign of life, when the broker took it.
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times the job was started.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.source_name}, {self.status})"


# --- Authoring: drafts (edited under a revision check) and guideline acknowledgements ---------------


class SchemaDraft(models.Model):
    """The next version of a label schema while a lead edits it: never in force, so it may change.

    Publishing it (annotation.services.authoring.schema_draft_publish) makes an immutable
    LabelSchemaVersion. `revision` grows on every save and publish: a save that names an older
    revision is refused (two leads editing at once never overwrite each other unseen).
    """

    schema = models.OneToOneField(LabelSchema, on_delete=models.CASCADE, related_name="draft")
    labels = models.JSONField(default=list, blank=True, help_text="Label definitions, as schema versions take them.")
    selection = models.CharField(max_length=8, choices=LabelSchema.Selection.choices, default="single")
    none_option = models.BooleanField(default=False)
    note = models.CharField(max_length=500, blank=True)
    is_open = models.BooleanField(default=True, help_text="False once published, until the next save.")
    revision = models.PositiveIntegerField(default=0)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"draft of {self.schema_id} (revision {self.revision})"


class GuidelineDraft(models.Model):
    """The next guideline version of a project while a lead writes it (see SchemaDraft)."""

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="guideline_draft")
    body = models.TextField(blank=True)
    note = models.CharField(max_length=500, blank=True)
    is_open = models.BooleanField(default=True)
    revision = models.PositiveIntegerField(default=0)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"guideline draft of {self.project_id} (revision {self.revision})"


class GuidelineAcknowledgement(models.Model):
    """An annotator's acknowledgement of a guideline version published while they worked on the
    project: pending (acknowledged_at empty) from its publication until they read what changed.
    While one is pending, `next` gives them no item (annotation.sql.work_context_sql)."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="guideline_acknowledgements", db_index=False
    )
    guideline = models.ForeignKey(Guideline, on_delete=models.CASCADE, related_name="acknowledgements")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["guideline", "annotator"]
        constraints = [
            models.UniqueConstraint(fields=["guideline", "annotator"], name="guideline_ack_one_per_annotator"),
        ]
        indexes = [
            # The work loop's check: one probe per next, on the few pending rows only.
            models.Index(
                fields=["annotator", "project"],
                name="guideline_ack_pending_idx",
                condition=Q(acknowledged_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        state = "acknowledged" if self.acknowledged_at else "pending"
        return f"{self.annotator_id} on guideline {self.guideline_id} ({state})"
