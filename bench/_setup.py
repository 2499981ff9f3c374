"""Shared set-up for the benchmarks: a fresh database (SQLite file or a PostgreSQL database),
migrated, with a lead, a label schema and a project in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def postgres_url(name: str) -> str:
    """The URL of the benchmarks' PostgreSQL database `name` (server from BENCH_POSTGRES)."""
    return f"{os.environ.get('BENCH_POSTGRES', 'postgres://postgres@127.0.0.1:5432')}/{name}"


def fresh_database(kind: str, name: str) -> None:
    """Point Django at a new, empty database of `kind` ("sqlite" or "postgres") and migrate it."""
    if kind == "sqlite":
        path = Path(f"/tmp/{name}.sqlite3")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ.pop("DATABASE_URL", None)
        os.environ["SQLITE_PATH"] = str(path)
    else:
        subprocess.run(["psql", postgres_url("postgres"), "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
        subprocess.run(["psql", postgres_url("postgres"), "-qc", f"CREATE DATABASE {name}"], check=True)
        os.environ["DATABASE_URL"] = postgres_url(name)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def demo_project(*, labels: int = 6, overlap: int = 3, annotators: int = 0):
    """A lead, a single-choice schema with `labels` labels, and a project in production."""
    from accounts.models import User
    from annotation import services as annotation_services
    from projects import services as project_services
    from projects.models import Project
    from workbench.services.lifecycle import project_create

    lead = User.objects.create_user("bench-lead", password="x", role=User.Role.LEAD)
    schema = annotation_services.schema_create(
        name="Bench policy", labels=[{"key": f"label{i}", "name": f"Label {i}"} for i in range(labels)], actor=lead
    )
    project = project_create(
        actor=lead,
        name="Bench",
        lead=lead,
        label_schema=schema,
        default_overlap=overlap,
        max_overlap=max(overlap, 5),
        gold_rate=0,
        dynamic_overlap_threshold=0,
        graphic_daily_cap=0,
    )
    annotation_services.guideline_publish(project=project, body="Bench guideline", actor=lead)
    people = []
    for index in range(annotators):
        person = User.objects.create_user(f"bench-annotator-{index}", password="bench-pass", role=User.Role.ANNOTATOR)
        project_services.membership_add(project=project, user=person, role="annotator", actor=lead)
        people.append(person)
    Project.objects.filter(pk=project.pk).update(phase=Project.Phase.PRODUCTION)
    project.refresh_from_db()
    return lead, project, people


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
