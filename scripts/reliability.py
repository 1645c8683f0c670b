"""Fault scenarios under load, end to end: what clients and webhook partners see when a
piece of the production stack fails, and whether anything acknowledged is lost.

    make reliability                 # about 5 minutes; LIVE_PORTS=first-last confines ports

Starts, on loopback ports of its own: PostgreSQL and Redis (scripts/livestack.py), the app
under gunicorn with the production settings (config/gunicorn.py), the task worker as the
compose file runs it (`manage.py run_worker`), a webhook partner that records every
delivery, and nginx (deploy/nginx) when it is installed. The real 2021 plan is loaded, one
project is made per client thread and a subscription to `project.*` points at the partner.

Each scenario runs 20 client threads for 20 s. A thread loops over: an anonymous project
list, a feed page, a read of its own project then a PATCH with that ETag in If-Match,
and now and then a create with an Idempotency-Key. The fault starts at 5 s and ends at 15 s:

- baseline: no fault;
- redis-down: Redis stopped for 10 s;
- postgres-down: PostgreSQL stopped for 10 s;
- worker-killed: the worker SIGKILLed while a delivery is in flight (the partner holds
  it), then started again as the compose restart policy would; the cut delivery is
  taken over when its lease runs out (WEBHOOK_LEASE_SECONDS, 8 s here);
- slow-clients: 50 slow clients (scripts/slow_clients.py) against nginx, the load
  going through nginx too (skipped without nginx).

Printed per scenario: requests, answers by status, p50/p99 latency, every acknowledged
(2xx) write looked up in the database, the audit trail and the change feed, and the webhooks
delivered to the partner for the scenario's changes. The exit status is 1 when an
acknowledged write is missing anywhere, a change's webhook never arrives, the baseline
has errors, or the stack does not come back after a fault. Errors *during* a fault are
reported as they are, not judged: what they should be (503 when PostgreSQL is down, the
API going on without Redis) is the app's business, not this script's.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts import livestack  # noqa: E402
from tests.faults import PostgresServer, RedisServer  # noqa: E402

FAULT_START, FAULT_END = 5.0, 15.0
LEASE_SECONDS = 8


# -- the webhook partner --------------------------------------------------------------------------


class Partner:
    """Receives webhooks: answers 204 and counts each webhook-id. `hold()` makes the next
    request wait (the worker is then mid-delivery) until `release()`."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.arrivals: dict[str, list[float]] = {}
        self.held_id = ""  # the webhook-id of the request held by `hold()`
        self.lock = threading.Lock()
        self._hold = False
        self.holding = threading.Event()
        self._released = threading.Event()
        partner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                webhook_id = self.headers.get("webhook-id", "")
                with partner.lock:
                    partner.arrivals.setdefault(webhook_id, []).append(time.monotonic())
                    held = partner._hold
                    partner._hold = False
                    if held:
                        partner.held_id = webhook_id
                if held:
                    partner.holding.set()
                    partner._released.wait(30)
                with partner.lock:
                    partner.received[webhook_id] += 1
                try:
                    self.send_response(204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", livestack.free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/workplan"

    def hold(self) -> None:
        self._released.clear()
        self.holding.clear()
        with self.lock:
            self._hold = True

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


# -- HTTP ------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int | str  # a status code, or "refused", "timeout", "reset"...
    seconds: float
    headers: dict[str, str]
    body: Any


_local = threading.local()


def request(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Answer:
    """One request on this thread's keep-alive connection to `port` (a new one after errors)."""
    connections: dict[int, http.client.HTTPConnection] = _local.__dict__.setdefault("c", {})
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Host": "localhost", "Accept": "application/json", **(headers or {})}
    if data is not None:
        sent["Content-Type"] = "application/json"
    started = time.monotonic()
    connection = connections.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connections[port] = connection
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
    except TimeoutError:
        connection.close()
        return Answer("timeout", time.monotonic() - started, {}, None)
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        kind = "refused" if isinstance(exc, ConnectionRefusedError) else "reset"
        return Answer(kind, time.monotonic() - started, {}, None)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    headers_out = {k.lower(): v for k, v in response.getheaders()}
    return Answer(response.status, time.monotonic() - started, headers_out, parsed)


# -- the stack -------------------------------------------------------------------------------------


@dataclass
class Stack:
    env: dict[str, str]
    app_port: int
    proxy_port: int | None
    token: str
    postgres: PostgresServer
    redis: RedisServer
    partner: Partner
    workdir: Path
    database_url: str
    worker: subprocess.Popen[bytes] | None = None
    projects: list[str] = field(default_factory=list)

    def auth(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def start_worker(self) -> None:
        self.worker = livestack.worker(self.env, self.workdir / "worker.log")

    def healthy(self, port: int | None = None) -> bool:
        answer = request(port or self.app_port, "GET", "/health/ready")
        return answer.status == 200

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())  # type: ignore[arg-type]


@contextmanager
def stack(workers: int) -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="reliability-"))
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, True)
        postgres = cleanup.enter_context(livestack.postgres())
        redis = cleanup.enter_context(livestack.redis(workdir))
        partner = Partner()
        cleanup.callback(partner.close)
        database_url = livestack.create_database(postgres, "workplan_reliability")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "API_PUBLIC_URL": "http://localhost",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url(0),
            "API_THROTTLE_ANON": "1000000/minute",
            "API_THROTTLE_TOKEN": "1000000/minute",
            "WEB_CONCURRENCY": str(workers),
            # The partner listens on loopback, which production refuses unless allowed.
            "WEBHOOK_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8",
            # Short enough for a cut delivery to be taken over within a scenario.
            "WEBHOOK_TIMEOUT_SECONDS": str(LEASE_SECONDS - 3),
            "WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
            "WORKER_SWEEP_SECONDS": "2",
            "WORKER_MAX_BACKOFF_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
        }
        print("setting up: PostgreSQL, Redis, migrate, load the plan ...", flush=True)
        livestack.manage(env, "migrate", "--noinput", "-v0")
        livestack.manage(env, "load_workplan")
        token = livestack.manage(env, "create_api_token", "reliability", "--role", "admin").strip()
        app_port = livestack.free_port()
        app = livestack.gunicorn(env, app_port, workdir / "gunicorn.log")
        cleanup.callback(livestack.stop_process, app)
        proxy_port = None
        if shutil.which("nginx") and (livestack.ROOT / "scripts/slow_clients.py").exists():
            from scripts.slow_clients import start_proxy

            proxy_port = livestack.free_port()
            proxy = start_proxy(workdir, app_port, proxy_port)
            cleanup.callback(livestack.stop_process, proxy)
            livestack.wait_for_port(proxy_port, 15, proxy)
        s = Stack(env, app_port, proxy_port, token, postgres, redis, partner, workdir, database_url)
        s.start_worker()
        cleanup.callback(lambda: s.worker and livestack.stop_process(s.worker))
        answer = request(
            app_port,
            "POST",
            "/api/v1/webhooks/",
            {"url": partner.url, "event_types": ["project.*"], "description": "reliability"},
            s.auth(),
        )
        assert answer.status == 201, (answer.status, answer.body)
        yield s


def make_projects(s: Stack, count: int) -> None:
    for number in range(1, count + 1):
        code = f"HLED-2040-{number:02d}"
        body = {
            "code": code,
            "goal": "P1-G1",
            "title_en": f"Reliability client {number}",
            "title_es": f"Cliente de confiabilidad {number}",
            "countries": ["MX"],
            "participating_agencies": [{"agency": "MX-SE", "role": "4"}],
        }
        answer = request(s.app_port, "POST", "/api/v1/projects/", body, s.auth())
        assert answer.status == 201, (answer.status, answer.body)
        s.projects.append(code)


# -- load -----------------------------------------------------------------------------------------


@dataclass
class Ack:
    kind: str  # "update" or "create"
    code: str
    value: str  # the description written, or the created code


@dataclass
class Load:
    answers: list[tuple[float, str, Answer]] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    attempted: dict[str, list[str]] = field(default_factory=dict)  # code -> values tried
    lock: threading.Lock = field(default_factory=threading.Lock)
    fault: str = "?"

    def record(self, started: float, op: str, answer: Answer) -> None:
        with self.lock:
            self.answers.append((started, op, answer))


def run_load(
    s: Stack,
    port: int,
    threads: int,
    seconds: float,
    tag: str,
    begin: float,
    fault: Callable[[], str],
) -> Load:
    """`threads` clients for `seconds` from `begin`, while `fault()` runs (it returns what
    it did)."""
    load = Load()
    deadline = begin + seconds
    counter = iter(range(1, 100000))
    counter_lock = threading.Lock()

    def client(number: int) -> None:
        code = s.projects[number]
        index = 0
        while time.monotonic() < deadline:
            index += 1
            at = time.monotonic() - begin
            step = index % 4
            if step == 0:
                load.record(at, "list", request(port, "GET", "/api/v1/projects/?page_size=20"))
            elif step == 1:
                load.record(
                    at, "feed", request(port, "GET", "/api/v1/changes/?limit=20", None, s.auth())
                )
            elif step == 2:
                read = request(port, "GET", f"/api/v1/projects/{code}/", None, s.auth())
                load.record(at, "read", read)
                etag = read.headers.get("etag")
                if read.status != 200 or not etag:
                    continue
                value = f"{tag} {number}-{index}"
                with load.lock:
                    load.attempted.setdefault(code, []).append(value)
                write = request(
                    port,
                    "PATCH",
                    f"/api/v1/projects/{code}/",
                    {"description_en": value},
                    s.auth(**{"If-Match": etag}),
                )
                load.record(time.monotonic() - begin, "update", write)
                if isinstance(write.status, int) and 200 <= write.status < 300:
                    with load.lock:
                        load.acks.append(Ack("update", code, value))
            elif index % 12 == 3:
                with counter_lock:
                    serial = next(counter)
                new = f"HLED-{tag_year(tag)}-{serial:02d}"
                body = {
                    "code": new,
                    "goal": "P1-G1",
                    "title_en": f"Created under {tag}",
                    "title_es": f"Creado durante {tag}",
                    "countries": ["US"],
                    "participating_agencies": [{"agency": "MX-SE", "role": "4"}],
                }
                created = request(
                    port,
                    "POST",
                    "/api/v1/projects/",
                    body,
                    s.auth(**{"Idempotency-Key": str(uuid.uuid4())}),
                )
                load.record(time.monotonic() - begin, "create", created)
                if isinstance(created.status, int) and 200 <= created.status < 300:
                    with load.lock:
                        load.acks.append(Ack("create", new, new))
            else:
                load.record(at, "list", request(port, "GET", "/api/v1/pillars/"))

    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    load.fault = fault()
    for worker in workers:
        worker.join(seconds + 30)
    return load


def tag_year(tag: str) -> int:
    return 2041 + SCENARIOS.index(tag)


# -- the faults -------------------------------------------------------------------------------


def sleep_until(begin: float, at: float) -> None:
    time.sleep(max(0.0, begin + at - time.monotonic()))


def fault_none(s: Stack, begin: float) -> str:
    return "no fault"


def fault_redis(s: Stack, begin: float) -> str:
    sleep_until(begin, FAULT_START)
    s.redis.stop()
    sleep_until(begin, FAULT_END)
    s.redis.start()
    return "Redis stopped from 5 s to 15 s"


def fault_postgres(s: Stack, begin: float) -> str:
    sleep_until(begin, FAULT_START)
    s.postgres.stop("fast")
    sleep_until(begin, FAULT_END)
    s.postgres.start()
    return "PostgreSQL stopped from 5 s to 15 s"


def fault_worker(s: Stack, begin: float) -> str:
    sleep_until(begin, FAULT_START)
    s.partner.hold()  # the next delivery waits at the partner: the worker is mid-delivery
    if not s.partner.holding.wait(FAULT_END - FAULT_START):
        return "worker NOT killed: no delivery was in flight"
    assert s.worker is not None
    s.worker.send_signal(signal.SIGKILL)
    s.worker.wait(10)
    at = time.monotonic() - begin
    s.partner.release()
    s.start_worker()  # as `restart: unless-stopped` would
    return f"worker SIGKILLed mid-delivery at {at:.1f} s and started again"


def fault_slow_clients(s: Stack, begin: float) -> str:
    from scripts.slow_clients import Attack

    assert s.proxy_port is not None
    sleep_until(begin, FAULT_START)
    with Attack(s.proxy_port, 50):
        sleep_until(begin, FAULT_END)
    return "50 slow clients against nginx from 5 s to 15 s (the load goes through nginx)"


SCENARIOS = ["baseline", "redis-down", "postgres-down", "worker-killed", "slow-clients"]
FAULTS = {
    "baseline": fault_none,
    "redis-down": fault_redis,
    "postgres-down": fault_postgres,
    "worker-killed": fault_worker,
    "slow-clients": fault_slow_clients,
}


# -- the checks -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Result:
    name: str
    fault: str
    requests: int
    statuses: Counter[str]
    during_fault: Counter[str]
    p50: float
    p99: float
    acks: int
    acks_found: dict[str, int]
    events: int
    delivered: int
    duplicates: int
    pending: int
    recovered: bool
    worker: str
    failures: list[str]

    def lines(self) -> list[str]:
        rate = self.requests / 20
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        during = ", ".join(f"{k} {v}" for k, v in sorted(self.during_fault.items()))
        found = ", ".join(f"{k} {v}" for k, v in self.acks_found.items())
        return [
            f"== {self.name}: {self.fault}",
            f"   requests {self.requests} in 20 s ({rate:.0f}/s); p50 {self.p50 * 1000:.0f} ms, "
            f"p99 {self.p99 * 1000:.0f} ms",
            f"   answers: {statuses}",
            f"   between 5 s and 15 s: {during}",
            f"   acknowledged writes {self.acks}: found in {found}",
            f"   webhooks: {self.events} changes, {self.delivered} delivered "
            f"({self.duplicates} duplicate arrivals at the partner), {self.pending} not delivered",
            f"   worker: {self.worker}; stack healthy afterwards: "
            f"{'yes' if self.recovered else 'NO'}",
            f"   verdict: {'ok' if not self.failures else 'FAIL: ' + '; '.join(self.failures)}",
        ]


def feed_since(s: Stack, after: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = str(after)
    while True:
        page = request(
            s.app_port, "GET", f"/api/v1/changes/?after={cursor}&limit=500", None, s.auth()
        )
        assert page.status == 200, page.status
        entries += page.body["results"]
        if not page.body["has_more"]:
            return entries
        cursor = page.body["results"][-1]["cursor"]


def check(s: Stack, name: str, fault: str, load: Load, first_event: int) -> Result:
    failures: list[str] = []
    recovered = False
    try:
        livestack.wait_until(s.healthy, 60, 0.5, "health")
        recovered = True
    except TimeoutError:
        failures.append("the app did not come back")
    if recovered:
        # Wait for the worker to deliver this scenario's changes (bounded).
        def all_delivered() -> bool:
            rows = s.query(
                "SELECT count(*) FROM workplan_webhookdelivery WHERE event_id > %s "
                "AND status <> 'delivered'",
                first_event,
            )
            return rows[0][0] == 0

        with suppress(TimeoutError):  # what is left undelivered is reported below
            livestack.wait_until(all_delivered, 120, 0.5, "deliveries")
    audited = s.query(
        "SELECT action, object_code, changes FROM workplan_auditevent "
        "WHERE id > %s AND object_type = 'project'",
        first_event,
    )
    audit_updates = {
        (code, changes["description_en"]["after"])
        for action, code, changes in audited
        if action == "update" and "description_en" in changes
    }
    audit_creates = {code for action, code, _ in audited if action == "create"}
    feed = feed_since(s, first_event) if recovered else []
    feed_updates = {
        (e["code"], e["changes"]["description_en"])
        for e in feed
        if e["object_type"] == "project" and e["action"] == "update"
        and "description_en" in e["changes"]
    }  # fmt: skip
    feed_creates = {e["code"] for e in feed if e["action"] == "create"}
    stored = dict(s.query("SELECT code, description_en FROM workplan_project"))
    found = {"database": 0, "audit": 0, "feed": 0}
    for ack in load.acks:
        if ack.kind == "update":
            # In the database: the project holds this value, or one written after it (a
            # later write of the same client, acknowledged or cut by the fault).
            tried = load.attempted.get(ack.code, [])
            later = tried[tried.index(ack.value) :] if ack.value in tried else [ack.value]
            found["database"] += stored.get(ack.code) in later
            found["audit"] += (ack.code, ack.value) in audit_updates
            found["feed"] += (ack.code, ack.value) in feed_updates
        else:
            found["database"] += ack.code in stored
            found["audit"] += ack.code in audit_creates
            found["feed"] += ack.code in feed_creates
    acks = len(load.acks)
    for where, count in found.items():
        if count != acks:
            failures.append(f"{acks - count} acknowledged write(s) missing from the {where}")
    deliveries = s.query(
        "SELECT webhook_id, status FROM workplan_webhookdelivery WHERE event_id > %s",
        first_event,
    )
    events = len(audited)
    delivered = sum(status == "delivered" for _, status in deliveries)
    pending = events - delivered
    duplicates = sum(max(0, s.partner.received[w] - 1) for w, _ in deliveries)
    arrived = sum(1 for w, _ in deliveries if s.partner.received[w])
    if pending:
        failures.append(f"{pending} change(s) not delivered to the partner")
    if arrived < delivered:
        failures.append(f"{delivered - arrived} delivery(ies) marked delivered never arrived")
    statuses: Counter[str] = Counter(str(a.status) for _, _, a in load.answers)
    during: Counter[str] = Counter(
        str(a.status) for t, _, a in load.answers if FAULT_START <= t < FAULT_END
    )
    if name == "baseline":
        errors = {k: v for k, v in statuses.items() if not k.startswith("2")}
        if errors:
            failures.append(f"errors without a fault: {errors}")
    worker = "running"
    if s.worker is None or s.worker.poll() is not None:
        worker = "DEAD"
        failures.append("the worker died")
    elif name == "postgres-down":
        worker = "survived the outage (same process)"
    elif name == "worker-killed":
        cut = s.partner.held_id
        status = dict(deliveries).get(cut)
        times = s.partner.arrivals.get(cut, [])
        if cut and status == "delivered" and len(times) >= 2:
            worker = (
                f"started again; the cut delivery ({cut[:12]}...) was sent again with the "
                f"same webhook-id {times[1] - times[0]:.1f} s after the cut try began "
                f"(lease {LEASE_SECONDS} s) and delivered"
            )
        else:
            worker = f"started again; the cut delivery is {status} after {len(times)} arrival(s)"
            failures.append("the delivery cut by the kill was not taken over")
    times = [a.seconds for _, _, a in load.answers]
    return Result(
        name=name,
        fault=fault,
        requests=len(load.answers),
        statuses=statuses,
        during_fault=during,
        p50=statistics.median(times) if times else float("nan"),
        p99=percentile(times, 0.99),
        acks=acks,
        acks_found=found,
        events=events,
        delivered=delivered,
        duplicates=duplicates,
        pending=pending,
        recovered=recovered,
        worker=worker,
        failures=failures,
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.1f} at the start"
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPU(s) "
        f"({cpu}){memory}{load}; Python {platform.python_version()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, help="run only these")
    args = parser.parse_args()
    try:
        livestack.require_servers()
    except livestack.ToolMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"machine: {machine()}", flush=True)
    results: list[Result] = []
    with stack(args.workers) as s:
        make_projects(s, args.threads)
        print(
            f"stack: PostgreSQL :{s.postgres.port}, Redis :{s.redis.port}, gunicorn "
            f":{s.app_port} ({args.workers} gthread workers), nginx "
            f"{':' + str(s.proxy_port) if s.proxy_port else 'not installed'}, run_worker; "
            f"{args.threads} client threads x {args.seconds:.0f} s per scenario\n",
            flush=True,
        )
        for name in args.only or SCENARIOS:
            if name == "slow-clients" and s.proxy_port is None:
                print("== slow-clients: skipped (nginx is not installed)\n", flush=True)
                continue
            first_event = s.query("SELECT coalesce(max(id), 0) FROM workplan_auditevent")[0][0]
            port = s.proxy_port if name == "slow-clients" and s.proxy_port else s.app_port
            begin = time.monotonic()
            fault = functools.partial(FAULTS[name], s, begin)
            load = run_load(s, port, args.threads, args.seconds, name, begin, fault)
            result = check(s, name, load.fault, load, first_event)
            results.append(result)
            print("\n".join(result.lines()) + "\n", flush=True)
    print("summary")
    print(
        f"{'scenario':<14} {'requests':>8} {'non-2xx':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'acked writes ok':>16} {'webhooks':>10}  verdict"
    )
    for r in results:
        errors = sum(v for k, v in r.statuses.items() if not k.startswith("2"))
        acked = f"{min(r.acks_found.values()) if r.acks else 0}/{r.acks}"
        print(
            f"{r.name:<14} {r.requests:>8} {errors:>8} {r.p50 * 1000:>7.0f} {r.p99 * 1000:>7.0f} "
            f"{acked:>16} {f'{r.delivered}/{r.events}':>10}  "
            f"{'ok' if not r.failures else 'FAIL'}"
        )
    failed = [r.name for r in results if r.failures]
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'every scenario passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
