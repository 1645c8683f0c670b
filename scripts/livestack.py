"""Real PostgreSQL, Redis, gunicorn and task workers started on loopback ports of their
own, to show what the service does when one of them fails: the fault tests
(tests/test_faults_live.py), scripts/two_instances.py and scripts/reliability.py use it.

Every server runs from a throwaway directory and is stopped by the context managers here;
nothing shared is touched. PostgreSQL comes from the machine's packages (initdb, pg_ctl:
apt-get install postgresql), Redis from redis-server (apt-get install redis-server).
Ports: `LIVE_PORTS=19100-19199` confines them to a range; by default the system picks free
ones.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
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


# -- PostgreSQL -------------------------------------------------------------------------------


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are: on PATH, or the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if candidates:
        return Path(candidates[-1]).parent
    raise ToolMissing("PostgreSQL's initdb is not installed (apt-get install postgresql)")


class Postgres:
    """A PostgreSQL cluster of its own: `start()`, `stop()` (a fault), `start()` again."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.bindir = postgres_bindir()
        self.workdir = workdir
        self.data = workdir / "pgdata"
        self.port = port or free_port()
        self.log = workdir / "postgres.log"
        # PostgreSQL refuses to run as root: as root, run it as the postgres user.
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres" if _user_exists("postgres") else "nobody"
            os.chown(workdir, pwd.getpwnam(self.user).pw_uid, -1)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            user=self.user,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
            cwd=self.workdir,
        )

    def init(self) -> None:
        options = ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        self._run("initdb", "-D", str(self.data), *options)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def is_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str, template: str | None = None) -> str:
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def postgres(workdir: Path | None = None, port: int | None = None) -> Iterator[Postgres]:
    """A new cluster, started; stopped and removed afterwards."""
    owned = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="livestack-pg-"))
    server = Postgres(workdir, port)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop("immediate")
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)


# -- Redis ------------------------------------------------------------------------------------


class Redis:
    """A redis-server of its own, without persistence: `stop()` and `start()` for faults."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise ToolMissing("redis-server is not installed (apt-get install redis-server)")
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        assert self.binary is not None
        log = (self.workdir / "redis.log").open("ab")
        args = f"--port {self.port} --bind 127.0.0.1 --appendonly no --dir {self.workdir}"
        self.process = subprocess.Popen(
            [self.binary, *args.split(), "--save", ""],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, 15, self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 5)
            self.process = None


@contextlib.contextmanager
def redis(workdir: Path | None = None, port: int | None = None) -> Iterator[Redis]:
    owned = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="livestack-redis-"))
    server = Redis(workdir, port)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)


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
