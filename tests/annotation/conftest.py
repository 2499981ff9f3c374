"""Fixtures shared by the annotation workflow's tests."""

from __future__ import annotations

import pytest

from core import authentication
from projects.models import Project


@pytest.fixture
def live(project):
    """The shared project (schema, guideline v1, `annotator`, `reviewer`) in production, gold off
    unless a test turns it on."""
    project.phase = Project.Phase.PRODUCTION
    project.gold_rate = 0
    project.save()
    return project


@pytest.fixture
def fresh_token_memory():
    """The per-process token memory (core.authentication) empty before and after the test."""
    authentication.token_cache_clear()
    yield
    authentication.token_cache_clear()
