"""Server cost of one annotation cycle, in process: CPU milliseconds and SQL queries per
next → submit, through Django's full request path (the WSGI application gunicorn calls:
middleware, URL resolving, views, token auth) with no HTTP server and no concurrency, so the
figure is steadier than the throughput on a loaded machine.

    python bench/cycle_profile.py --db postgres                 # CPU ms and queries per cycle
    python bench/cycle_profile.py --db sqlite --cycles 2000
    python bench/cycle_profile.py --db postgres --profile 40    # and the top 40 functions (cProfile)
    QUORUM_TOKEN_CACHE_SECONDS=3600 valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file=/tmp/cycle.%p python bench/cycle_profile.py --db postgres --items 2000 \
        --cycles 100 --instructions                             # instructions: `grep totals /tmp/cycle.*`

A fresh database (as bench/throughput.py makes it: 6 labels, overlap 3, gold and dynamic overlap
off) with `--items` items and `--annotators` annotators with tokens; DEBUG off. The annotators
take turns, one cycle each, so each request authenticates a different token like the real
workload. Requests go to config.wsgi.application as gunicorn hands them over (the environ of an
http.client request, the body as wsgi.input, the response iterated and closed), not through
Django's test client, whose own work (about 1.5 ms a cycle) gunicorn does not do; `--client test`
measures through the test client as this script did before 2026-11-22 22:00 UTC.
CPU is this process's (time.process_time); the database backend's CPU is printed beside it, and
on PostgreSQL the WAL a cycle writes. On a shared machine CPU time swings by half from run to run;
the WAL bytes and callgrind's instruction count (--instructions, above; the token memory set long
so that valgrind's slowness does not expire it) do not.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
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
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="under `valgrind --tool=callgrind --instr-atstart=no`: count instructions of the measured cycles only",
    )
    parser.add_argument("--client", choices=["wsgi", "test"], default="wsgi", help="how requests reach Django")
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
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from annotation import services

    lead, project, people = demo_project(annotators=args.annotators)
    type(project).objects.filter(pk=project.pk).update(gold_rate=args.gold_rate, graphic_daily_cap=args.graphic_cap)
    job = services.import_job_create(project=project, actor=lead, batch_name="bench", source_path=str(path))
    services.import_job_run(job_id=job.pk, source_path=str(path))
    keys = [Token.objects.create(user=person).key for person in people]
    post = _wsgi_post if args.client == "wsgi" else _test_client_post
    clients = [post(key) for key in keys]
    body = json.dumps({"project": project.pk}).encode()

    def cycle(client) -> None:
        status, content = client("/api/v1/assignments/next/", body)
        assert status == 200, content
        work = json.loads(content)
        labels = json.dumps({"labels": [work["labels"][0]["key"]], "time_spent_ms": 900}).encode()
        status, content = client(f"/api/v1/assignments/{work['id']}/submit/", labels)
        assert status == 200, content

    for client in clients:  # warm-up: every code path and per-process cache loaded
        cycle(client)
    with CaptureQueriesContext(connection) as queries:
        cycle(clients[0])
    per_cycle = [q["sql"] for q in queries.captured_queries]

    # CPU time, not wall: waits on the database are not the process's work.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    backend = _backend_pid(connection)
    started_db, started_wal = _process_cpu(backend), _wal_position(connection)
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    if args.instructions:
        _callgrind("--instr=on")
    for index in range(args.cycles):
        cycle(clients[index % len(clients)])
    if args.instructions:
        _callgrind("--instr=off")
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started_wall
    database = _process_cpu(backend) - started_db
    wal = _wal_position(connection) - started_wal
    print(
        f"{args.db}: {args.cycles} cycles, {cpu / args.cycles * 1000:.2f} ms CPU and "
        f"{wall / args.cycles * 1000:.2f} ms wall per cycle, {len(per_cycle)} queries per cycle"
        + (f"; PostgreSQL backend {database / args.cycles * 1000:.2f} ms CPU per cycle" if backend else "")
        + (f", {wal / args.cycles:,.0f} bytes of WAL per cycle" if backend else "")
    )
    for sql in per_cycle:
        print("   ", sql[:160])
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(args.profile)


def _callgrind(command: str) -> None:
    """Switch callgrind's instrumentation of this process (run under valgrind --instr-atstart=no)."""
    subprocess.run(["callgrind_control", command, str(os.getpid())], check=True, capture_output=True)


def _wsgi_post(key: str):
    """A poster of JSON bodies straight to the WSGI application, as gunicorn calls it."""
    from config.wsgi import application

    headers = {
        "HTTP_HOST": "testserver",
        "HTTP_ACCEPT_ENCODING": "identity",
        "HTTP_AUTHORIZATION": f"Token {key}",
        "CONTENT_TYPE": "application/json",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }

    def post(path: str, body: bytes) -> tuple[int, bytes]:
        answer: list[str] = []
        environ = {
            **headers,
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        result = application(environ, lambda status, response_headers, exc_info=None: answer.append(status))
        try:
            content = b"".join(result)
        finally:
            result.close()  # request_finished, as a WSGI server does
        return int(answer[0].split(" ", 1)[0]), content

    return post


def _test_client_post(key: str):
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {key}")

    def post(path: str, body: bytes) -> tuple[int, bytes]:
        response = client.post(path, body, content_type="application/json")
        return response.status_code, response.content

    return post


def _backend_pid(connection) -> int | None:
    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def _wal_position(connection) -> int:
    """PostgreSQL's WAL insert position in bytes (0 elsewhere): the WAL a cycle writes is its
    write work (rows, index entries, locks), and unlike CPU it does not depend on the machine's load."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
        return int(cursor.fetchone()[0])


def _process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of process `pid` (the PostgreSQL backend on this machine)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
