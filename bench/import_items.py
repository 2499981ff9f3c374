"""Import benchmark: N short text items from JSON Lines into a fresh database.

    python bench/import_items.py --rows 100000 --db sqlite
    python bench/import_items.py --rows 1000000 --db postgres

Prints wall seconds for the import (file read, row checks, duplicate checks, inserts, commit) and
the process's peak resident memory. The file is generated beforehand in a separate process, so
neither its generation nor its size counts against the import.
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


def generate(path: Path, rows: int) -> None:
    rng = random.Random(42)
    with path.open("w") as handle:
        for index in range(rows):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24)))
            handle.write(
                json.dumps(
                    {"external_id": f"bench-{index}", "text": text, "language": "en", "priority": rng.randint(0, 3)}
                )
                + "\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    path = Path(f"/tmp/quorum-bench-{args.rows}.jsonl")
    if args.generate_only:
        generate(path, args.rows)
        return
    if not path.exists():
        subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--generate-only"], check=True)

    sys.path.insert(0, str(HERE))
    from _setup import demo_project, fresh_database, peak_rss_mb

    fresh_database(args.db, "quorum_bench_import")
    from annotation import services
    from annotation.models import Item

    lead, project, _ = demo_project()
    job = services.import_job_create(project=project, actor=lead, batch_name="bench", source_path=str(path))
    started = time.perf_counter()
    job = services.import_job_run(job_id=job.pk, source_path=str(path))
    seconds = time.perf_counter() - started
    assert job.status == "succeeded", job.message
    assert Item.objects.filter(project=project).count() == args.rows
    print(
        f"import {args.rows:,} items ({path.stat().st_size / 1e6:.0f} MB JSONL) on {args.db}: "
        f"{seconds:.1f} s, {args.rows / seconds:,.0f} rows/s, peak RSS {peak_rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
