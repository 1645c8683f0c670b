"""gunicorn settings for production (`gunicorn -c config/gunicorn.py config.wsgi`).

Behind the buffering proxy (deploy/nginx), requests reach gunicorn whole and responses
are read from it at the proxy's pace, so workers never wait on slow clients. Threaded
workers (gthread) keep a streaming export from blocking a worker's other requests, and
their heartbeat is the worker's own, so a long export is not killed as a hung worker
the way a sync worker's `timeout` would kill it mid-stream.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
# Two processes per core (the GIL) with a few threads each: I/O-bound API requests.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 30  # the proxy keeps upstream connections open (nginx `keepalive 16`)
# No max_requests: a gthread worker recycled that way can cut a request in progress
# (gunicorn issue 1493), and a cut export would be a truncated document.
# The proxy answers over-long request lines and headers itself (as JSON); these are
# gunicorn's own limits, set just above the proxy's so they are never reached through it.
limit_request_line = 8190
limit_request_field_size = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
accesslog = "-"
errorlog = "-"
