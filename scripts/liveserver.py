"""Start the app as `make run` does, on a throwaway SQLite database, for checks that need a
real server: generated clients, the documentation pages in a browser.

    with live_server(tmp_path) as server:
        server.url            # http://127.0.0.1:<port>
        server.manage("create_api_token", "se-sync", "--agency", "SE", "--role", "editor")
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """LIVE_SERVER_PORT if set, else a port the system says is free on loopback."""
    if os.environ.get("LIVE_SERVER_PORT"):
        return int(os.environ["LIVE_SERVER_PORT"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    env: dict[str, str]

    def manage(self, *args: str) -> str:
        """Run a management command against the server's database; return its output."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout.strip()


@contextmanager
def live_server(
    workdir: Path, *, load_plan: bool = True, port: int | None = None
) -> Iterator[Server]:
    port = port or free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "DJANGO_DEBUG": "true",  # runserver serves the static files (Swagger UI, ReDoc)
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_THROTTLE_ANON": "100000/minute",
        "API_THROTTLE_TOKEN": "100000/minute",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    server = Server(url=f"http://127.0.0.1:{port}", env=env)
    server.manage("migrate", "--noinput")
    if load_plan:
        server.manage("load_workplan")
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/health/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"The server did not start:\n{(workdir / 'server.log').read_text()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
