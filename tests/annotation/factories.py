from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from accounts.models import User
from annotation import services
from annotation.models import Batch, Guideline, Item, LabelSchema
from tests.accounts.factories import UserFactory
from tests.projects.factories import ProjectFactory

POLICY_LABELS = [
    {"key": "safe", "name": "Safe", "severity": 0, "shortcut": "1"},
    {"key": "spam", "name": "Spam", "severity": 1, "shortcut": "2"},
    {"key": "hate", "name": "Hate", "severity": 3, "shortcut": "3"},
    {"key": "harassment", "name": "Harassment", "severity": 2, "shortcut": "4"},
    {"key": "violence", "name": "Violence", "severity": 3, "shortcut": "5"},
]


def schema_with_labels(
    *, name: str = "Policy", labels: list[dict] | None = None, selection: str = "single", actor: User | None = None
) -> LabelSchema:
    """A schema with version 1, made through the service (so it is valid by construction)."""
    actor = actor or UserFactory(role=User.Role.LEAD)
    return services.schema_create(name=name, labels=labels or POLICY_LABELS, selection=selection, actor=actor)


class GuidelineFactory(DjangoModelFactory):
    class Meta:
        model = Guideline

    project = factory.SubFactory(ProjectFactory)
    version = factory.Sequence(lambda n: n + 1)
    body = "# Guideline\n\nLabel hate when a protected group is attacked."
    created_by = factory.LazyAttribute(lambda g: g.project.lead)


class BatchFactory(DjangoModelFactory):
    class Meta:
        model = Batch

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Batch {n}")
    created_by = factory.LazyAttribute(lambda b: b.project.lead)


class ItemFactory(DjangoModelFactory):
    class Meta:
        model = Item

    batch = factory.SubFactory(BatchFactory)
    project = factory.LazyAttribute(lambda i: i.batch.project)
    external_id = factory.Sequence(lambda n: f"item-{n}")
    modality = Item.Modality.TEXT
    text = factory.Sequence(lambda n: f"Sample post number {n}")
    required_annotations = 3
