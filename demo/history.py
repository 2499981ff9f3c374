"""The demo's history: the clock its events happen on, and annotators working at human pace.

The demo is made through the services, in the order things happened, at historic moments:

- Services that take the time (`assignment_next`, `annotation_submit`, `rollup_refresh`,
  `project_risks_sync`) are given it.
- Services that stamp `timezone.now()` themselves (phase moves, blockers, milestones, guidelines,
  reports, audits, the activity log...) run inside `Clock.at(moment)`, which afterwards moves the
  timestamps of the rows written inside the block to `moment` with one bulk UPDATE per column
  (every column in STAMPED whose value is at or after the block's real start; the services
  themselves cannot be told the time, so this is the "bulk update of the rows the service
  wrote" and never a copy of what the service does). The services' own
  logic runs unchanged; only the time they recorded is set to when it happened in the story.
  This works because every historic moment lies before the seed's real start, so a row stamped
  earlier by the clock is never caught by a later block.

Work (`WorkDay`): each annotator has a speed (median handling time), an accuracy and a stamina
(items a working day on a project). On a working day (weekends rarely) each starts a session
at a random working hour, after whatever they did on another project that day, and takes items
one after another from the real engine (`assignment_next`: priorities, overlap, gold rate,
language match), each answered after a log-normal handling time, with short gaps and a longer
break now and then. Sessions of all annotators interleave in time order, so overlap and dynamic
overlap see the state each annotator would have seen. Everything draws from the demo's seeded
random generator: the same seed and the same start moment give the same history.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import F
from django.utils import timezone

from annotation import services as annotation_services
from annotation.models import (
    Annotation,
    Assignment,
    Batch,
    Flag,
    Guideline,
    GuidelineAcknowledgement,
    Item,
    LabelSchema,
    LabelSchemaVersion,
)
from annotation.services.authoring import guideline_acknowledge
from core.errors import AcknowledgementNeeded
from projects.models import Activity, Blocker, DataRequest, Membership, Milestone, PhaseTransition, Project
from quality.models import AgreementReport, AuditSample, Review

if TYPE_CHECKING:
    from accounts.models import User

# Every timestamp column a service sets to "now" that the demo's story writes through.
STAMPED: tuple[tuple[type, tuple[str, ...]], ...] = (
    (DataRequest, ("created_at", "decided_at", "updated_at")),
    (Project, ("created_at", "phase_changed_at", "updated_at")),
    (PhaseTransition, ("created_at",)),
    (Membership, ("created_at",)),
    (Milestone, ("created_at",)),
    (Blocker, ("opened_at", "resolved_at")),
    (Activity, ("created_at",)),
    (LabelSchema, ("created_at",)),
    (LabelSchemaVersion, ("created_at",)),
    (Guideline, ("created_at",)),
    (GuidelineAcknowledgement, ("created_at", "acknowledged_at")),
    (Batch, ("created_at",)),
    (Item, ("created_at",)),
    (Flag, ("created_at", "answered_at")),
    (AgreementReport, ("computed_at",)),
    (AuditSample, ("created_at",)),
    (Review, ("created_at",)),
)


@cache
def _restamp_statements() -> list[str]:
    quote = connection.ops.quote_name
    statements = []
    for model, columns in STAMPED:
        table = quote(model._meta.db_table)
        for name in columns:
            column = quote(model._meta.get_field(name).column)
            statements.append(f"UPDATE {table} SET {column} = %s WHERE {column} >= %s")
    return statements


WORK_START = time(8, 0)  # UTC: the demo's team works European hours
WORK_END = time(18, 30)


@dataclass
class Clock:
    """The story's calendar: `now` is the seed's moment, everything else lies before it."""

    now: datetime

    @property
    def today(self) -> date:
        return self.now.astimezone(UTC).date()

    def day(self, offset: int) -> date:
        return self.today + timedelta(days=offset)

    def moment(self, offset: int, hour: int = 10, minute: int = 0) -> datetime:
        """`offset` days from today at hh:mm UTC, never later than a few minutes before now."""
        when = datetime.combine(self.day(offset), time(hour, minute), tzinfo=UTC)
        return min(when, self.now - timedelta(minutes=3))

    @contextmanager
    def at(self, moment: datetime) -> Iterator[None]:
        """Run services as if at `moment`: the rows they stamp with now get `moment` instead."""
        if moment >= self.now:
            raise ValueError(f"the demo's history lies in the past; {moment} is not before {self.now}")
        started = timezone.now()
        yield
        # Plain statements: a few dozen per block, and compiling them through the ORM cost more
        # than running them.
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            for sql in _restamp_statements():
                cursor.execute(sql, [adapt(moment), adapt(started)])


@dataclass(frozen=True)
class Pace:
    """How one annotator works: median seconds an item (text), log-normal spread, items a day."""

    median_seconds: float
    spread: float
    per_day: float


@dataclass
class WorkDay:
    """What one simulated project day needs: the people, how they label, what to do at day end."""

    project: Project
    annotators: Sequence[User]
    paces: dict[str, Pace]
    label: Callable[[Item, User], list[str]]
    slowness: float = 1.0  # the modality's handling-time factor (images and memes take longer)
    busy: dict[tuple[str, date], datetime] = field(default_factory=dict)  # shared across projects
    flag: Callable[[Assignment, User, datetime], None] | None = None


def handling_ms(rng: random.Random, pace: Pace, slowness: float) -> int:
    """A log-normal handling time in milliseconds, kept between 1.5 s and 6 minutes."""
    seconds = rng.lognormvariate(math.log(pace.median_seconds * slowness), pace.spread)
    return int(min(max(seconds, 1.5), 360) * 1000)


def next_item(clock: Clock, *, project: Project, annotator: User, moment: datetime) -> Assignment | None:
    """The annotator's next item at `moment`, as the task page gets it: when a new guideline
    version waits for their acknowledgement, they read it and acknowledge it first (then)."""
    try:
        return annotation_services.assignment_next(project=project, annotator=annotator, now=moment)
    except AcknowledgementNeeded as needed:
        with clock.at(moment):
            guideline_acknowledge(guideline=Guideline.objects.get(pk=needed.guideline_id), actor=annotator)
        return annotation_services.assignment_next(project=project, annotator=annotator, now=moment)


def work_day(rng: random.Random, clock: Clock, work: WorkDay, day: date, *, scale: float = 1.0) -> int:
    """Simulate one day of `work.annotators` on `work.project`; returns the annotations written.

    `scale` multiplies everyone's items a day (a pilot round is a short burst). Stops early for an
    annotator the engine has no more work for; never writes anything at or after `clock.now`.
    """
    weekend = day.weekday() >= 5
    latest = min(datetime.combine(day, WORK_END, tzinfo=UTC), clock.now - timedelta(minutes=10))
    queue: list[tuple[datetime, int, int, int]] = []
    for index, person in enumerate(work.annotators):
        if rng.random() >= (0.12 if weekend else 0.88):
            continue
        pace = work.paces[person.username]
        count = max(1, round(pace.per_day * scale * rng.lognormvariate(0, 0.35)))
        start = datetime.combine(day, WORK_START, tzinfo=UTC) + timedelta(minutes=rng.uniform(0, 390))
        after = work.busy.get((person.username, day))
        if after is not None:
            start = max(start, after + timedelta(minutes=rng.uniform(5, 40)))
        heapq.heappush(queue, (start, index, count, 0))
    written = 0
    while queue:
        moment, index, left, streak = heapq.heappop(queue)
        if moment >= latest:
            continue
        person = work.annotators[index]
        assignment = next_item(clock, project=work.project, annotator=person, moment=moment)
        if assignment is None:
            continue  # nothing left for this annotator in this project
        pace = work.paces[person.username]
        finished = moment + timedelta(milliseconds=handling_ms(rng, pace, work.slowness))
        if work.flag is not None:
            work.flag(assignment, person, moment)
        annotation_services.annotation_submit(
            assignment=assignment,
            labels=work.label(assignment.item, person),
            actor=person,
            time_spent_ms=int((finished - moment).total_seconds() * 1000),
            now=finished,
        )
        written += 1
        work.busy[(person.username, day)] = finished
        if left > 1:
            gap = rng.lognormvariate(math.log(6), 0.6)
            if streak >= 25 and rng.random() < 0.3:  # a break, as the task page suggests
                gap, streak = rng.uniform(300, 1200), -1
            heapq.heappush(queue, (finished + timedelta(seconds=gap), index, left - 1, streak + 1))
    return written


def leases_restamp(*, project: Project) -> int:
    """Assignments are created by the engine with `leased_at` = the real now (auto_now_add) and
    `expires_at` = the simulated now + the lease: give `leased_at` its simulated moment back."""
    return Assignment.objects.filter(project=project).update(
        leased_at=F("expires_at") - timedelta(minutes=project.lease_minutes)
    )


def annotations_between(*, project: Project, start: datetime, end: datetime) -> int:
    return Annotation.objects.filter(project=project, submitted_at__gte=start, submitted_at__lt=end).count()


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def noop(*_args: Any) -> None:
    return None
