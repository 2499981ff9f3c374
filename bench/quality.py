"""Quality engine benchmark: the numerical report on synthetic annotations, in memory or from a database.

    .venv/bin/python bench/quality.py                       # 200,000 items × 5 = 1,000,000 annotations
    .venv/bin/python bench/quality.py --annotators 5        # every item labelled by the same 5 people
    .venv/bin/python bench/quality.py --bootstrap items     # draw item indices, not row patterns
    .venv/bin/python bench/quality.py --items 20000 --resamples 200
    .venv/bin/python bench/quality.py --db postgres         # the same annotations in a fresh database
    .venv/bin/python bench/quality.py --db sqlite --consensus

The annotations are generated in numpy (true labels from a skewed prior, a pool of annotators of
varied accuracy with some systematic confusions and a few spammers, `--overlap` distinct annotators
per item). Generation is not timed.

Without `--db`: times `quality.report.quality_report` on the codes in memory (alpha with a
`--resamples` bootstrap CI, ordinal alpha over severity, Fleiss, observed agreement, per-label
alpha, coincidences, per-annotator agreement, pairwise Cohen's kappa, majority vote, Dawid–Skene,
adjudication queue), then our alpha alone against the bare `krippendorff.alpha(value_counts=...)`
call on the same matrix.

With `--db sqlite|postgres`: a child process creates a fresh database (SQLite file or a new
PostgreSQL database), a project, the annotators, the items and the annotations with bulk SQL
(binary COPY on PostgreSQL, executemany on SQLite; not timed). This process then times
`quality.services.reports.agreement_report_compute` — the full stored report, loading from the database
included — and, on the same data, alpha as of now the way the API serves it
(`quality.services.reports.project_alpha_compute`: the kept per-item value counts plus the annotations
past their watermark, then alpha) cold (no kept counts: every annotation read), warm (kept counts
current) and 10,000 annotations behind, against the bare `krippendorff.alpha` call on the same
matrix. `--consensus` also times
`consensus_compute` (Dawid–Skene, 200,000 rows written). Peak memory is this process's peak
resident set size (the loading child's memory is not counted).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(*, items: int, overlap: int, annotators: int, labels: int, seed: int):
    """(item, annotator, label) codes, the true labels and each annotator's confusion matrix."""
    rng = np.random.default_rng(seed)
    prior = 0.6 ** np.arange(labels)
    prior /= prior.sum()
    truth = rng.choice(labels, size=items, p=prior)
    accuracy = rng.uniform(0.65, 0.95, size=annotators)
    confusion = np.empty((annotators, labels, labels))
    for a in range(annotators):  # per annotator, not per annotation
        noise = rng.dirichlet(np.ones(labels), size=labels)
        neighbour = np.roll(np.eye(labels), 1, axis=1)  # a systematic confusion: label k read as k + 1
        errors = 0.5 * noise + 0.5 * neighbour
        errors[np.arange(labels), np.arange(labels)] = 0
        errors /= errors.sum(axis=1, keepdims=True)
        confusion[a] = accuracy[a] * np.eye(labels) + (1 - accuracy[a]) * errors
    spammers = rng.choice(annotators, size=max(1, annotators // 10), replace=False) if annotators > 5 else []
    confusion[spammers] = 1.0 / labels
    if overlap > annotators:
        raise SystemExit(f"--overlap {overlap} needs at least that many annotators")
    if overlap == annotators:
        who = np.tile(np.arange(annotators), (items, 1))
    else:
        who = np.argpartition(rng.random((items, annotators)), overlap, axis=1)[:, :overlap]
    item_codes = np.repeat(np.arange(items), overlap)
    annotator_codes = who.ravel()
    cumulative = confusion.cumsum(axis=2)[annotator_codes, truth[item_codes]]
    label_codes = (rng.random(len(item_codes))[:, None] > cumulative[:, :-1]).sum(axis=1)
    return item_codes, annotator_codes, label_codes.astype(np.int64), truth, confusion


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--overlap", type=int, default=5)
    parser.add_argument("--annotators", type=int, default=50, help="size of the annotator pool")
    parser.add_argument("--labels", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--bootstrap", choices=["auto", "items", "patterns"], default="auto")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", choices=["sqlite", "postgres"], help="load into a fresh database and time from there")
    parser.add_argument("--reader", choices=["auto", "orm", "packed"], default="auto", help="with --db: how to read")
    parser.add_argument("--consensus", action="store_true", help="with --db: also time consensus_compute")
    parser.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.load_only:
        db_load(args)
    elif args.db:
        db_main(args)
    else:
        memory_main(args)


def memory_main(args: argparse.Namespace) -> None:
    import krippendorff

    from quality.agreement.alpha import krippendorff_alpha
    from quality.agreement.matrices import value_counts
    from quality.report import quality_report

    items, annotators, labels, truth, _ = synthetic(
        items=args.items, overlap=args.overlap, annotators=args.annotators, labels=args.labels, seed=args.seed
    )
    severity = np.arange(args.labels) * 5 // args.labels  # labels spread over severities 0..4
    print(
        f"{len(items):,} annotations: {args.items:,} items × {args.overlap}, pool of {args.annotators} annotators, "
        f"{args.labels} labels (synthetic, no database); generated, peak RSS so far {peak_rss_mb():.0f} MB"
    )

    started = time.perf_counter()
    report = quality_report(
        items,
        annotators,
        labels,
        n_items=args.items,
        n_annotators=args.annotators,
        n_categories=args.labels,
        severity=severity,
        n_resamples=args.resamples,
        bootstrap_method=args.bootstrap,
        seed=args.seed,
    )
    total = time.perf_counter() - started
    report_rss = peak_rss_mb()
    for name, seconds in report.seconds.items():
        print(f"  {name:<20} {seconds:7.3f} s")
    print(f"full report: {total:.2f} s, peak RSS {report_rss:.0f} MB")
    ds = report.dawid_skene
    print(
        f"  alpha {report.alpha.value:.4f} [{report.alpha_ci.low:.4f}, {report.alpha_ci.high:.4f}] "
        f"({args.resamples} resamples, {args.bootstrap}); Dawid–Skene {ds.iterations} iterations, converged={ds.converged}; "
        f"accuracy vs truth: majority {(report.majority.label == truth).mean():.4f}, "
        f"Dawid–Skene {(ds.label == truth).mean():.4f}; adjudication queue {len(report.adjudication):,} items"
    )

    counts = value_counts(items, labels, n_items=args.items, n_categories=args.labels)

    def best_of(function, repeat: int = 3) -> tuple[float, object]:
        times, result = [], None
        for _ in range(repeat):
            started = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - started)
        return min(times), result

    own_seconds, own = best_of(lambda: krippendorff_alpha(counts))
    from_rows_seconds, _ = best_of(
        lambda: krippendorff_alpha(value_counts(items, labels, n_items=args.items, n_categories=args.labels))
    )
    library_seconds, library = best_of(lambda: krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))
    print(
        f"alpha alone (best of 3): ours {own_seconds:.3f} s on the matrix, {from_rows_seconds:.3f} s from the "
        f"annotation rows; bare krippendorff.alpha {library_seconds:.3f} s; "
        f"difference {abs(own.value - library):.1e}; peak RSS after {peak_rss_mb():.0f} MB"
    )


# --- From a database ------------------------------------------------------------------------------

DB_NAME = "quorum_bench_quality"


def db_main(args: argparse.Namespace) -> None:
    """Fresh database, load it in a child process, then time the report service against it."""
    import subprocess

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _setup import fresh_database

    fresh_database(args.db, DB_NAME)  # migrated; the child inherits DATABASE_URL / SQLITE_PATH
    command = [sys.executable, __file__, "--load-only", "--db", args.db]
    for name in ("items", "overlap", "annotators", "labels", "seed"):
        command += [f"--{name}", str(getattr(args, name))]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"loaded in {time.perf_counter() - started:.1f} s (child process, not counted below)")

    import krippendorff
    from django.conf import settings
    from django.db import connection

    from projects.models import Project
    from quality import loading
    from quality.services.consensus import consensus_compute
    from quality.services.counts import label_counts_refresh, label_counts_store, value_counts_between
    from quality.services.reports import agreement_report_compute, project_alpha_compute

    project = Project.objects.get(name="Bench quality")
    if connection.vendor == "postgresql":  # planner statistics after the bulk load, as autovacuum would
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"before the report: peak RSS {peak_rss_mb():.0f} MB")

    started = time.perf_counter()
    report = agreement_report_compute(
        project_id=project.pk, bootstrap=args.resamples, seed=args.seed, reader=args.reader
    )
    total = time.perf_counter() - started
    report_rss = peak_rss_mb()
    for name, seconds in report.details["seconds"].items():
        print(f"  {name:<22} {seconds:7.3f} s")
    print(
        f"full report from {args.db} ({report.n_annotations:,} annotations, {report.n_items:,} items, reader "
        f"{args.reader}): {total:.2f} s, peak RSS {report_rss:.0f} MB"
    )
    print(
        f"  alpha {report.alpha:.4f} [{report.alpha_low:.4f}, {report.alpha_high:.4f}], ordinal {report.alpha_ordinal:.4f}, "
        f"Fleiss {report.fleiss_kappa:.4f}, observed {report.observed_agreement:.4f}, left out {report.n_items_left_out}"
    )

    if args.consensus:
        started = time.perf_counter()
        summary = consensus_compute(project_id=project.pk, reader=args.reader)
        print(
            f"consensus (Dawid–Skene, {summary['items']:,} rows written): {time.perf_counter() - started:.2f} s, "
            f"{summary['needs_adjudication']:,} to adjudicate; peak RSS {peak_rss_mb():.0f} MB"
        )

    def best_of(function, repeat: int = 3) -> tuple[float, float, object]:
        times, result = [], None
        for _ in range(repeat):
            started = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - started)
        return min(times), times[0], result

    # Alpha as of now, the way the API serves it: the kept value counts (LabelCounts) plus the
    # annotations past their watermark. Cold: no kept row, so every annotation is read and the
    # row is built. Warm: the row is current. Behind: the row stops 10,000 annotations short (as
    # after a burst of work), so those are read and folded in.
    from quality.models import LabelCounts

    settings.QUORUM_ROLLUP_SETTLE_SECONDS = 0  # the bench's annotations are all settled
    LabelCounts.objects.filter(project=project).delete()
    started = time.perf_counter()
    cold = project_alpha_compute(project_id=project.pk, reader=args.reader)
    cold_seconds = time.perf_counter() - started
    warm_seconds, warm_first, warm = best_of(lambda: project_alpha_compute(project_id=project.pk))
    behind_times = []
    for _ in range(3):
        kept = LabelCounts.objects.get(project=project)
        short = kept.through_annotation_id - 10_000
        space = loading.label_space(project_id=project.pk, schema_id=project.label_schema_id)
        counts, rows = value_counts_between(project.pk, space, after=0, upto=short, reader=args.reader)
        label_counts_store(project.pk, kept, counts, through=short, n_annotations=rows)
        started = time.perf_counter()
        behind = project_alpha_compute(project_id=project.pk, reader=args.reader)
        behind_times.append(time.perf_counter() - started)
    matrix = label_counts_refresh(project_id=project.pk).counts.counts
    library_seconds, library_first, library = best_of(
        lambda: krippendorff.alpha(value_counts=matrix, level_of_measurement="nominal")
    )
    print(
        f"alpha as of now (project_alpha_compute, loading included): cold {cold_seconds:.3f} s "
        f"(read {cold.annotations_read:,} annotations, built the kept counts); warm best of 3 {warm_seconds:.3f} s "
        f"(first {warm_first:.3f} s); 10,000 behind best of 3 {min(behind_times):.3f} s "
        f"(read {behind.annotations_read:,})"
    )
    print(
        f"bare krippendorff.alpha on the same matrix: best of 3 {library_seconds:.3f} s (first {library_first:.3f} s); "
        f"ratio warm {warm_seconds / library_seconds:.2f}, 10,000 behind {min(behind_times) / library_seconds:.2f}, "
        f"cold {cold_seconds / library_seconds:.2f}; difference {abs(warm.alpha.value - library):.1e}; "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )


def db_load(args: argparse.Namespace) -> None:
    """(Child process) A lead, the annotators, a 10-label schema, a project, and the items and
    annotations of `synthetic`, written with bulk SQL in one transaction."""
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import User
    from annotation import services as annotation_services
    from annotation.models import Annotation, Assignment, Batch, Item
    from annotation.selectors import guideline_current, schema_version_current
    from annotation.services.items import items_insert
    from projects.models import Membership, Project
    from workbench.services.lifecycle import project_create

    items, annotators, labels, _, _ = synthetic(
        items=args.items, overlap=args.overlap, annotators=args.annotators, labels=args.labels, seed=args.seed
    )
    started = time.perf_counter()
    lead = User.objects.create_user("bench-lead", password="bench-pass", role=User.Role.LEAD)
    severity = np.arange(args.labels) * 5 // args.labels  # labels spread over severities 0..4
    keys = [f"label{i}" for i in range(args.labels)]
    schema = annotation_services.schema_create(
        name="Bench quality policy",
        labels=[{"key": key, "name": key.title(), "severity": int(severity[i])} for i, key in enumerate(keys)],
        actor=lead,
    )
    project = project_create(
        actor=lead, name="Bench quality", lead=lead, label_schema=schema, default_overlap=args.overlap,
        max_overlap=max(args.overlap, 5), gold_rate=0, dynamic_overlap_threshold=0, graphic_daily_cap=0,
    )  # fmt: skip
    annotation_services.guideline_publish(project=project, body="Bench guideline", actor=lead)
    Project.objects.filter(pk=project.pk).update(phase=Project.Phase.PRODUCTION)
    people = User.objects.bulk_create(
        [User(username=f"bench-annotator-{i}", role=User.Role.ANNOTATOR, password="!") for i in range(args.annotators)]
    )
    Membership.objects.bulk_create(
        [Membership(project=project, user=person, role=Membership.Role.ANNOTATOR) for person in people]
    )
    people_ids = np.array([person.pk for person in people], dtype=np.int64)
    version = schema_version_current(schema_id=schema.pk)
    guideline = guideline_current(project=project)
    batch = Batch.objects.create(project=project, name="bench", created_by=lead)
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A fresh bench database and rows valid by construction: skip the deferred foreign-key
            # checks at commit (minutes for millions of rows). Needs a superuser, as the bench has.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        for start in range(0, args.items, 50_000):
            rows = [
                {
                    "external_id": f"bench-{index}", "modality": "text", "text": f"post {index}", "image_url": "",
                    "video_url": "", "audio_url": "", "ocr_text": "", "metadata": {}, "language": "",
                    "is_graphic": False, "is_gold": False, "gold_labels": None, "priority": 0,
                    "required_annotations": args.overlap, "content_hash": "",
                }
                for index in range(start, min(start + 50_000, args.items))
            ]  # fmt: skip
            items_insert(project_id=project.pk, batch_id=batch.pk, rows=rows)
        item_ids = np.array(
            Item.objects.filter(project=project).order_by("id").values_list("id", flat=True), dtype=np.int64
        )
        n = len(items)
        ids = np.arange(1, n + 1, dtype=np.int64)
        item_column, annotator_column = item_ids[items], people_ids[annotators]
        _bulk_annotations(
            connection, project.pk, version.pk, guideline.pk, ids, item_column, annotator_column, labels, keys, now
        )
        with connection.cursor() as cursor:
            for model in (Assignment, Annotation):
                table = model._meta.db_table
                if connection.vendor == "postgresql":
                    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})")
    print(
        f"  loaded {n:,} annotations ({args.items:,} items × {args.overlap}, {args.labels} labels) into "
        f"{connection.vendor} in {time.perf_counter() - started:.1f} s"
    )


def _bulk_annotations(connection, project_id, version_id, guideline_id, ids, items, annotators, labels, keys, now):
    """The submitted assignments and their annotations (annotation i on assignment i): binary COPY
    on PostgreSQL, one executemany per table on SQLite."""
    from annotation.models import Annotation, Assignment

    assignment_sql = (
        f"{Assignment._meta.db_table} (id, project_id, item_id, annotator_id, status, is_gold, leased_at, "
        "expires_at, finished_at, skip_reason)"
    )
    annotation_sql = (
        f"{Annotation._meta.db_table} (id, assignment_id, project_id, item_id, annotator_id, labels, "
        "schema_version_id, guideline_id, time_spent_ms, comment, submitted_at)"
    )
    columns = list(zip(ids.tolist(), items.tolist(), annotators.tolist(), labels.tolist(), strict=True))
    if connection.vendor == "postgresql":
        from psycopg.types.json import Jsonb

        answers = [Jsonb([key]) for key in keys]
        connection.ensure_connection()
        with connection.connection.cursor() as raw:
            with raw.copy(f"COPY {assignment_sql} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(
                    [
                        "int8",
                        "int8",
                        "int8",
                        "int8",
                        "varchar",
                        "bool",
                        "timestamptz",
                        "timestamptz",
                        "timestamptz",
                        "varchar",
                    ]
                )
                for i, item, annotator, _ in columns:
                    copy.write_row((i, project_id, item, annotator, "submitted", False, now, now, now, ""))
            with raw.copy(f"COPY {annotation_sql} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(
                    ["int8", "int8", "int8", "int8", "int8", "jsonb", "int8", "int8", "int4", "text", "timestamptz"]
                )
                for i, item, annotator, label in columns:
                    copy.write_row(
                        (i, i, project_id, item, annotator, answers[label], version_id, guideline_id, 0, "", now)
                    )
        return
    import orjson

    answers = [orjson.dumps([key]).decode() for key in keys]
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {assignment_sql} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (i, project_id, item, annotator, "submitted", False, stamp, stamp, stamp, "")
                for i, item, annotator, _ in columns
            ],
        )
        cursor.executemany(
            f"INSERT INTO {annotation_sql} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (i, i, project_id, item, annotator, answers[label], version_id, guideline_id, 0, "", stamp)
                for i, item, annotator, label in columns
            ],
        )


if __name__ == "__main__":
    main()
