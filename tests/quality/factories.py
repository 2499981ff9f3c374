"""Test data for the quality engine: projects with annotators, and annotations made fast.

Annotations are written straight with the models (an Assignment and its Annotation per answer),
bypassing the assignment engine: the quality engine only reads them, and hundreds are needed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np
from django.utils import timezone

from accounts.models import User
from annotation.models import Annotation, Assignment, Batch, Guideline, Item, LabelSchemaVersion
from annotation.selectors import schema_version_current
from projects.models import Membership, Project
from tests.accounts.factories import UserFactory
from tests.annotation.factories import POLICY_LABELS, BatchFactory, GuidelineFactory, ItemFactory, schema_with_labels
from tests.projects.factories import ProjectFactory

KEYS = [label["key"] for label in POLICY_LABELS]  # safe, spam, hate, harassment, violence
SEVERITY = [label["severity"] for label in POLICY_LABELS]

MULTI_LABELS = [
    {"key": "hate", "name": "Hate", "severity": 3},
    {"key": "violence", "name": "Violence", "severity": 4},
    {"key": "sexual", "name": "Sexual", "severity": 2},
    {"key": "spam", "name": "Spam", "severity": 1},
]


def quality_project(
    *,
    lead: User | None = None,
    annotators: int = 4,
    selection: str = "single",
    labels: list[dict] | None = None,
    name: str = "Quality",
    **fields,
) -> tuple[Project, list[User], Batch]:
    """A project in production with a schema, guideline v1, `annotators` annotators and a batch."""
    lead = lead or UserFactory(role=User.Role.LEAD)
    schema = schema_with_labels(
        name=f"{name} schema", labels=labels or (MULTI_LABELS if selection == "multi" else POLICY_LABELS),
        selection=selection, actor=lead,
    )  # fmt: skip
    project = ProjectFactory(name=name, lead=lead, label_schema=schema, phase=Project.Phase.PRODUCTION, **fields)
    GuidelineFactory(project=project, version=1, created_by=lead)
    people = []
    for index in range(annotators):
        person = UserFactory(username=f"{name.lower()}-annotator-{index}")
        Membership.objects.create(project=project, user=person, role=Membership.Role.ANNOTATOR)
        people.append(person)
    return project, people, BatchFactory(project=project)


def items_make(batch: Batch, count: int, *, gold: Sequence[Sequence[str]] | None = None, **fields) -> list[Item]:
    """`count` regular items of the batch, or gold items with the answers in `gold`."""
    if gold is not None:
        return [
            ItemFactory(batch=batch, is_gold=True, gold_labels=list(answer), required_annotations=1, **fields)
            for answer in gold
        ]
    return ItemFactory.create_batch(count, batch=batch, **fields)


def annotations_make(
    rows: Iterable[tuple[Item, User, Sequence[str] | str]],
    *,
    version: LabelSchemaVersion | None = None,
    guideline: Guideline | None = None,
    submitted_at: dt.datetime | None = None,
) -> list[Annotation]:
    """One submitted assignment and annotation per (item, annotator, labels), in two bulk inserts."""
    rows = [(item, user, [labels] if isinstance(labels, str) else list(labels)) for item, user, labels in rows]
    if not rows:
        return []
    project = rows[0][0].project
    version = version or schema_version_current(schema_id=project.label_schema_id)
    if guideline is None:
        guideline = Guideline.objects.filter(project=project).order_by("-version").first()
    now = submitted_at or timezone.now()
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(
                project=project, item=item, annotator=user, status=Assignment.Status.SUBMITTED,
                is_gold=item.is_gold, expires_at=now, finished_at=now,
            )
            for item, user, _ in rows
        ]
    )  # fmt: skip
    return Annotation.objects.bulk_create(
        [
            Annotation(
                assignment=assignment, project=project, item=item, annotator=user, labels=labels,
                schema_version=version, guideline=guideline, submitted_at=now,
            )
            for assignment, (item, user, labels) in zip(assignments, rows, strict=True)
        ]
    )  # fmt: skip


def noisy_rows(
    items: Sequence[Item],
    people: Sequence[User],
    *,
    keys: Sequence[str] = KEYS,
    overlap: int = 3,
    accuracy: float = 0.8,
    seed: int = 0,
) -> list[tuple[Item, User, str]]:
    """Single-choice answers: each item gets `overlap` distinct annotators who give its true label
    with probability `accuracy`, else a random one."""
    rng = np.random.default_rng(seed)
    out = []
    for item in items:
        truth = keys[int(rng.integers(len(keys)))]
        for index in rng.choice(len(people), size=overlap, replace=False):
            label = truth if rng.random() < accuracy else keys[int(rng.integers(len(keys)))]
            out.append((item, people[int(index)], label))
    return out
