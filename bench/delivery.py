"""Delivery benchmark: build a delivery of 200,000 items × 5 = 1,000,000 annotations in all three
formats (JSON Lines, CSV, Parquet), from a fresh database.

    .venv/bin/python bench/delivery.py --db sqlite
    .venv/bin/python bench/delivery.py --db postgres
    .venv/bin/python bench/delivery.py --db sqlite --items 20000      # a quick run
    .venv/bin/python bench/delivery.py --db postgres --annotations    # also deliver the raw annotations

A child process (bench/quality.py's loader, not timed) creates the database, a project, 50
annotators, the items and the annotations with bulk SQL; the items are loaded without a content
hash, so the build hashes every item's content too. A second child computes the consensus labels
(quality.services.consensus.consensus_compute, Dawid–Skene: timed apart, as a lead's consensus run precedes a
delivery). This process then times `delivery.services.build.delivery_build`: reading the labels and content, the
stratified split and the leakage check, writing train and eval files in the three formats, the
sha256 of every file and the commit. Peak memory is this process's peak resident set size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _setup import fresh_database, peak_rss_mb  # noqa: E402

DB_NAME = "quorum_bench_delivery"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--overlap", type=int, default=5)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--labels", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--annotations", action="store_true", help="also deliver the raw annotations")
    parser.add_argument("--consensus-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.consensus_only:
        consensus_only()
        return

    media = Path(tempfile.mkdtemp(prefix="quorum-bench-delivery-"))
    os.environ["DJANGO_MEDIA_ROOT"] = str(media)
    fresh_database(args.db, DB_NAME)  # migrated; the child inherits DATABASE_URL / SQLITE_PATH
    command = [sys.executable, str(HERE / "quality.py"), "--load-only", "--db", args.db]
    for name in ("items", "overlap", "annotators", "labels", "seed"):
        command += [f"--{name}", str(getattr(args, name))]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"loaded in {time.perf_counter() - started:.1f} s (child process, not counted below)")

    from django.db import connection

    from accounts.models import User
    from config import celery_app
    from delivery.services.build import delivery_build, delivery_create
    from projects.models import Project

    project = Project.objects.get(name="Bench quality")
    lead = User.objects.get(username="bench-lead")
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--consensus-only", "--db", args.db], check=True)
    print(f"consensus in {time.perf_counter() - started:.1f} s (child process, not counted below)")
    if connection.vendor == "postgresql":  # planner statistics after the bulk load, as autovacuum would
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    # Queue without running (the in-memory broker holds the message): the build is timed alone.
    celery_app.conf.task_always_eager = False
    delivery = delivery_create(
        project=project,
        actor=lead,
        formats=["jsonl", "csv", "parquet"],
        include_annotations=args.annotations,
        eval_share=0.2,
        seed=1,
    )
    before = peak_rss_mb()
    started = time.perf_counter()
    delivery = delivery_build(delivery_id=delivery.pk)
    seconds = time.perf_counter() - started
    counts = delivery.manifest["counts"]
    total_bytes = sum(entry["bytes"] for entry in delivery.files)
    print(
        f"delivery v{delivery.version} from {args.db}: {counts['items']:,} items "
        f"(train {counts['by_split']['train']:,}, eval {counts['by_split']['eval']:,}), "
        f"{counts['annotations']:,} annotation rows, {len(delivery.files)} files, {total_bytes / 1e6:.0f} MB"
    )
    for entry in delivery.files:
        print(f"  {entry['name']:<22} {entry['rows']:>9,} rows {entry['bytes'] / 1e6:8.1f} MB")
    print(f"build: {seconds:.1f} s, peak RSS {peak_rss_mb():.0f} MB (before the build: {before:.0f} MB)")
    print(f"files under {media} (remove by hand)")


def consensus_only() -> None:
    """(Child process) The consensus labels a lead computes before delivering (Dawid–Skene)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from projects.models import Project
    from quality.services.consensus import consensus_compute

    started = time.perf_counter()
    summary = consensus_compute(project_id=Project.objects.get(name="Bench quality").pk)
    print(
        f"  consensus ({summary['method']}, {summary['items']:,} items): {time.perf_counter() - started:.1f} s, "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
