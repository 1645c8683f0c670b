"""Real PostgreSQL, Redis, gunicorn and task workers started on loopback ports of their
own, to show what the service does when one of them fails: the worker fault tests
(tests/test_faults_live.py), scripts/two_instances.py and scripts/reliability.py use it.
PostgreSQL and Redis are tests/faults.py's servers; gunicorn runs with config/gunicorn.py
as in production, and the worker as `make run` runs it.

Every server runs from a throwaway directory and is stopped by the context managers here;
nothing shared is touched. PostgreSQL comes from the machine's packages (initdb, pg_ctl:
apt-get install postgresql), Redis from redis-server (apt-get install redis-server).
Ports: `LIVE_PORTS=19100-19199` confines them to a range; by default the system picks free
ones.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tests.faults import PostgresServer, RedisServer, missing_binaries

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


class ToolMissing(RuntimeError):
    pass


# -- ports and processes --------------------------------------------------------------------


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port: within LIVE_PORTS (`first-last`) when it is set."""
    spec = os.environ.get("LIVE_PORTS", "")
    if spec:
        first, last = (int(p) for p in spec.split("-", 1))
        candidates = list(range(first, last + 1))
        random.shuffle(candidates)
        for port in candidates:
            if port not in _handed_out and _port_is_free(port):
                _handed_out.add(port)
                return port
        raise RuntimeError(f"no free port in LIVE_PORTS={spec}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 30, process: subprocess.Popen[Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process meant to listen on {port} exited ({process.args})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def wait_until(condition: Any, timeout: float, interval: float = 0.1, what: str = "") -> Any:
    """Poll `condition()` until it returns something true; return it, or raise on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {what or condition}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- PostgreSQL and Redis (tests/faults.py's servers) -----------------------------------------


def require_servers() -> None:
    """Raise ToolMissing unless PostgreSQL's and Redis's binaries are installed."""
    missing = missing_binaries("initdb", "pg_ctl", "redis-server")
    if missing:
        raise ToolMissing(
            f"not installed: {', '.join(missing)} (apt-get install postgresql redis-server)"
        )


@contextlib.contextmanager
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of its own on a free port, started; removed afterwards."""
    require_servers()
    workdir = Path(tempfile.mkdtemp(prefix="livestack-pg-"))
    server = PostgresServer(free_port(), workdir)
    try:
        server.start()
        yield server
    finally:
        server.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(server: PostgresServer, name: str, template: str | None = None) -> str:
    """A new database on `server` (a copy of `template`, if given); its URL."""
    with server.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return server.url(name)


@contextlib.contextmanager
def redis(workdir: Path) -> Iterator[RedisServer]:
    """A redis-server of its own on a free port, without persistence; stopped afterwards."""
    require_servers()
    server = RedisServer(free_port(), workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# -- the app ----------------------------------------------------------------------------------


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run a management command with `env`; return its output (raise on failure)."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a long-running process from the repository root, its output in `log`."""
    stream: IO[bytes] = log.open("ab")
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True
    )


def gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """The app as production runs it (config/gunicorn.py) on 127.0.0.1:`port`."""
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    process = spawn(
        [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
        env,
        log,
    )
    wait_for_port(port, 60, process)
    return process


def worker(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """The task worker as `make run` and the compose file run it."""
    return spawn([PYTHON, "manage.py", "run_worker", "--no-startup-delay", *extra], env, log)
