"""Shared fixtures: users by role, an API client, a project with a schema and guideline."""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from config import celery_app
from projects.models import Membership
from tests.accounts.factories import TeamFactory, UserFactory
from tests.annotation.factories import GuidelineFactory, schema_with_labels
from tests.projects.factories import ProjectFactory


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.QUORUM_PAGE_FIGURES_SECONDS = 0  # pages recompute after every new annotation (tests say when not)
    settings.MEDIA_ROOT = tmp_path / "media"
    # The tests' item media live on example.org and quorum.test hosts (the browser tests route
    # media.quorum.test) besides the live server's own.
    settings.QUORUM_MEDIA_HOSTS = [*settings.QUORUM_MEDIA_HOSTS, ".example.org", ".quorum.test"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_local_cache():
    """The in-process cache (SQLite runs) starts empty in every test: ids are reused there after a
    rollback, so figures cached by one test must not answer another. (The Redis cache of the
    PostgreSQL run is left alone: it is also the worker's broker, and ids are not reused there.)"""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()
    yield


@pytest.fixture(autouse=True)
def _eager_celery(request):
    """Tasks run in-process, except in integration tests, which use the real broker and worker."""
    if request.node.get_closest_marker("integration"):
        yield
        return
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def _celery_pools_reset() -> None:
    """Forget the Celery app's connection and producer pools, so the next publish connects to
    whatever `broker_url` says now."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


class BrokerSwitch:
    """Points the Celery app at a broker on a closed port (every publish fails, as when Redis is
    unreachable) and back. Tasks are really published meanwhile, not run eagerly."""

    CLOSED = "redis://127.0.0.1:1/0"

    def __init__(self) -> None:
        self.previous = (celery_app.conf.task_always_eager, celery_app.conf.broker_url)
        self.is_down = False

    def down(self) -> None:
        celery_app.conf.task_always_eager = False
        celery_app.conf.broker_url = self.CLOSED
        _celery_pools_reset()
        self.is_down = True

    def up(self) -> None:
        if self.is_down:
            celery_app.conf.task_always_eager, celery_app.conf.broker_url = self.previous
            _celery_pools_reset()
            self.is_down = False


@pytest.fixture
def broker_down():
    """The broker unreachable for the test (BrokerSwitch); `.up()` brings it back early."""
    switch = BrokerSwitch()
    switch.down()
    yield switch
    switch.up()


@pytest.fixture
def team(db):
    return TeamFactory(name="Trust ML", slug="trust-ml")


@pytest.fixture
def lead(db):
    return UserFactory(username="lead", role=User.Role.LEAD)


@pytest.fixture
def other_lead(db):
    return UserFactory(username="other-lead", role=User.Role.LEAD)


@pytest.fixture
def annotator(db):
    return UserFactory(username="annotator", role=User.Role.ANNOTATOR)


@pytest.fixture
def reviewer(db):
    return UserFactory(username="reviewer", role=User.Role.REVIEWER)


@pytest.fixture
def requester(db, team):
    return UserFactory(username="requester", role=User.Role.REQUESTER, team=team)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def project(db, lead, annotator, reviewer):
    """A project in design, led by `lead`, with a policy schema, a guideline, an annotator and a reviewer."""
    schema = schema_with_labels(actor=lead)
    project = ProjectFactory(name="Hate speech EN", lead=lead, label_schema=schema, phase="design")
    GuidelineFactory(project=project, created_by=lead, version=1)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    return project


def pytest_sessionfinish(session, exitstatus):
    """With QUORUM_FORBID_SKIPS=1 (CI), a skipped test fails the run: browser and integration
    tests must really run there, not quietly skip."""
    if os.environ.get("QUORUM_FORBID_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"QUORUM_FORBID_SKIPS=1 and {len(skipped)} test(s) were skipped: failing the run", red=True)
        session.exitstatus = 1
