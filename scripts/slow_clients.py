"""Slow clients cannot stall the service: the production shape, measured locally.

Starts the app as production runs it (gunicorn with config/gunicorn.py and the production
settings, on a throwaway SQLite database holding the real plan) behind nginx with
deploy/nginx/workplan.conf.template, both from Debian's packages, on loopback ports of
its own. It measures normal requests, then opens 50 connections that stay idle or
trickle their headers a byte at a time, measures again, and prints the p50/p99 latencies
and their ratio, both through the proxy and (for contrast) straight at gunicorn.

    .venv/bin/python scripts/slow_clients.py        # needs nginx: apt-get install nginx-light

Exit status 0 when, through the proxy, the p50 under attack stays within 2x of normal.
Not part of the test suite: it takes about a minute and measures time.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v1/projects/?page_size=20"


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port} after {timeout} s")


def latencies(port: int, count: int, timeout: float = 10) -> tuple[list[float], int]:
    """Sequential GETs on fresh connections; returns (seconds per answer, failures)."""
    times, failures = [], 0
    for _ in range(count):
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.request("GET", PATH, headers={"Host": "localhost"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status != 200:
                failures += 1
                continue
        except OSError:
            failures += 1
            continue
        times.append(time.monotonic() - started)
    return times, failures


class Attack:
    """`count` connections: half idle after connecting, half trickling a header byte a second."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def _idle(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(b"GET /api/v1/pillars/ HTTP/1.1\r\nHost: localhost\r\n")
                self.stop.wait()
        except OSError:
            pass

    def _trickle(self) -> None:
        request = b"GET /api/v1/pillars/ HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 500
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                for byte in request:
                    if self.stop.wait(1):
                        return
                    sock.sendall(bytes([byte]))
        except OSError:
            pass  # the server gave up on us: that is the point

    def __enter__(self) -> Attack:
        for index in range(self.count):
            target = self._idle if index % 2 else self._trickle
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self.threads.append(thread)
        time.sleep(2)  # let every connection open and settle
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def measure(
    name: str, port: int, requests: int, attackers: int, timeout: float = 10
) -> dict[str, float]:
    normal, normal_failed = latencies(port, requests, timeout)
    with Attack(port, attackers):
        attacked, attacked_failed = latencies(port, requests, timeout)
    row = {
        "normal_p50": statistics.median(normal) if normal else float("nan"),
        "normal_p99": p(normal, 0.99),
        "attacked_p50": statistics.median(attacked) if attacked else float("nan"),
        "attacked_p99": p(attacked, 0.99),
        "failed": normal_failed + attacked_failed,
    }
    row["ratio"] = row["attacked_p50"] / row["normal_p50"]
    print(
        f"{name:<22} normal p50 {row['normal_p50'] * 1000:7.1f} ms  p99 "
        f"{row['normal_p99'] * 1000:7.1f} ms | with {attackers} slow clients p50 "
        f"{row['attacked_p50'] * 1000:7.1f} ms  p99 {row['attacked_p99'] * 1000:7.1f} ms | "
        f"ratio {row['ratio']:5.2f}x | failed {int(row['failed'])} of {2 * requests}",
        flush=True,
    )
    return row


def start_proxy(work: Path, app_port: int, proxy_port: int) -> subprocess.Popen[bytes]:
    """nginx with deploy/nginx/workplan.conf.template, from `work`, in front of gunicorn."""
    template = (ROOT / "deploy/nginx/workplan.conf.template").read_text()
    (work / "workplan.conf").write_text(
        template.replace("${WORKPLAN_UPSTREAM}", f"127.0.0.1:{app_port}").replace(
            "${WORKPLAN_LISTEN}", f"127.0.0.1:{proxy_port}"
        )
    )
    (work / "nginx.conf").write_text(
        f"pid {work}/nginx.pid;\nerror_log {work}/error.log;\nworker_processes 1;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n access_log off;\n client_body_temp_path {work};\n proxy_temp_path {work};\n"
        f" include {work}/workplan.conf;\n}}\n"
    )
    return subprocess.Popen(
        ["nginx", "-c", str(work / "nginx.conf"), "-p", str(work), "-g", "daemon off;"],
        stderr=open(work / "nginx.log", "w"),  # noqa: SIM115
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-port", type=int, default=18081)
    parser.add_argument("--proxy-port", type=int, default=18080)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--attackers", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("nginx") is None:
        print("nginx is not installed: apt-get install nginx-light", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="slow-clients-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "API_PUBLIC_URL": "http://localhost",
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "GUNICORN_BIND": f"127.0.0.1:{args.app_port}",
        # Few workers, as on a small host: exactly what idle connections could exhaust.
        "WEB_CONCURRENCY": "2",
        "API_THROTTLE_ANON": "100000/minute",
    }
    env.pop("REDIS_URL", None)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([python, "manage.py", "load_workplan"], cwd=ROOT, env=env, check=True)
    app = subprocess.Popen(
        [python, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "gunicorn.log", "w"),  # noqa: SIM115
    )
    proxy = start_proxy(work, args.app_port, args.proxy_port)
    try:
        wait_for(args.app_port)
        wait_for(args.proxy_port)
        latencies(args.proxy_port, 10)  # warm up
        print(f"{args.attackers} slow clients, {args.requests} requests of GET {PATH} each way")
        through_proxy = measure("through nginx", args.proxy_port, args.requests, args.attackers)
        # Fewer requests with a short timeout: straight at gunicorn they mostly wait.
        direct = measure("gunicorn directly", args.app_port, 10, args.attackers, timeout=3)
    finally:
        proxy.terminate()
        app.terminate()
        proxy.wait(10)
        app.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    ok = through_proxy["ratio"] <= 2 and through_proxy["failed"] == 0
    print(
        "PASS: through the proxy, slow clients do not delay normal requests beyond 2x"
        if ok
        else "FAIL: through the proxy, normal requests slowed down beyond 2x or failed"
    )
    print(
        f"(straight at gunicorn the same clients give {direct['ratio']:.2f}x and "
        f"{int(direct['failed'])} failures: what the proxy is there for)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
