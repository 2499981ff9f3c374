"""Reads for the annotation app: schemas and guidelines in force, items, assignments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Max, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from annotation.models import Annotation, Assignment, Flag, Guideline, ImportJob, Item, Label, LabelSchemaVersion
from annotation.sql import in_force_sql, work_project_columns
from core.rows import row_instance
from projects import access
from projects.models import Project

if TYPE_CHECKING:
    from accounts.models import User


def schema_version_current(*, schema_id: int | None) -> LabelSchemaVersion | None:
    """The version in force: the newest of the schema."""
    if schema_id is None:
        return None
    return LabelSchemaVersion.objects.filter(schema_id=schema_id).select_related("schema").order_by("-number").first()


def schema_labels(*, version: LabelSchemaVersion) -> QuerySet[Label]:
    return version.labels.select_related("parent").order_by("order", "id")


def guideline_current(*, project: Project) -> Guideline | None:
    return Guideline.objects.filter(project=project).order_by("-version").first()


# --- The annotation workflow API --------------------------------------------------------------
# Reads behind /api/v1/assignments/, /annotations/, /flags/ and /imports/: each is scoped to what
# `user` may see and loads what its serializer shows, so a list page is one count and one query.


def _led_or_own(queryset: QuerySet, *, user: User, own: Q | None = None) -> QuerySet:
    """`queryset` cut to the rows of the projects `user` leads, plus the rows `own` matches."""
    condition = Q(project_id__in=access.led_project_ids(user))
    if own is not None:
        condition |= own
    return queryset.filter(condition)


def assignment_list(*, user: User) -> QuerySet[Assignment]:
    """The caller's own assignments, never anybody else's, with their item's external id."""
    return Assignment.objects.filter(annotator=user).annotate(external_id=F("item__external_id"))


@dataclass(frozen=True)
class InForce:
    """The label schema version (with its labels) and the guideline in force in a project."""

    schema_version: LabelSchemaVersion | None
    labels: tuple[Label, ...]
    guideline: Guideline | None


@dataclass(frozen=True)
class Work:
    """What an annotator needs to label an assignment: the item, and the label schema version and
    guideline in force in its project (the annotation records both)."""

    assignment: Assignment
    item: Item
    schema_version: LabelSchemaVersion | None
    labels: tuple[Label, ...]
    guideline: Guideline | None


# (version id, created_at) → the version with its schema, and its labels with their parents.
# A version is immutable once made (a change makes a new version), so a process may keep it; the
# creation time is in the key so that an id reused after a rollback (SQLite in tests) is not mistaken.
_VERSIONS: dict[tuple[int, Any], tuple[LabelSchemaVersion, tuple[Label, ...]]] = {}


def _version_loaded(version_id: int, created_at: Any) -> tuple[LabelSchemaVersion, tuple[Label, ...]]:
    key = (version_id, created_at)
    found = _VERSIONS.get(key)
    if found is None:
        version = LabelSchemaVersion.objects.select_related("schema").get(pk=version_id)
        found = (version, tuple(schema_labels(version=version)))
        if len(_VERSIONS) >= 256:
            _VERSIONS.clear()
        _VERSIONS[key] = found
    return found


def in_force_from_row(*, project_id: int, row: tuple[Any, Any, Any, Any]) -> InForce:
    """What sql.in_force_columns_sql's four values name: the version with its labels (kept per
    process, see _VERSIONS) and the guideline."""
    version_id, version_created_at, guideline_id, guideline_version = row
    version, labels = None, ()
    if version_id is not None:
        version, labels = _version_loaded(version_id, version_created_at)
    guideline = None
    if guideline_id is not None:
        guideline = row_instance(
            Guideline, {"id": guideline_id, "version": guideline_version, "project_id": project_id}
        )
    return InForce(schema_version=version, labels=labels, guideline=guideline)


def assignment_in_force_get(*, assignment: Assignment) -> InForce:
    """The schema version, its labels and the guideline now in force in the project of
    `assignment`: the same answer as schema_version_current and guideline_current, in one query
    (a version's labels are kept per process, see _VERSIONS).

    Both work endpoints ask it on every call, so it is one plain SQL statement: built with the
    ORM (four correlated subqueries), compiling it took 21% of the server's time under
    bench/throughput.py --profile; as SQL, about 3%.
    """
    project_id = assignment.project_id
    with connection.cursor() as cursor:
        cursor.execute(in_force_sql(), [project_id] * 4)
        row = cursor.fetchone()
    return in_force_from_row(project_id=project_id, row=row)


def work_project_from_row(row: Sequence[Any]) -> Project:
    """The project `next` works in (services.work_start reads it by id alone, and the engine checks
    the caller's role on it) from sql.work_project_columns' values, the first of `row`, converted as
    the ORM converts them; the engine's columns only, others load on first use. Plain SQL: on the
    hot path, the ORM's query (or a raw queryset of the whole row) cost more Python than the rest
    of `next`."""

    _, names, converted = work_project_columns(connection.vendor, "wp")
    values = list(row[: len(names)])
    for index, field, column in converted:
        for converter in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
            values[index] = converter(values[index], column, connection)
    return row_instance(Project, dict(zip(names, values, strict=True)))


def assignment_work_get(*, assignment: Assignment) -> Work:
    """The work of `assignment` (its item as the engine loaded it) with what is in force (as the
    engine read it with the lease, `in_force_read`, when it did)."""
    in_force = getattr(assignment, "in_force_read", None) or assignment_in_force_get(assignment=assignment)
    return Work(
        assignment=assignment,
        item=assignment.item,
        schema_version=in_force.schema_version,
        labels=in_force.labels,
        guideline=in_force.guideline,
    )


def annotation_list(*, user: User) -> QuerySet[Annotation]:
    """Annotations `user` may read: their own, and every annotation of the projects they lead;
    with the annotator, and the item's external id and batch."""
    queryset = Annotation.objects.select_related("annotator").annotate(
        external_id=F("item__external_id"), batch_id=F("item__batch_id")
    )
    return _led_or_own(queryset, user=user, own=Q(annotator=user))


def flag_list(*, user: User) -> QuerySet[Flag]:
    """Flags of the projects `user` leads, and the flags they raised themselves (to read the answer)."""
    queryset = Flag.objects.select_related("project", "raised_by", "answered_by").annotate(
        external_id=F("item__external_id")
    )
    return _led_or_own(queryset, user=user, own=Q(raised_by=user))


def import_job_list(*, user: User) -> QuerySet[ImportJob]:
    """Import jobs of the projects `user` leads."""
    return _led_or_own(ImportJob.objects.select_related("project", "created_by"), user=user)


def import_job_rows_read(*, job: ImportJob) -> int:
    """Rows read so far: while the job runs, the running count its import writes to the cache
    (under import_progress_key); otherwise the count stored on the job."""
    if job.status != ImportJob.Status.RUNNING:
        return job.rows_read
    return max(job.rows_read, int(cache.get(import_progress_key(job.pk)) or 0))


def import_progress_key(job_id: int) -> str:
    """The cache key of a running import's count of rows read (services.import_job_run writes it)."""
    return f"quorum:import:{job_id}:rows_read"


def import_heartbeat_key(job_id: int) -> str:
    """The cache key of a running import's heartbeat (a Unix time, written each chunk): its row's
    updates stay invisible inside the import's transaction until it commits, so the job sweep
    reads this too (services.import_job_sweep)."""
    return f"quorum:import:{job_id}:heartbeat"


# --- Annotator pages and the lead's project page ----------------------------------------------
# Reads behind the task page, "My work", and the flags and imports on the lead's project page.


@dataclass(frozen=True)
class LabelRow:
    """A label as the task page lists it: `depth` 0 at the top of the hierarchy."""

    label: Label
    depth: int


def label_tree_rows(*, labels: Iterable[Label]) -> list[LabelRow]:
    """`labels` (in their schema order) in display order: each parent followed by its children,
    depth first. schema_version_create refuses cycles, so every label is reached from the top."""
    children: dict[int | None, list[Label]] = defaultdict(list)
    for label in labels:
        children[label.parent_id].append(label)
    rows: list[LabelRow] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for label in children.get(parent_id, ()):
            rows.append(LabelRow(label=label, depth=depth))
            walk(label.pk, depth + 1)

    walk(None, 0)
    return rows


def task_assignment_get(*, user: User, project: Project, pk: int) -> Assignment | None:
    """One of `user`'s own assignments in `project` (None for anybody else's or another project's)."""
    return assignment_list(user=user).filter(project=project, pk=pk).first()


def graphic_cap_for(*, project_cap: int, personal_cap: int | None) -> int | None:
    """The graphic items a day an annotator may be given in a project: the project's cap (0: none)
    and the person's own (None: none; 0: no graphic items at all), whichever is lower; None when
    neither limits them."""
    caps = [cap for cap in (project_cap if project_cap > 0 else None, personal_cap) if cap is not None]
    return min(caps) if caps else None


def graphic_cap_reached(*, project: Project, annotator: User, now: datetime | None = None) -> bool:
    """Whether `annotator` has been given their daily cap of graphic items today (graphic_cap_for:
    the project's or their own, the lower), after which the engine gives only non-graphic work
    (the engine's pick asks this too)."""
    cap = graphic_cap_for(project_cap=project.graphic_daily_cap, personal_cap=annotator.graphic_daily_cap)
    if cap is None:
        return False
    start_of_day = graphic_day_start(now or timezone.now())
    seen = Assignment.objects.filter(annotator=annotator, item__is_graphic=True, leased_at__gte=start_of_day).count()
    return seen >= cap


def graphic_day_start(now: datetime) -> datetime:
    """Where the wellness cap's day starts: local midnight (TIME_ZONE) of `now`."""
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def annotator_work_summary(*, annotator: User, now: datetime | None = None) -> list[dict[str, Any]]:
    """`annotator`'s own work per project, latest first: annotations today, this week (from Monday)
    and in all; the median handling time this week (seconds); gold answers right of gold answered.

    Three queries whatever the volume: the counts grouped by project; each project's middle row(s)
    of the week picked in the database with window functions; and the gold annotations alone,
    whose labels are compared with the item's gold labels as sets (a multi-choice answer in
    another order is still right, which JSON equality in SQL would not see).
    """
    today = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    mine = Annotation.objects.filter(annotator=annotator)
    rows = {
        row["project_id"]: {**row, "median_seconds": None, "gold_correct": 0}
        for row in mine.values("project_id", project_name=F("project__name"))
        .annotate(
            total=Count("id"),
            today=Count("id", filter=Q(submitted_at__gte=today)),
            week=Count("id", filter=Q(submitted_at__gte=week)),
            gold_total=Count("id", filter=Q(item__is_gold=True)),
            last_submitted=Max("submitted_at"),
        )
        .order_by("-last_submitted", "project_id")
    }
    # The middle row (odd count) or the two middle rows (even count) of each project's week.
    middle = (
        mine.filter(submitted_at__gte=week)
        .annotate(
            position=Window(RowNumber(), partition_by=[F("project_id")], order_by=[F("time_spent_ms"), F("id")]),
            count=Window(Count("id"), partition_by=[F("project_id")]),
        )
        .filter(Q(position=(F("count") + 1) / 2) | Q(position=(F("count") + 2) / 2))
        .values_list("project_id", "time_spent_ms")
    )
    medians: dict[int, list[int]] = defaultdict(list)
    for project_id, time_spent_ms in middle:
        medians[project_id].append(time_spent_ms)
    for project_id, values in medians.items():
        rows[project_id]["median_seconds"] = sum(values) / len(values) / 1000
    gold = mine.filter(item__is_gold=True).values_list("project_id", "labels", "item__gold_labels")
    for project_id, labels, gold_labels in gold:
        if set(labels or ()) == set(gold_labels or ()):
            rows[project_id]["gold_correct"] += 1
    return list(rows.values())


def annotator_flag_list(*, annotator: User, limit: int = 10) -> QuerySet[Flag]:
    """The questions `annotator` asked, latest first, with the leads' answers."""
    return flag_list(user=annotator).filter(raised_by=annotator).order_by("-created_at", "-id")[:limit]


def project_flag_list(*, user: User, project: Project, status: str, limit: int = 50) -> QuerySet[Flag]:
    """The flags of `project` in one status, as its lead `user` sees them: open ones oldest first
    (first asked, first answered), answered ones latest first."""
    order = ("created_at", "id") if status == Flag.Status.OPEN else ("-answered_at", "-id")
    return flag_list(user=user).filter(project=project, status=status).order_by(*order)[:limit]


def project_flag_get(*, user: User, project: Project, pk: int) -> Flag | None:
    return flag_list(user=user).filter(project=project, pk=pk).first()


def project_import_job_list(*, user: User, project: Project, limit: int = 5) -> list[ImportJob]:
    """The latest import jobs of `project` (led by `user`), newest first, each with `rows_read_now`
    (import_job_rows_read: the running count while the job runs)."""
    jobs = list(import_job_list(user=user).filter(project=project).order_by("-created_at", "-id")[:limit])
    for job in jobs:
        job.rows_read_now = import_job_rows_read(job=job)
    return jobs


def project_import_job_get(*, user: User, project: Project, pk: int) -> ImportJob | None:
    """One import job of `project` (led by `user`) with `rows_read_now`; None for any other job."""
    job = import_job_list(user=user).filter(project=project, pk=pk).first()
    if job is not None:
        job.rows_read_now = import_job_rows_read(job=job)
    return job


def annotator_project_figures(*, project: Project, annotator: User, now: datetime) -> dict[str, int]:
    """One annotator's own work in `project`: annotations today (since local midnight) and in all,
    and the items the project still needs answers for (its figure, not anyone else's)."""
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    mine = Annotation.objects.filter(project=project, annotator=annotator).aggregate(
        total=Count("pk"), today=Count("pk", filter=Q(submitted_at__gte=day_start))
    )
    return {
        "today": mine["today"],
        "total": mine["total"],
        "items_left": max(project.items_total - project.items_completed, 0),
    }
