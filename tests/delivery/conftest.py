"""Fixtures of the delivery tests: a project that answers a team's request, with annotated items
whose consensus is computed, so a delivery can be built at once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from projects.models import Membership
from quality.services.consensus import consensus_compute
from tests.projects.factories import DataRequestFactory
from tests.quality.factories import annotations_make, items_make, quality_project

KEYS = ["safe", "spam", "hate", "harassment", "violence"]


@pytest.fixture(autouse=True)
def _local_webhook_receivers(settings):
    """The tests' receivers listen on 127.0.0.1, which production refuses (test_webhooks checks that)."""
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = True


def labelled_project(*, lead, requester, items: int = 60, name: str = "Deliver", texts=None):
    """A project in QA answering `requester`'s request: `items` items, three annotators agreeing
    on a label per item (cycling through the labels, so every label has items), consensus computed."""
    request = DataRequestFactory(requester=requester, team=requester.team, title=f"{name} request")
    project, people, batch = quality_project(lead=lead, annotators=3, name=name, request=request)
    Membership.objects.create(project=project, user=requester, role=Membership.Role.REQUESTER)
    made = items_make(batch, items)
    if texts is not None:
        for item, text in zip(made, texts, strict=False):
            item.text = text
            item.content_hash = ""
            item.save(update_fields=["text", "content_hash"])
    truth = {item.external_id: KEYS[index % len(KEYS)] for index, item in enumerate(made)}
    rows = []
    for index, item in enumerate(made):
        for position, person in enumerate(people):
            # Two of three agree on the truth; the third says "spam" on every fourth item.
            label = "spam" if position == 2 and index % 4 == 0 else truth[item.external_id]
            rows.append((item, person, label))
    annotations_make(rows)
    consensus_compute(project_id=project.pk, method="majority")
    return SimpleNamespace(project=project, request=request, people=people, items=made, truth=truth, batch=batch)


@pytest.fixture
def labelled(db, lead, requester):
    return labelled_project(lead=lead, requester=requester)
