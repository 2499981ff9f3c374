"""Import benchmark: N short text items from JSON Lines into a fresh database.

    python bench/import_items.py --rows 100000 --db sqlite
    python bench/import_items.py --rows 1000000 --db postgres
    python bench/import_items.py --rows 1000000 --db postgres --existing 1000000 --dbname quorum_imports

Prints wall seconds for the import (file read, row checks, duplicate checks, inserts, commit) and
the process's peak resident memory. The file is generated beforehand in a separate process, so
neither its generation nor its size counts against the import.

With --existing N the project first gets N other items (imported from a file of their own, then
VACUUM ANALYZE, the state autovacuum leaves a table in), so every chunk of the timed import asks
the database which of its ids exist; the plan of that look-up is printed after the run.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORDS = [
    "spam",
    "scam",
    "offer",
    "click",
    "free",
    "win",
    "great",
    "post",
    "today",
    "friends",
    "photo",
    "news",
    "video",
    "love",
    "hate",
    "fight",
    "group",
]


def generate(path: Path, rows: int, prefix: str = "bench") -> None:
    rng = random.Random(42 if prefix == "bench" else 7)
    with path.open("w") as handle:
        for index in range(rows):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24)))
            handle.write(
                json.dumps(
                    {"external_id": f"{prefix}-{index}", "text": text, "language": "en", "priority": rng.randint(0, 3)}
                )
                + "\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--existing", type=int, default=0, help="items the project has before the import")
    parser.add_argument("--dbname", default="quorum_bench_import")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--prefix", default="bench")
    args = parser.parse_args()
    path = Path(f"/tmp/quorum-{args.prefix}-{args.rows}.jsonl")
    if args.generate_only:
        generate(path, args.rows, args.prefix)
        return
    old_path = Path(f"/tmp/quorum-old-{args.existing}.jsonl")
    for needed, rows, prefix in ((path, args.rows, "bench"), (old_path, args.existing, "old")):
        if rows and not needed.exists():
            subprocess.run(
                [sys.executable, __file__, "--rows", str(rows), "--prefix", prefix, "--generate-only"], check=True
            )

    sys.path.insert(0, str(HERE))
    from _setup import demo_project, fresh_database, peak_rss_mb

    fresh_database(args.db, args.dbname)
    from django.db import connection

    from annotation import services
    from annotation.models import Item

    lead, project, _ = demo_project()
    if args.existing:
        job = services.import_job_create(project=project, actor=lead, batch_name="old", source_path=str(old_path))
        job = services.import_job_run(job_id=job.pk, source_path=str(old_path))
        assert job.status == "succeeded" and job.items_created == args.existing, job.message
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE annotation_item" if args.db == "postgres" else "ANALYZE")
    job = services.import_job_create(project=project, actor=lead, batch_name="bench", source_path=str(path))
    started = time.perf_counter()
    job = services.import_job_run(job_id=job.pk, source_path=str(path))
    seconds = time.perf_counter() - started
    assert job.status == "succeeded", job.message
    assert Item.objects.filter(project=project).count() == args.rows + args.existing
    print(
        f"import {args.rows:,} items ({path.stat().st_size / 1e6:.0f} MB JSONL) into a project with "
        f"{args.existing:,} items on {args.db}: "
        f"{seconds:.1f} s, {args.rows / seconds:,.0f} rows/s, peak RSS {peak_rss_mb():.0f} MB"
    )
    if args.existing and args.db == "postgres":
        from annotation.sql import existing_external_ids_sql

        ids = [f"bench-{index}" for index in range(0, 10_000, 2)]
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + existing_external_ids_sql("postgresql"), [project.pk, ids])
            print("\n".join(row[0][:120] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
