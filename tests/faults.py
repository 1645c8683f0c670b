"""Real services on given ports, to break on purpose: Redis, PostgreSQL and the app under gunicorn.

Plain Python (no pytest), so that a reliability script can start the same stack:

    with RedisServer(18701, workdir) as redis, PostgresServer(18702, workdir) as pg:
        pg.create_database("workplan")
        env = app_env(database_url=pg.url("workplan"), redis_url=redis.url(0))
        manage(env, "migrate", "--noinput")
        with Gunicorn(18703, env, workdir) as app:
            status, headers, body = app.request("GET", "/health/ready")
            redis.stop()  # and the API must still answer

Every server listens on 127.0.0.1 only, keeps its files in `workdir`, and is stopped
by `stop()` (or leaving the `with` block); nothing is left running.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class ServiceError(RuntimeError):
    """A service did not start or stop as asked; the message carries its log."""


def find_binary(name: str) -> str | None:
    """The path of a server binary on PATH (or, for PostgreSQL, Debian's versioned dirs)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return None


def gunicorn_available() -> bool:
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return True


def missing_binaries(*names: str) -> list[str]:
    """Which of these are unavailable here (`gunicorn` means the Python package)."""
    missing = []
    for name in names:
        ok = gunicorn_available() if name == "gunicorn" else find_binary(name) is not None
        if not ok:
            missing.append(name)
    return missing


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceError(f"the process on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServiceError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Service:
    """A server process we own: started once, stopped (or killed) by us only."""

    name = "service"

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}-{self.port}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _stop_process(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class RedisServer(Service):
    """redis-server with nothing on disk."""

    name = "redis"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> Self:
        binary = find_binary("redis-server")
        if binary is None:
            raise ServiceError("redis-server is not installed")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(self.log_path)]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, 10, self.process)
        except ServiceError as exc:
            self._stop_process()
            raise ServiceError(f"{exc}\n{_tail(self.log_path)}") from exc
        return self

    def stop(self) -> None:
        self._stop_process()


class PostgresServer(Service):
    """A PostgreSQL cluster of our own (initdb into workdir), trust auth on 127.0.0.1.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the
    `postgres` system user.
    """

    name = "postgres"

    def __init__(self, port: int, workdir: Path) -> None:
        super().__init__(port, workdir)
        self.user = "postgres" if os.geteuid() == 0 else None
        # The server's own directory (data, socket, log) sits directly in the temporary
        # directory: `workdir`'s parents may not be open to the `postgres` user.
        self.home = Path(tempfile.mkdtemp(prefix=f"workplan-pg-{port}-"))
        if self.user is not None:
            shutil.chown(self.home, user=self.user)
        self.datadir = self.home / "data"

    @property
    def log_path(self) -> Path:
        return self.home / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        binary = find_binary(args[0])
        if binary is None:
            raise ServiceError(f"{args[0]} is not installed")
        result = subprocess.run(
            [binary, *args[1:]],
            user=self.user,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
        )
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def init(self) -> None:
        if (self.datadir / "PG_VERSION").exists():
            return
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "--no-sync")

    def start(self) -> Self:
        self.init()
        options = (
            f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-o", options, "-l", str(self.log_path), "-w",
            "-t", "30", "start",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster: `fast` disconnects clients cleanly, `immediate` is a crash."""
        if not (self.datadir / "postmaster.pid").exists():
            return
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        """Stop the cluster and delete its files."""
        self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> Any:
        import psycopg

        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.url(dbname), connect_timeout=5, **kwargs)

    def create_database(self, dbname: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            conn.execute(f'CREATE DATABASE "{dbname}"')


def app_env(*, database_url: str, redis_url: str = "", **extra: str) -> dict[str, str]:
    """The environment of a production deployment, pointed at these services."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "API_", "PYTEST_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        API_PUBLIC_URL="http://127.0.0.1",
        DATABASE_URL=database_url,
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def manage(env: dict[str, str], *commands: list[str] | str, timeout: float = 120) -> str:
    """Run manage.py commands with this environment, in one process; their stdout.

    `manage(env, "migrate", "--noinput")` runs one command; several are given as lists,
    `manage(env, ["migrate", "--noinput"], ["load_workplan"])`, and share one start-up.
    Raises ServiceError when one fails.
    """
    batch = [list(c) for c in commands] if isinstance(commands[0], list) else [list(commands)]  # type: ignore[arg-type]
    script = (
        "import sys, django\n"
        "from django.core.management import call_command\n"
        "django.setup()\n"
        f"for args in {batch!r}:\n"
        "    call_command(*args)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise ServiceError(f"manage.py {batch} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


class Gunicorn(Service):
    """The app under gunicorn, as the image runs it; its log (stderr) goes to a file."""

    name = "gunicorn"

    def __init__(
        self, port: int, env: dict[str, str], workdir: Path, *, workers: int = 1, timeout: int = 30
    ) -> None:
        super().__init__(port, workdir)
        self.env = env
        self.workers = workers
        self.timeout = timeout
        self._log_file: Any = None

    def start(self) -> Self:
        if not gunicorn_available():
            raise ServiceError("gunicorn is not installed")
        args = [sys.executable, "-m", "gunicorn", "config.wsgi:application"]
        args += ["--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        args += ["--timeout", str(self.timeout), "--graceful-timeout", "5"]
        self._log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, 30, self.process)
            self.wait_until_live(30)
        except ServiceError as exc:
            self.stop()
            raise ServiceError(f"{exc}\n{_tail(self.log_path)}") from exc
        return self

    def wait_until_live(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/health/live", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise ServiceError(f"/health/live did not answer 200 within {timeout} s")

    def stop(self) -> None:
        self._stop_process(signal.SIGTERM)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        timeout: float = 30,
    ) -> Response:
        """One request on a fresh connection; a dict or list body is sent as JSON."""
        headers = {"Host": "127.0.0.1", **(headers or {})}
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return Response(
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def chunked(
        self, method: str, path: str, chunks: list[bytes], headers: dict[str, str] | None = None
    ) -> Response:
        """A request whose body goes out with Transfer-Encoding: chunked (no Content-Length)."""
        headers = {"Host": "127.0.0.1", "Content-Type": "application/json", **(headers or {})}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            # An iterable body with neither Content-Length nor Transfer-Encoding goes out chunked.
            connection.request(method, path, body=iter(chunks), headers=headers)
            response = connection.getresponse()
            return Response(
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()
