"""Faults of the real thing: the task worker against a PostgreSQL of its own that is stopped
and started again, and a worker killed in the middle of a delivery.

Each test starts its servers on loopback (scripts/livestack.py; `LIVE_PORTS` confines
their ports) and runs the worker as `make run` does, in a process of its own. Without
PostgreSQL's binaries the tests skip, except in CI (CI=true), where they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scripts import livestack
from tests.faults import PostgresServer

# One PostgreSQL cluster for the module, so its tests run in one xdist worker.
# It starts its own PostgreSQL whatever DATABASE_URL says: CI runs it once.
pytestmark = [pytest.mark.xdist_group("faults-live"), pytest.mark.backend_independent]


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the fault tests")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[PostgresServer, str]]:
    """A PostgreSQL cluster of this module's own, with a migrated template database."""
    try:
        livestack.require_servers()
    except livestack.ToolMissing as exc:
        unavailable(str(exc))
    with livestack.postgres() as server:
        template = "workplan_template"
        url = livestack.create_database(server, template)
        livestack.manage(env_for(url), "migrate", "--noinput", "-v0")
        yield server, template


_databases = iter(range(1, 1000))


@pytest.fixture
def database(cluster: tuple[PostgresServer, str]) -> str:
    """A fresh database (a copy of the migrated template); its URL."""
    server, template = cluster
    return livestack.create_database(server, f"faults_{next(_databases)}", template=template)


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        # An outage is noticed and left quickly; stuck tries are looked for every second.
        "WORKER_MAX_BACKOFF_SECONDS": "1",
        "WORKER_SWEEP_SECONDS": "1",
        **extra,
    }
    env.pop("REDIS_URL", None)
    return env


# -- the partner's endpoint ---------------------------------------------------------------------


class LiveReceiver:
    """Records each request as it arrives (time, webhook-id); answers 204. With `hold_first`,
    the first request gets no answer until `release()`."""

    def __init__(self, hold_first: bool = False) -> None:
        self.arrivals: list[tuple[float, str, bytes]] = []
        self.hold_first = hold_first
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.arrivals.append((time.monotonic(), self.headers["webhook-id"], body))
                if receiver.hold_first and len(receiver.arrivals) == 1:
                    receiver._released.wait(60)
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:
                    pass  # the worker that sent it is gone

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", livestack.free_port()), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/workplan"

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[LiveReceiver]:
    endpoint = LiveReceiver()
    yield endpoint
    endpoint.close()


# -- acting on the live database ---------------------------------------------------------------


SUBSCRIBE = """
from workplan.models import WebhookSubscription
WebhookSubscription.objects.create(url={url!r}, event_types=["*"])
"""

CHANGE = """
from workplan import services
from workplan.models import Pillar
services.plan_object_create(
    model=Pillar,
    data={{"code": "P{n}", "number": {n}, "name_en": "Pillar {n}", "name_es": "Pilar {n}"}},
    actor=services.SYSTEM,
)
"""


def subscribe(env: dict[str, str], url: str) -> None:
    livestack.manage(env, "shell", "-c", SUBSCRIBE.format(url=url))


def change(env: dict[str, str], n: int) -> None:
    """Create pillar P<n> through the services: one audit event, one delivery."""
    livestack.manage(env, "shell", "-c", CHANGE.format(n=n))


def deliveries(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT webhook_id, status, attempts, leased_until IS NOT NULL, payload "
            "FROM workplan_webhookdelivery ORDER BY id"
        ).fetchall()
    return [
        {
            "webhook_id": r[0],
            "status": r[1],
            "attempts": r[2],
            "leased": r[3],
            "code": json.loads(r[4])["data"]["code"],
        }
        for r in rows
    ]


def start_worker(env: dict[str, str], log: Path, command: str = "run_worker") -> Any:
    args = ["--interval", "0.2", "--verbosity", "2"]
    if command == "run_worker":
        return livestack.worker(env, log, *args)
    return livestack.spawn(
        [livestack.PYTHON, "manage.py", command, "--queue-name", "*", "--no-reload", *args],
        env,
        log,
    )


def delivered_codes(database_url: str) -> set[str]:
    return {d["code"] for d in deliveries(database_url) if d["status"] == "delivered"}


# -- the worker outlives PostgreSQL restarts -----------------------------------------------------


def test_the_worker_outlives_a_postgres_restart(
    cluster: tuple[PostgresServer, str],
    database: str,
    receiver: LiveReceiver,
    tmp_path: Path,
) -> None:
    server, _ = cluster
    env = env_for(database)
    subscribe(env, receiver.url)
    ours = start_worker(env, tmp_path / "run_worker.log")
    # django-tasks-db's own worker, side by side: what `make run` used to start.
    theirs = start_worker(env, tmp_path / "db_worker.log", "db_worker")
    try:
        change(env, 91)
        livestack.wait_until(lambda: "P91" in delivered_codes(database), 60, what="P91")

        server.stop("fast")
        try:
            # The plain worker dies of the outage ...
            livestack.wait_until(lambda: theirs.poll() is not None, 30, what="db_worker exit")
            # ... ours notices it, and waits.
            livestack.wait_until(
                lambda: "Database unavailable" in (tmp_path / "run_worker.log").read_text(),
                30,
                what="the outage in the worker's log",
            )
            assert ours.poll() is None
        finally:
            server.start()

        change(env, 92)  # made after the recovery: only a live worker can deliver it
        livestack.wait_until(lambda: "P92" in delivered_codes(database), 60, what="P92")
        assert ours.poll() is None, (tmp_path / "run_worker.log").read_text()[-3000:]
        assert theirs.returncode != 0
        assert "Database reachable again" in (tmp_path / "run_worker.log").read_text()
        codes = [json.loads(body)["data"]["code"] for _, _, body in receiver.arrivals]
        assert sorted(codes) == ["P91", "P92"]  # each once
    finally:
        livestack.stop_process(ours)
        livestack.stop_process(theirs)


# -- a worker killed mid-delivery ----------------------------------------------------------------


LEASE = 4


def test_a_delivery_cut_by_a_killed_worker_is_made_by_another_after_the_lease(
    database: str, tmp_path: Path
) -> None:
    receiver = LiveReceiver(hold_first=True)
    env = env_for(
        database, WEBHOOK_TIMEOUT_SECONDS=str(LEASE - 1), WEBHOOK_LEASE_SECONDS=str(LEASE)
    )
    subscribe(env, receiver.url)
    first = start_worker(env, tmp_path / "first.log")
    second = None
    try:
        change(env, 93)
        livestack.wait_until(lambda: receiver.arrivals, 60, what="the first try")
        first.send_signal(signal.SIGKILL)  # mid-try: the receiver has not answered
        first.wait(10)
        receiver.release()
        (stuck,) = deliveries(database)
        assert (stuck["status"], stuck["attempts"], stuck["leased"]) == ("pending", 0, True)

        second = start_worker(env, tmp_path / "second.log")
        livestack.wait_until(lambda: len(receiver.arrivals) >= 2, 60, what="a second try")
        livestack.wait_until(lambda: delivered_codes(database) == {"P93"}, 30, what="delivered")

        (tried, webhook_id, _), (retried, again, _) = receiver.arrivals[:2]
        assert again == webhook_id == stuck["webhook_id"]
        # Not before the lease ran out (it started a moment before the first arrival) ...
        assert retried - tried >= LEASE - 1
        # ... and soon after it: the worker's own sweep, not a command run by hand.
        assert retried - tried < LEASE + 15
        (done,) = deliveries(database)
        assert (done["status"], done["attempts"], done["leased"]) == ("delivered", 1, False)
        assert "lease ran out" in (tmp_path / "second.log").read_text()
    finally:
        receiver.close()
        livestack.stop_process(first)
        if second is not None:
            livestack.stop_process(second)


# -- two instances, one service ------------------------------------------------------------------


def two_instances(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    return subprocess.run(
        [livestack.PYTHON, "scripts/two_instances.py", "--database-url", database, *args],
        cwd=livestack.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_two_instances_behave_as_one_service(database: str) -> None:
    result = two_instances(database, "--threads", "4", "--rounds", "5")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.count("PASS  ") == 5
    assert "behave as one service" in result.stdout


def test_two_instances_without_a_shared_cache_do_not(database: str) -> None:
    # What the throttle check catches: each process counting in its own memory lets
    # twice the limit through.
    result = two_instances(database, "--without-redis", "--only", "throttle")
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert "FAIL  throttle counters are shared" in result.stdout
