"""Server cost of one annotation cycle, in process: CPU milliseconds and SQL queries per
next → submit, through Django's full request path (middleware, DRF, token auth) with no HTTP
server and no concurrency, so the figure is steady even on a loaded machine.

    python bench/cycle_profile.py --db postgres                 # CPU ms and queries per cycle
    python bench/cycle_profile.py --db sqlite --cycles 2000
    python bench/cycle_profile.py --db postgres --profile 40    # and the top 40 functions (cProfile)

A fresh database (as bench/throughput.py makes it: 6 labels, overlap 3, gold and dynamic overlap
off) with `--items` items and `--annotators` annotators with tokens; DEBUG off. The annotators
take turns, one cycle each, so each request authenticates a different token like the real
workload. CPU is this process's (time.process_time); the database server's own CPU is not in it.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--db-name", default="quorum_bench_cycle")
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions by own time")
    parser.add_argument("--gold-rate", type=float, default=0.0, help="the project's gold rate (no gold items)")
    parser.add_argument("--graphic-cap", type=int, default=0, help="the project's daily graphic cap")
    args = parser.parse_args()

    os.environ.update(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-cycle-profile-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_LOG_LEVEL": "WARNING",
        }
    )
    from _setup import demo_project, fresh_database
    from import_items import generate

    path = Path(f"/tmp/quorum-bench-{args.items}.jsonl")
    if not path.exists():
        generate(path, args.items)
    fresh_database(args.db, args.db_name)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from annotation import services

    lead, project, people = demo_project(annotators=args.annotators)
    type(project).objects.filter(pk=project.pk).update(gold_rate=args.gold_rate, graphic_daily_cap=args.graphic_cap)
    job = services.import_job_create(project=project, actor=lead, batch_name="bench", source_path=str(path))
    services.import_job_run(job_id=job.pk, source_path=str(path))
    clients = []
    for person in people:
        key = Token.objects.create(user=person).key
        clients.append(Client(HTTP_AUTHORIZATION=f"Token {key}"))
    body = json.dumps({"project": project.pk})

    def cycle(client: Client) -> None:
        response = client.post("/api/v1/assignments/next/", body, content_type="application/json")
        assert response.status_code == 200, response.content
        work = response.json()
        labels = json.dumps({"labels": [work["labels"][0]["key"]], "time_spent_ms": 900})
        response = client.post(f"/api/v1/assignments/{work['id']}/submit/", labels, content_type="application/json")
        assert response.status_code == 200, response.content

    for client in clients:  # warm-up: every code path and per-process cache loaded
        cycle(client)
    with CaptureQueriesContext(connection) as queries:
        cycle(clients[0])
    per_cycle = [q["sql"] for q in queries.captured_queries]

    # CPU time, not wall: waits on the database are not the process's work.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    backend = _backend_pid(connection)
    started_db = _process_cpu(backend)
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for index in range(args.cycles):
        cycle(clients[index % len(clients)])
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started_wall
    database = _process_cpu(backend) - started_db
    print(
        f"{args.db}: {args.cycles} cycles, {cpu / args.cycles * 1000:.2f} ms CPU and "
        f"{wall / args.cycles * 1000:.2f} ms wall per cycle, {len(per_cycle)} queries per cycle"
        + (f"; PostgreSQL backend {database / args.cycles * 1000:.2f} ms CPU per cycle" if backend else "")
    )
    for sql in per_cycle:
        print("   ", sql[:160])
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(args.profile)


def _backend_pid(connection) -> int | None:
    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def _process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of process `pid` (the PostgreSQL backend on this machine)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
