"""gunicorn settings for `bench/throughput.py --profile`: each worker runs its requests under
cProfile and writes the profile to $QUORUM_PROFILE_DIR when it exits.

With threaded workers, cProfile sees only the thread it was enabled in; so the request handler
is wrapped, and each request is profiled into one Profile per worker (the threads take turns on
it under a lock, which serialises the worker: use --threads 1 when profiling).
"""

from __future__ import annotations

import cProfile
import os
import threading

_profile = cProfile.Profile()
_lock = threading.Lock()


def post_worker_init(worker):
    application = worker.wsgi

    def profiled(environ, start_response):
        with _lock:
            _profile.enable()
            try:
                return application(environ, start_response)
            finally:
                _profile.disable()

    worker.wsgi = profiled


def worker_exit(server, worker):
    directory = os.environ.get("QUORUM_PROFILE_DIR", "/tmp")
    _profile.dump_stats(os.path.join(directory, f"worker-{os.getpid()}.prof"))
