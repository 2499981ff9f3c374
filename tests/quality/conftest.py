"""Fixtures for the quality engine's service, selector and task tests (real database)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from projects.models import Membership
from tests.quality.factories import items_make, quality_project


@pytest.fixture
def quality(db, lead, reviewer):
    """A single-choice project in production with five annotators, a reviewer and one batch."""
    project, people, batch = quality_project(lead=lead, annotators=5)
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    return SimpleNamespace(project=project, people=people, batch=batch, lead=lead, reviewer=reviewer)


@pytest.fixture
def multi(db, lead, reviewer):
    """A multi-choice project in production with four annotators, a reviewer and one batch."""
    project, people, batch = quality_project(lead=lead, annotators=4, selection="multi", name="Multi")
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    return SimpleNamespace(project=project, people=people, batch=batch, lead=lead, reviewer=reviewer)


@pytest.fixture
def make_items():
    return items_make
