"""Decompression-bomb benchmark: a small Parquet file that decodes to 5000 × 100,000 characters.

    python bench/import_bomb.py                 # the file's size, then the import's peak RSS
    python bench/import_bomb.py --chars 100001  # every value one over the limit: all refused

Writes the file (one dictionary-encoded text column repeating one value, zstd), then imports it
into a fresh SQLite database in a child process, and prints the child's wall time, outcome and
peak resident memory (getrusage(RUSAGE_SELF).ru_maxrss at the end of the child: the import's
high-water mark, which includes the ~210 MB of Django, pandas and pyarrow loaded beforehand).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def write(path: Path, rows: int, chars: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Built as a dictionary (one value, `rows` indices), so writing the file never holds the
    # decoded column: the parent's memory would otherwise be counted in the child's ru_maxrss,
    # which Linux carries over a fork and exec.
    text = pa.DictionaryArray.from_arrays(pa.array([0] * rows, type=pa.int32()), pa.array(["x" * chars]))
    table = pa.table({"external_id": [f"bomb-{i}" for i in range(rows)], "text": text})
    pq.write_table(table, path, compression="zstd")


def child(path: Path, mode: str) -> None:
    sys.path.insert(0, str(HERE))
    from _setup import demo_project, fresh_database, peak_rss_mb

    fresh_database("sqlite", "quorum_bench_bomb")
    from annotation import services

    lead, project, _ = demo_project()
    job = services.import_job_create(
        project=project, actor=lead, batch_name="bomb", source_path=str(path), mode=mode, fmt="parquet"
    )
    started = time.perf_counter()
    job = services.import_job_run(job_id=job.pk, source_path=str(path))
    seconds = time.perf_counter() - started
    print(
        f"{job.status}: {job.items_created} items, {job.rows_invalid} bad rows in {seconds:.1f} s; "
        f"peak RSS {peak_rss_mb():.0f} MB; {job.message[:160]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--mode", default="skip_bad_rows")
    parser.add_argument("--child", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mode)
        return
    path = Path(f"/tmp/quorum-bomb-{args.rows}x{args.chars}.parquet")
    write(path, args.rows, args.chars)
    print(
        f"{path.name}: {path.stat().st_size / 1024:.1f} KB on disk, decodes to {args.rows} x {args.chars:,} characters"
    )
    subprocess.run([sys.executable, __file__, "--child", str(path), "--mode", args.mode], check=True)


if __name__ == "__main__":
    main()
