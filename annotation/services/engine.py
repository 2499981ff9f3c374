"""The assignment engine: who may take work, leases (taken, resumed, expired and swept), the
annotator's next piece of work, skips and flags, and the work queue's vacuum.

`next` is the hot path of every annotator: work_start reads the project and everything the pick
needs in one statement, and the pick, its slot and the lease are one more (annotation.sql)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from annotation.models import Assignment, Flag, Item
from annotation.queues import VACUUM_SQL
from annotation.selectors import (
    InForce,
    graphic_cap_for,
    graphic_cap_reached,
    graphic_day_start,
    in_force_from_row,
    work_project_from_row,
)
from annotation.sql import LEASE_ITEM_COLUMNS, open_item_lease_sql, work_context_sql, work_project_columns
from core.errors import AcknowledgementNeeded, NotAllowed, QuorumError
from core.rows import row_instance
from projects import access
from projects.models import Membership, Project

if TYPE_CHECKING:
    from accounts.models import User

ACTIVE = Assignment.Status.ACTIVE
WORKING_PHASES = ("pilot", "production")


_UNREAD = object()


def _eligibility_check(*, project: Project, annotator: User, membership: Any = _UNREAD) -> None:
    """Refuse `annotator` work in `project` unless they are an active, unpaused annotator of it and
    qualified. `membership`: their annotator membership (paused_at, paused_reason), None when
    they have none, if the caller has read it already (assignment_next does, with its other reads)."""

    if membership is _UNREAD:
        membership = (
            access.active_memberships(user=annotator, project=project, role=Membership.Role.ANNOTATOR)
            .only("paused_at", "paused_reason")
            .first()
        )
    if membership is None:
        raise NotAllowed(f"{annotator.username} is not an annotator of project {project.name!r}")
    if membership.paused_at is not None:
        raise NotAllowed(
            f"{annotator.username} is paused on {project.name!r}: {membership.paused_reason}; "
            "a lead of the project can reinstate them"
        )
    problems = annotator_qualification_problems(project=project, annotator=annotator)
    if problems:
        raise QuorumError(
            f"{annotator.username} cannot work on {project.name!r}: {'; '.join(problems)}", field="project"
        )


def annotator_qualification_problems(*, project: Project, annotator: User) -> list[str]:
    """Why `annotator` may not take work in `project` now, beyond membership (empty: they may)."""
    problems = []
    if project.phase not in WORKING_PHASES:
        problems.append(f"the project is in {project.phase}, and work is given out only in pilot and production")
    if annotator.modalities and project.modality not in annotator.modalities:
        problems.append(f"they are not qualified for {project.modality} content")
    if project.require_language_match and project.languages:
        if not set(annotator.languages or []) & set(project.languages):
            problems.append(f"they work in none of the project's languages ({', '.join(project.languages)})")
    return problems


def _lease(*, item: Item, annotator: User, project: Project, now) -> Assignment:
    """Create the assignment; a regular item's slot counter grows (the caller holds its row lock)."""
    assignment = Assignment.objects.create(
        project=project,
        item=item,
        annotator=annotator,
        is_gold=item.is_gold,
        expires_at=now + timedelta(minutes=project.lease_minutes),
    )
    if not item.is_gold:
        Item.objects.filter(pk=item.pk).update(assigned_count=F("assigned_count") + 1)
    return assignment


def assignment_create(*, item: Item, annotator: User, now=None) -> Assignment:
    """Lease one slot of a chosen `item` to `annotator` (the engine's `assignment_next` picks for you).

    Invariants: the annotator is an active annotator of the project; they never hold two
    assignments on one item; a regular item never has more slots taken than its overlap. The item
    row is locked so concurrent leases of its last slot serialise. Lapsed leases of the item are
    expired first, before any lock is held.
    """
    now = now or timezone.now()
    _expire_stale(item_id=item.pk, now=now)
    return _assignment_create_locked(item=item, annotator=annotator, now=now)


@transaction.atomic
def _assignment_create_locked(*, item: Item, annotator: User, now) -> Assignment:

    item = Item.objects.select_for_update(of=("self",)).select_related("project").get(pk=item.pk)
    project = item.project
    if not access.active_memberships(user=annotator, project=project, role=Membership.Role.ANNOTATOR).exists():
        raise NotAllowed(f"{annotator.username} is not an annotator of project {project.name!r}")
    if Assignment.objects.filter(item=item, annotator=annotator).exists():
        raise QuorumError(f"item {item.external_id!r}: {annotator.username} already worked on it", field="item")
    if not item.is_gold and item.assigned_count >= item.required_annotations:
        raise QuorumError(f"item {item.external_id!r}: all {item.required_annotations} slots are taken", field="item")
    return _lease(item=item, annotator=annotator, project=project, now=now)


def assignment_next(
    *, project: Project, annotator: User, now=None, context: WorkContext | None = None
) -> Assignment | None:
    """The annotator's next piece of work in `project`, or None when there is nothing left for them.

    Order: resume their open lease; else, when a gold item is due (the project's gold rate, counted
    over their assignments), a gold item they have not seen; else the highest-priority regular
    item with an open slot that they have never touched. Items tagged graphic are left out once
    they reached the project's daily cap; with language matching on, only their languages.

    On PostgreSQL the pick is one indexed query with FOR UPDATE SKIP LOCKED, so concurrent
    annotators never take the same last slot; on SQLite the IMMEDIATE transaction serialises it.
    `context`: what work_start read with the project, if the caller has it.
    """
    now = now or timezone.now()
    if context is None:
        context = _work_context(project=project, annotator=annotator, now=now)
    _eligibility_check(project=project, annotator=annotator, membership=context.membership)
    if context.acknowledgement_pending:
        guideline = context.in_force.guideline
        raise AcknowledgementNeeded(
            f"guideline v{guideline.version} of {project.name!r} was published since you last worked on it: "
            "read what changed and acknowledge it before your next item "
            f"(POST /api/v1/guidelines/{guideline.pk}/acknowledge/)",
            guideline_id=guideline.pk,
        )
    # The annotator's open leases (there is rarely more than one): the live one is resumed,
    # lapsed ones are expired. Usually there is none, and the context query said so.
    mine = []
    if context.has_open_lease:
        mine = list(
            Assignment.objects.filter(project=project, annotator=annotator, status=ACTIVE)
            .select_related("item")
            .order_by("leased_at")
        )
    current = next((lease for lease in mine if lease.expires_at > now), None)
    if current is not None:
        current.in_force_read = context.in_force  # saves selectors.assignment_work_get a query
        return current
    for stale in mine:
        with transaction.atomic():
            _expire_one(assignment_id=stale.pk, now=now)
    assignment = _assignment_take(project=project, annotator=annotator, now=now, context=context)
    if assignment is None and _expire_stale(project_id=project.pk, now=now):
        # Lapsed leases of others held the last open slots: they are back in the pool now.
        assignment = _assignment_take(project=project, annotator=annotator, now=now, context=context)
    if assignment is not None:
        assignment.in_force_read = context.in_force  # saves selectors.assignment_work_get a query
    return assignment


@dataclass(frozen=True)
class WorkContext:
    """What `next` reads in one statement before picking (see _work_context)."""

    membership: Any  # (paused_at, paused_reason) of the active annotator membership, or None
    has_open_lease: bool
    in_force: InForce
    acknowledgement_pending: bool  # a guideline version published since they started waits for them
    gold_due: bool
    graphic_capped: bool


def work_start(*, project_id: int, annotator: User, now=None) -> tuple[Project | None, WorkContext | None]:
    """The project `project_id` (the engine's columns; None when there is no such project) and
    what `next` reads before picking (see _work_context), in one statement: the start of every
    `next` through the API, which then calls assignment_next with both."""
    if not 0 < project_id < 2**63:  # beyond a bigint: no such row (as the ORM's lookup has it)
        return None, None
    row = _work_context_row(project_id=project_id, annotator=annotator, now=now or timezone.now())
    if row is None:
        return None, None
    project = work_project_from_row(row)  # (its columns come first, as from work_project_columns)
    return project, _work_context_from(project=project, annotator=annotator, row=row)


def _work_context(*, project: Project, annotator: User, now) -> WorkContext:
    """One statement for what `next` reads before picking: the annotator's active annotator
    membership of `project`, whether they hold an active lease there, what is in force, and the
    counts behind the gold rate and the graphic cap (each only when the project has it on): the
    same counts as _gold_due and selectors.graphic_cap_reached."""
    row = _work_context_row(project_id=project.pk, annotator=annotator, now=now)
    if row is None:  # deleted since the caller loaded it
        raise QuorumError(f"project {project.pk} no longer exists", field="project")
    return _work_context_from(project=project, annotator=annotator, row=row)


def _work_context_row(*, project_id: int, annotator: User, now) -> tuple[Any, ...] | None:

    day_start = graphic_day_start(now)
    if connection.vendor != "postgresql":
        day_start = connection.ops.adapt_datetimefield_value(day_start)
    with connection.cursor() as cursor:
        cursor.execute(
            work_context_sql(connection.vendor),
            [
                *(annotator.pk, ACTIVE),
                *[annotator.pk] * 2,
                *(annotator.graphic_daily_cap is not None, annotator.pk, day_start),
                annotator.pk,
                *(annotator.pk, Membership.Role.ANNOTATOR),
                project_id,
            ],
        )
        return cursor.fetchone()


def _work_context_from(*, project: Project, annotator: User, row: Sequence[Any]) -> WorkContext:

    row = row[len(work_project_columns(connection.vendor, "wp")[1]) :]
    membership_id, paused_at, paused_reason, has_open_lease, total, gold, graphic = row[:7]
    cap = graphic_cap_for(project_cap=project.graphic_daily_cap, personal_cap=annotator.graphic_daily_cap)
    membership = None
    if membership_id is not None:
        membership = row_instance(
            Membership, {"id": membership_id, "paused_at": paused_at, "paused_reason": paused_reason}
        )
    return WorkContext(
        membership=membership,
        has_open_lease=bool(has_open_lease),
        in_force=in_force_from_row(project_id=project.pk, row=row[7:11]),
        acknowledgement_pending=bool(row[11]),
        gold_due=project.gold_rate > 0 and gold < math.floor((total + 1) * project.gold_rate),
        graphic_capped=cap is not None and graphic >= cap,
    )


def _assignment_take(
    *, project: Project, annotator: User, now, context: WorkContext | None = None
) -> Assignment | None:
    """Gold when due, else the best open item: picked, locked and leased atomically. `context`:
    what _work_context read (gold due, graphic cap), else asked here."""
    if context.gold_due if context is not None else _gold_due(project=project, annotator=annotator):
        with transaction.atomic():
            gold = (
                Item.objects.filter(project=project, is_gold=True)
                .filter(~Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator=annotator)))
                .order_by("id")
                .first()
            )
            if gold is not None:
                return _lease(item=gold, annotator=annotator, project=project, now=now)
    graphic_capped = context.graphic_capped if context is not None else None
    return _open_item_lease(project=project, annotator=annotator, now=now, graphic_capped=graphic_capped)


def _open_item_lease(
    *, project: Project, annotator: User, now, graphic_capped: bool | None = None
) -> Assignment | None:
    """Pick the best regular item with a free slot for `annotator`, take the slot and create the
    assignment, atomically; None when there is no such item.

    PostgreSQL: one statement (the pick with FOR UPDATE SKIP LOCKED, the slot counter update and
    the insert as data-modifying CTEs), so concurrent annotators pass each other's locked rows and
    no lock is held across round trips. Elsewhere (SQLite): pick, update and insert in one
    transaction, which IMMEDIATE mode serialises.
    """
    # The pick's filter (sql.open_item_lease_sql): the wellness cap, and with language matching on
    # the annotator's languages; its parameters are the project, the annotator and those languages.
    if graphic_capped is None:
        graphic_capped = graphic_cap_reached(project=project, annotator=annotator, now=now)
    params: list[Any] = [project.pk, annotator.pk]
    if project.require_language_match and annotator.languages:
        params += annotator.languages
    expires_at = now + timedelta(minutes=project.lease_minutes)
    statements = open_item_lease_sql(connection.vendor, graphic_capped, len(params) - 2)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(statements[0], [*params, project.pk, annotator.pk, ACTIVE, now, expires_at])
            row = cursor.fetchone()
        else:
            pick, take, lease = statements
            with transaction.atomic():
                cursor.execute(pick, params)
                picked = cursor.fetchone()
                if picked is None:
                    return None
                cursor.execute(take, [picked[0]])
                cursor.execute(
                    lease,
                    [
                        project.pk,
                        picked[0],
                        annotator.pk,
                        ACTIVE,
                        False,
                        connection.ops.adapt_datetimefield_value(now),
                        connection.ops.adapt_datetimefield_value(expires_at),
                    ],
                )
                row = (cursor.fetchone()[0], *picked)
    if row is None:
        return None
    values = dict(zip(LEASE_ITEM_COLUMNS, row[1:], strict=True))
    metadata = values["metadata"]
    values["metadata"] = orjson.loads(metadata) if isinstance(metadata, (str, bytes)) else metadata
    values["is_graphic"] = bool(values["is_graphic"])
    item = row_instance(Item, values)
    assignment = row_instance(
        Assignment,
        {
            "id": row[0],
            "project_id": project.pk,
            "item_id": item.pk,
            "annotator_id": annotator.pk,
            "status": ACTIVE,
            "is_gold": False,
            "leased_at": now,
            "expires_at": expires_at,
            "finished_at": None,
            "skip_reason": "",
        },
    )
    assignment.item = item
    return assignment


def _gold_due(*, project: Project, annotator: User) -> bool:
    """Gold at the project's rate, spread evenly: the k-th gold item comes at assignment k / rate."""
    if project.gold_rate <= 0:
        return False
    counts = Assignment.objects.filter(project=project, annotator=annotator).aggregate(
        total=Count("id"), gold=Count("id", filter=Q(is_gold=True))
    )
    return counts["gold"] < math.floor((counts["total"] + 1) * project.gold_rate)


def _expire_one(*, assignment_id: int, now) -> bool:
    """Mark one lapsed lease expired and give its slot back. Safe under concurrency: only the
    caller whose conditional update changed the row gives the slot back."""
    changed = Assignment.objects.filter(pk=assignment_id, status=ACTIVE, expires_at__lte=now).update(
        status=Assignment.Status.EXPIRED, finished_at=now
    )
    if changed:
        row = Assignment.objects.filter(pk=assignment_id).values("item_id", "is_gold").get()
        if not row["is_gold"]:
            Item.objects.filter(pk=row["item_id"], assigned_count__gt=0).update(assigned_count=F("assigned_count") - 1)
    return bool(changed)


def _expire_stale(*, now, project_id: int | None = None, item_id: int | None = None, limit: int = 200) -> int:
    """Expire lapsed leases, each in its own short transaction, and return how many.

    Called before taking locks, never while holding an item: expiring a lease touches its item,
    and a submit holds its lease while waiting for that item, so doing this under an item lock,
    or many leases in one transaction, can deadlock (seen under load on PostgreSQL).
    """
    stale = Assignment.objects.filter(status=ACTIVE, expires_at__lte=now)
    if project_id is not None:
        stale = stale.filter(project_id=project_id)
    if item_id is not None:
        stale = stale.filter(item_id=item_id)
    expired = 0
    for assignment_id in list(stale.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            expired += _expire_one(assignment_id=assignment_id, now=now)
    return expired


def work_queue_vacuum() -> float | None:
    """Vacuum the work queue's tables on PostgreSQL (beat runs it every few seconds; see
    annotation.queues for why) and return the seconds it took; None on SQLite, whose deletes and
    updates leave no dead index entries behind."""
    if connection.vendor != "postgresql":
        return None
    if connection.in_atomic_block:
        raise QuorumError("the work queue's vacuum cannot run inside a transaction")
    connection.ensure_connection()
    started = time.perf_counter()
    connection.connection.execute(VACUUM_SQL, prepare=False)  # (a utility statement: never prepared)
    return time.perf_counter() - started


def assignment_expire_sweep(*, now=None, limit: int = 5000) -> int:
    """Expire lapsed leases everywhere and return their slots (beat runs it). Returns how many."""
    return _expire_stale(now=now or timezone.now(), limit=limit)


def _owned_assignment(assignment: Assignment, actor: User) -> Assignment:
    locked = Assignment.objects.select_for_update(of=("self",)).select_related("project").get(pk=assignment.pk)
    if locked.annotator_id != actor.pk:
        raise NotAllowed("this assignment belongs to another annotator")
    return locked


@transaction.atomic
def assignment_skip(*, assignment: Assignment, actor: User, reason: str, now=None) -> Assignment:
    """Skip an item with a reason. Its slot goes back to the pool; this annotator won't see it again.
    Skipping twice is harmless (idempotent)."""
    now = now or timezone.now()
    assignment = _owned_assignment(assignment, actor)
    if assignment.status == Assignment.Status.SKIPPED:
        return assignment
    if assignment.status != ACTIVE:
        raise QuorumError(
            f"assignment {assignment.pk}: it is {assignment.status}, so it cannot be skipped", field="assignment"
        )
    reason = (reason or "").strip()
    if not reason:
        raise QuorumError("reason: say why you skip this item", field="reason")
    assignment.status = Assignment.Status.SKIPPED
    assignment.skip_reason = reason[:500]
    assignment.finished_at = now
    assignment.save(update_fields=["status", "skip_reason", "finished_at"])
    if not assignment.is_gold:
        Item.objects.filter(pk=assignment.item_id, assigned_count__gt=0).update(assigned_count=F("assigned_count") - 1)
    return assignment


@transaction.atomic
def flag_raise(*, assignment: Assignment, actor: User, question: str) -> Flag:
    """Ask the lead a question about the assignment's item. The lease stays: the annotator can
    still label or skip it."""
    assignment = _owned_assignment(assignment, actor)
    question = (question or "").strip()
    if not question:
        raise QuorumError("question: write the question for the lead", field="question")
    flag = Flag(
        project=assignment.project,
        item_id=assignment.item_id,
        assignment=assignment,
        raised_by=actor,
        question=question,
    )
    flag.full_clean()
    flag.save()
    return flag


@transaction.atomic
def flag_answer(*, flag: Flag, actor: User, answer: str) -> Flag:
    """The lead answers an annotator's question."""
    flag = Flag.objects.select_for_update(of=("self",)).select_related("project").get(pk=flag.pk)
    access.require_lead(actor, flag.project)
    answer = (answer or "").strip()
    if not answer:
        raise QuorumError("answer: write the answer", field="answer")
    flag.answer = answer
    flag.status = Flag.Status.ANSWERED
    flag.answered_by = actor
    flag.answered_at = timezone.now()
    flag.save(update_fields=["answer", "status", "answered_by", "answered_at"])
    return flag


def assignments_release(*, project: Project, annotator: User, reason: str, now=None) -> int:
    """End `annotator`'s open leases in `project` at once (they leave the project) and give each
    regular item's slot back to the pool. Each lease is closed as skipped with `reason`, so a late
    submit of it is refused (a submit on an expired lease would still be taken while a slot is
    free). Returns how many leases were released. Each lease in its own short transaction, for the
    reason _expire_stale gives; a lease submitted meanwhile is left as it is."""
    now = now or timezone.now()
    released = 0
    open_ids = list(
        Assignment.objects.filter(project=project, annotator=annotator, status=ACTIVE).values_list("pk", flat=True)
    )
    for assignment_id in open_ids:
        with transaction.atomic():
            changed = Assignment.objects.filter(pk=assignment_id, status=ACTIVE).update(
                status=Assignment.Status.SKIPPED, skip_reason=reason[:500], finished_at=now
            )
            if changed:
                row = Assignment.objects.filter(pk=assignment_id).values("item_id", "is_gold").get()
                if not row["is_gold"]:
                    Item.objects.filter(pk=row["item_id"], assigned_count__gt=0).update(
                        assigned_count=F("assigned_count") - 1
                    )
                released += 1
    return released
