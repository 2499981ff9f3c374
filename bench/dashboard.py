"""Dashboard benchmark: the portfolio and project pages over a project with 1,000,000 annotations.

    .venv/bin/python bench/dashboard.py                      # SQLite, then PostgreSQL
    .venv/bin/python bench/dashboard.py --db sqlite --runs 9
    BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432 .venv/bin/python bench/dashboard.py --db postgres

For each database, a child process creates a fresh database (an SQLite file or a new PostgreSQL
database) and loads, with bulk SQL (binary COPY on PostgreSQL, executemany on SQLite; not timed):
one big project in production with 50 annotators, 346,667 regular items (the first 316,667
annotated three times) and 1,000 gold items answered by every annotator: 950,001 regular +
50,000 gold = 1,000,001 annotations, submitted over the last 60 days with varied handling times;
plus 24 smaller projects for the portfolio, a data request with a per-class volume, agreement
reports, milestones, blockers and a few flags.

Then it times, once each: `workbench.rollups.rollup_refresh` from an empty watermark (the cold
catch-up; the beat task afterwards only reads what arrived since) and the existing progress
refresh; and then the server time of the portfolio and the project page, as the lead, through
Django's test Client (middleware, session, view, queries, template): `--runs` requests after a
warm-up, median and max, and the number of queries per page.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

ANNOTATORS = 50
ITEMS_DONE = 316_667
ITEMS_OPEN = 30_000
GOLD_ITEMS = 1_000
OVERLAP = 3
DAYS = 60
LABELS = ["safe", "spam", "hate", "harassment", "violence", "self_harm"]


def load() -> dict:
    """(Child) The data set described in the module docstring. Returns ids for the timing phase."""
    import orjson
    from _setup import demo_project
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import User
    from annotation.models import Annotation, Assignment, Batch, Flag, Item
    from annotation.selectors import guideline_current, schema_version_current
    from annotation.services.items import items_insert
    from projects.models import DataRequest, Membership, Project
    from quality.models import AgreementReport
    from workbench.services.blockers import blocker_open, blocker_resolve
    from workbench.services.lifecycle import project_create
    from workbench.services.milestones import milestone_create
    from workbench.services.progress import project_progress_refresh

    started = time.perf_counter()
    lead, project, _ = demo_project(labels=len(LABELS), overlap=OVERLAP)
    # demo_project names its labels label0..; the request's classes use the same keys.
    keys = [f"label{i}" for i in range(len(LABELS))]
    requester = User.objects.create_user("bench-requester", password="x", role=User.Role.REQUESTER)
    request = DataRequest.objects.create(
        title="Bench request", requester=requester, volume_total=346_667, deadline=timezone.now().date(),
        volume_per_class={key: share for key, share in zip(keys, [40, 20, 15, 10, 10, 5], strict=True)},
        status=DataRequest.Status.ACCEPTED,
    )  # fmt: skip
    today = timezone.now().date()
    Project.objects.filter(pk=project.pk).update(
        request=request, deadline=today + dt.timedelta(days=12), min_alpha=0.6,
        min_gold_accuracy=0.8, phase_changed_at=timezone.now() - dt.timedelta(days=DAYS),
        created_at=timezone.now() - dt.timedelta(days=DAYS + 5),
    )  # fmt: skip
    people = User.objects.bulk_create(
        [User(username=f"bench-annotator-{i}", role=User.Role.ANNOTATOR, password="!") for i in range(ANNOTATORS)]
    )
    Membership.objects.bulk_create(
        [Membership(project=project, user=person, role=Membership.Role.ANNOTATOR) for person in people]
    )
    people_ids = np.array([person.pk for person in people], dtype=np.int64)
    version = schema_version_current(schema_id=project.label_schema_id)
    guideline = guideline_current(project=project)
    batch = Batch.objects.create(project=project, name="bench", created_by=lead)
    rng = np.random.default_rng(7)
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        base = {
            "modality": "text", "image_url": "", "video_url": "", "audio_url": "", "ocr_text": "", "metadata": {},
            "language": "", "is_graphic": False, "priority": 0, "content_hash": "",
        }  # fmt: skip
        total = ITEMS_DONE + ITEMS_OPEN
        for start in range(0, total, 50_000):
            rows = [
                {**base, "external_id": f"bench-{i}", "text": f"post {i}", "is_gold": False, "gold_labels": None,
                 "required_annotations": OVERLAP}
                for i in range(start, min(start + 50_000, total))
            ]  # fmt: skip
            items_insert(project_id=project.pk, batch_id=batch.pk, rows=rows)
        gold_answers = rng.integers(len(keys), size=GOLD_ITEMS)
        items_insert(
            project_id=project.pk,
            batch_id=batch.pk,
            rows=[
                {**base, "external_id": f"gold-{i}", "text": f"gold {i}", "is_gold": True,
                 "gold_labels": [keys[gold_answers[i]]], "required_annotations": 1}
                for i in range(GOLD_ITEMS)
            ],
        )  # fmt: skip
        regular_ids = np.array(
            Item.objects.filter(project=project, is_gold=False).order_by("id").values_list("id", flat=True)
        )
        gold_ids = np.array(
            Item.objects.filter(project=project, is_gold=True).order_by("id").values_list("id", flat=True)
        )
        # The first ITEMS_DONE regular items are complete (their counters as the engine keeps them).
        Item.objects.filter(project=project, is_gold=False, pk__lte=int(regular_ids[ITEMS_DONE - 1])).update(
            annotations_done=OVERLAP, assigned_count=OVERLAP
        )
        # Regular annotations: each done item gets OVERLAP distinct annotators, in id (= time) order.
        n_regular = ITEMS_DONE * OVERLAP
        items = np.repeat(regular_ids[:ITEMS_DONE], OVERLAP)
        offsets = rng.integers(ANNOTATORS, size=ITEMS_DONE)
        annotators = people_ids[
            (np.repeat(offsets, OVERLAP) + np.tile(np.arange(OVERLAP) * 7, ITEMS_DONE)) % ANNOTATORS
        ]
        truth = rng.choice(len(keys), size=ITEMS_DONE, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05])
        labels = np.where(
            rng.random(n_regular) < 0.85, np.repeat(truth, OVERLAP), rng.integers(len(keys), size=n_regular)
        )
        # Gold: every annotator answers every gold item, 85% correctly.
        g_items = np.tile(gold_ids, ANNOTATORS)
        g_people = np.repeat(people_ids, GOLD_ITEMS)
        g_truth = np.tile(gold_answers, ANNOTATORS)
        g_labels = np.where(rng.random(len(g_items)) < 0.85, g_truth, rng.integers(len(keys), size=len(g_items)))
        # Interleave gold among the regular ones so both spread over the days.
        all_items = np.concatenate([items, g_items])
        all_people = np.concatenate([annotators, g_people])
        all_labels = np.concatenate([labels, g_labels])
        order = np.argsort(np.concatenate([np.arange(n_regular) / n_regular, rng.random(len(g_items))]), kind="stable")
        all_items, all_people, all_labels = all_items[order], all_people[order], all_labels[order]
        n = len(all_items)
        # Submitted over the last DAYS days, weekdays busier; handling times log-normal around 6 s.
        weights = np.array([0.4 if (d % 7) in (5, 6) else 1.0 for d in range(DAYS)])
        per_day = np.floor(weights / weights.sum() * n).astype(int)
        per_day[-1] += n - per_day.sum()
        day_of = np.repeat(np.arange(DAYS), per_day)
        seconds = day_of * 86400 + np.sort(rng.integers(0, 86000, size=n))
        start_at = (now - dt.timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
        times_ms = np.clip(rng.lognormal(np.log(6000), 0.7, size=n), 300, 600_000).astype(int)
        _bulk(connection, project.pk, version.pk, guideline.pk, all_items, all_people, all_labels, keys,
              seconds, start_at, times_ms, orjson)  # fmt: skip
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for model in (Assignment, Annotation):
                    table = model._meta.db_table
                    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
    project_progress_refresh(project_id=project.pk)
    # History the pages show: agreement reports, milestones, blockers, flags, other projects.
    for week in range(8):
        AgreementReport.objects.create(
            project=project, computed_at=now - dt.timedelta(days=7 * (8 - week)),
            n_annotations=100_000 * (week + 1), n_items=30_000 * (week + 1), alpha=0.55 + 0.02 * week,
            alpha_low=0.53 + 0.02 * week, alpha_high=0.57 + 0.02 * week, source_annotations=0, n_items_left_out=0, n_annotators=ANNOTATORS,
        )  # fmt: skip
    for index in range(4):
        milestone_create(project=project, name=f"Milestone {index}", actor=lead,
                         planned_date=today + dt.timedelta(days=14 * index - 40))  # fmt: skip
    project.refresh_from_db()
    for index in range(6):
        blocker = blocker_open(project=project, actor=lead, title=f"Blocker {index}")
        if index % 2:
            blocker_resolve(blocker=blocker, actor=lead, resolution="done")
    for index in range(10):
        Flag.objects.create(project=project, item_id=int(regular_ids[index]), raised_by=people[index], question="?")
    for index in range(24):
        other = project_create(actor=lead, name=f"Other {index:02d}", lead=lead,
                               deadline=today + dt.timedelta(days=10 + index))  # fmt: skip
        Project.objects.filter(pk=other.pk).update(
            annotations_required=30_000, annotations_done=1_000 * index, items_total=10_000,
            phase=[Project.Phase.DESIGN, Project.Phase.PILOT, Project.Phase.PRODUCTION, Project.Phase.QA][index % 4],
        )  # fmt: skip
    if connection.vendor == "postgresql":
        # A live database has planner statistics (autovacuum); a bulk-loaded one has none yet.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"  loaded {n:,} annotations into {connection.vendor} in {time.perf_counter() - started:.1f} s", flush=True)
    return {"project": project.pk, "lead": lead.pk, "annotations": n}


def _bulk(
    connection, project_id, version_id, guideline_id, items, people, labels, keys, seconds, start_at, times, orjson
):
    """Assignments and annotations (annotation i on assignment i): binary COPY or executemany."""
    from annotation.models import Annotation, Assignment

    assignment_sql = (
        f"{Assignment._meta.db_table} (id, project_id, item_id, annotator_id, status, is_gold, leased_at, "
        "expires_at, finished_at, skip_reason)"
    )
    annotation_sql = (
        f"{Annotation._meta.db_table} (id, assignment_id, project_id, item_id, annotator_id, labels, "
        "schema_version_id, guideline_id, time_spent_ms, comment, submitted_at)"
    )
    stamps = [start_at + dt.timedelta(seconds=int(s)) for s in seconds.tolist()]
    rows = list(zip(range(1, len(items) + 1), items.tolist(), people.tolist(), labels.tolist(), times.tolist(), stamps,
                    strict=True))  # fmt: skip
    if connection.vendor == "postgresql":
        from psycopg.types.json import Jsonb

        answers = [Jsonb([key]) for key in keys]
        connection.ensure_connection()
        with connection.connection.cursor() as raw:
            with raw.copy(f"COPY {assignment_sql} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int8", "int8", "int8", "varchar", "bool", "timestamptz", "timestamptz",
                                "timestamptz", "varchar"])  # fmt: skip
                for i, item, person, _label, _ms, at in rows:
                    copy.write_row((i, project_id, item, person, "submitted", False, at, at, at, ""))
            with raw.copy(f"COPY {annotation_sql} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int8", "int8", "int8", "int8", "jsonb", "int8", "int8", "int4", "text",
                                "timestamptz"])  # fmt: skip
                for i, item, person, label, ms, at in rows:
                    copy.write_row(
                        (i, i, project_id, item, person, answers[label], version_id, guideline_id, ms, "", at)
                    )
        return
    answers = [orjson.dumps([key]).decode() for key in keys]
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {assignment_sql} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(i, project_id, item, person, "submitted", False, adapt(at), adapt(at), adapt(at), "")
             for i, item, person, _label, _ms, at in rows],
        )  # fmt: skip
        cursor.executemany(
            f"INSERT INTO {annotation_sql} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(i, i, project_id, item, person, answers[label], version_id, guideline_id, ms, "", adapt(at))
             for i, item, person, label, ms, at in rows],
        )  # fmt: skip


def child(args: argparse.Namespace) -> None:
    """(Child) Fresh database, load, then time the rollup and the pages; prints one JSON line."""
    import gc

    from _setup import fresh_database

    fresh_database(args.db, args.db_name)
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    gc.disable()
    ids = load()
    gc.enable()
    from unittest import mock

    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from accounts.models import User
    from projects.models import Project
    from quality.views import quality_section_context
    from workbench import rollups
    from workbench.selectors import project_gold_figures
    from workbench.services.progress import project_progress_refresh

    started = time.perf_counter()
    counted = rollups.rollup_refresh(settle_seconds=0)
    rollup_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rollups.rollup_refresh(settle_seconds=0)
    rollup_idle_seconds = time.perf_counter() - started
    started = time.perf_counter()
    project_progress_refresh(project_id=ids["project"])
    progress_seconds = time.perf_counter() - started
    client = Client()
    client.force_login(User.objects.get(pk=ids["lead"]))
    pages = {
        "portfolio": reverse("projects:portfolio"),
        "project": reverse("projects:project_detail", args=[ids["project"]]),
    }
    project = Project.objects.get(pk=ids["project"])
    cache.clear()
    started = time.perf_counter()
    quality = quality_section_context(project, gold=project_gold_figures(project=project))  # as the page calls it
    quality_ms = (time.perf_counter() - started) * 1000
    figures = {}

    def measure(name: str, url: str, *, cold: bool = False) -> None:
        assert client.get(url).status_code == 200  # warm-up
        times = []
        for _ in range(args.runs):
            if cold:
                cache.clear()  # the gold figures are computed again, as after a new annotation
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        queries = []
        with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
            client.get(url)
        figures[name] = {"median_ms": statistics.median(times), "max_ms": max(times), "queries": len(queries)}

    for name, url in pages.items():
        measure(name, url)
    # The project page embeds the quality app's section (quality.views.quality_section_context),
    # with gold accuracy from the annotator rollups; timed with the cache emptied before every
    # request too (nothing on the page should depend on it), the section alone, and the page with
    # the section's figures precomputed, to show what the dashboard itself costs.
    measure("project (cold cache)", pages["project"], cold=True)
    with mock.patch("workbench.views.quality_section_context", return_value=quality):
        measure("project (quality section precomputed)", pages["project"])
    figures["quality_section_context"] = {"median_ms": quality_ms, "max_ms": quality_ms, "queries": 0}
    print(
        json.dumps(
            {
                "db": connection.vendor,
                "annotations": ids["annotations"],
                "rollup_rows": counted["annotations"],
                "rollup_s": rollup_seconds,
                "rollup_idle_s": rollup_idle_seconds,
                "progress_s": progress_seconds,
                "pages": figures,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--db-name", default="quorum_bench_dashboard")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        print(f"{db}:", flush=True)
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--db", db, "--runs", str(args.runs), "--db-name", args.db_name],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        lines = out.stdout.strip().splitlines()
        for line in lines[:-1]:
            print(line)
        result = json.loads(lines[-1])
        print(
            f"  rollup of {result['rollup_rows']:,} annotations from an empty watermark: {result['rollup_s']:.1f} s; "
            f"a run with nothing new: {result['rollup_idle_s'] * 1000:.0f} ms; progress refresh: "
            f"{result['progress_s']:.2f} s"
        )
        for name, page in result["pages"].items():
            print(
                f"  {name} page: median {page['median_ms']:.0f} ms, max {page['max_ms']:.0f} ms over {args.runs} "
                f"runs, {page['queries']} queries"
            )


if __name__ == "__main__":
    main()
