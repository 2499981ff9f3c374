"""gunicorn's settings for Quorum (gunicorn reads ./gunicorn.conf.py when started from this folder).

What bench/throughput.py measures (bench/README.md, throughput): threaded workers, so a request
waiting on PostgreSQL leaves the process to another; two processes per core pair at most, since
each runs Python under its own lock. Every value can be set from the environment:

- WEB_CONCURRENCY: worker processes (default 2);
- GUNICORN_THREADS: threads per worker (default 4);
- GUNICORN_WORKER_CONNECTIONS: connections one worker holds at most (default 1000). A kept-alive
  connection stays with the worker that accepted it, so clients that connect directly with
  keep-alive can pile onto one worker while another idles (17 of 20 in a bench run); a cap near
  (clients / workers) spreads them. Behind a proxy that opens a connection per request it does
  not matter;
- GUNICORN_KEEPALIVE: seconds an idle connection is kept (default 75);
- HOST: the address to listen on (default 127.0.0.1, this machine only; set HOST=0.0.0.0 to
  listen on every interface, as the Dockerfile does, and put a TLS proxy in front);
- PORT: the port to listen on (default 8000).

No access log (the proxy in front keeps one); add `--access-logfile -` to the command for one.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
