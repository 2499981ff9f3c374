"""PostgreSQL runs the work loop's statements prepared (settings: server-side binding with psycopg's
prepare_threshold), so it plans them once per connection instead of on every request."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.integration.test_concurrency import _project

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_the_work_loop_runs_prepared_statements_on_postgresql():
    assert connection.settings_dict["OPTIONS"].get("prepare_threshold") == 2
    project, tokens = _project(items=6, annotators=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[0]}")
    for _ in range(4):
        work = client.post("/api/v1/assignments/next/", {"project": project.pk}, format="json")
        assert work.status_code == 200, work.content
        label = work.json()["labels"][0]["key"]
        done = client.post(f"/api/v1/assignments/{work.json()['id']}/submit/", {"labels": [label]}, format="json")
        assert done.status_code == 200, done.content
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    # The pick (with its lease) and the submit's locking read are among them, with $n parameters.
    assert any("FOR UPDATE OF i SKIP LOCKED" in sql and "$1" in sql for sql in prepared), prepared
    assert any("FOR UPDATE OF a, i" in sql for sql in prepared), prepared
