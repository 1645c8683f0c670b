"""Two app instances, one service: what a second gunicorn behind the same load balancer must
share with the first, checked through both at once.

Starts PostgreSQL and Redis of its own (or uses --database-url / --redis-url), loads the real
plan, and runs two gunicorn processes (production settings, config/gunicorn.py) on two
loopback ports. Then:

1. throttle counters: anonymous requests split across both instances hit one limit together;
2. idempotency keys: a key sent to one instance and then to the other creates one project
   (the second answer is the first, replayed); sent to both at the same moment, likewise;
3. feed cursors: a cursor from one instance continues on the other, with no gap and no
   repeat against a single instance's full read;
4. concurrent writes: threads read a project on one instance and update it with If-Match on
   the other; every acknowledged (200) write is in the database's audit trail and in the
   change feed, no two acknowledged writes start from the same version (no lost update),
   and the project ends as the last of them left it.

    .venv/bin/python scripts/two_instances.py             # about a minute
    LIVE_PORTS=19100-19199 .venv/bin/python scripts/two_instances.py --threads 8

Prints a summary; the exit status is 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts import livestack  # noqa: E402

PROJECT = "HLED-2021-01"
ANON_LIMIT = 30


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={
            "Host": "localhost",
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {}),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, got = response.read(), response.status, response.headers
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, exc.headers
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, {k.lower(): v for k, v in got.items()}, parsed)


@dataclass
class Report:
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.results.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)
        return ok

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.results)


# -- the stack ----------------------------------------------------------------------------------


@dataclass
class Stack:
    ports: tuple[int, int]
    env: dict[str, str]
    token: str
    database_url: str
    workdir: Path

    def auth(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}


@contextmanager
def stack(args: argparse.Namespace) -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="two-instances-"))
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, True)
        database_url = args.database_url
        if not database_url:
            postgres = cleanup.enter_context(livestack.postgres())
            database_url = livestack.create_database(postgres, "workplan_two")
        redis_url = args.redis_url
        if not redis_url and not args.without_redis:
            redis = cleanup.enter_context(livestack.redis(workdir))
            redis_url = redis.url(args.redis_db)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "API_PUBLIC_URL": "http://localhost",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url or "",
            "API_THROTTLE_ANON": f"{ANON_LIMIT}/minute",
            "API_THROTTLE_TOKEN": "100000/minute",
            "WEB_CONCURRENCY": "2",
            "PYTHONUNBUFFERED": "1",
        }
        if not redis_url:
            env.pop("REDIS_URL")  # each process caches (and counts) in its own memory
        print(f"database {database_url}, redis {redis_url or 'none'}", flush=True)
        livestack.manage(env, "migrate", "--noinput", "-v0")
        livestack.manage(env, "load_workplan")
        token = livestack.manage(
            env, "create_api_token", f"two-{secrets.token_hex(3)}", "--role", "admin"
        ).strip()
        ports = (livestack.free_port(), livestack.free_port())
        for number, port in enumerate(ports, start=1):
            process = livestack.gunicorn(env, port, workdir / f"gunicorn-{number}.log")
            cleanup.callback(livestack.stop_process, process)
        print(f"instances on 127.0.0.1:{ports[0]} and 127.0.0.1:{ports[1]}", flush=True)
        yield Stack(ports, env, token, database_url, workdir)


# -- the checks ---------------------------------------------------------------------------------


def check_throttle(s: Stack, report: Report) -> None:
    statuses: dict[int, Counter[int]] = {port: Counter() for port in s.ports}
    for index in range(ANON_LIMIT + 10):
        port = s.ports[index % 2]
        statuses[port][call(port, "GET", "/api/v1/pillars/").status] += 1
    allowed = sum(c[200] for c in statuses.values())
    refused = sum(c[429] for c in statuses.values())
    report.check(
        "throttle counters are shared",
        allowed == ANON_LIMIT and refused == 10 and all(c[429] for c in statuses.values()),
        f"{ANON_LIMIT + 10} anonymous requests alternating across both, limit "
        f"{ANON_LIMIT}/minute: {allowed} answered, {refused} refused with 429 "
        f"(per instance {', '.join(str(dict(c)) for c in statuses.values())})",
    )


def new_project(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "goal": "P1-G1",
        "title_en": "Two-instance idempotency check",
        "title_es": "Prueba de idempotencia con dos instancias",
        "countries": ["MX"],
        "participating_agencies": [{"agency": "MX-SE", "role": "4"}],
    }


def count_projects(s: Stack, code: str) -> int:
    import psycopg

    with psycopg.connect(s.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM workplan_project WHERE code = %s", (code,)
        ).fetchone()
    return int(row[0]) if row else 0


def check_idempotency(s: Stack, report: Report) -> None:
    a, b = s.ports
    key = str(uuid.uuid4())
    body = new_project("HLED-2030-01")
    first = call(a, "POST", "/api/v1/projects/", body, s.auth(**{"Idempotency-Key": key}))
    second = call(b, "POST", "/api/v1/projects/", body, s.auth(**{"Idempotency-Key": key}))
    report.check(
        "idempotency keys are shared",
        first.status == 201
        and second.status == 201
        and second.headers.get("idempotent-replayed") == "true"
        and second.body == first.body
        and count_projects(s, body["code"]) == 1,
        f"one key to A then B: {first.status}, {second.status} "
        f"(replayed: {second.headers.get('idempotent-replayed')}); "
        f"projects created: {count_projects(s, body['code'])}",
    )

    key = str(uuid.uuid4())
    body = new_project("HLED-2030-02")
    answers: list[Answer] = []
    barrier = threading.Barrier(2)

    def send(port: int) -> None:
        barrier.wait()
        answers.append(
            call(port, "POST", "/api/v1/projects/", body, s.auth(**{"Idempotency-Key": key}))
        )

    threads = [threading.Thread(target=send, args=(port,)) for port in s.ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(x.status for x in answers)
    fresh = [x for x in answers if x.status == 201 and "idempotent-replayed" not in x.headers]
    report.check(
        "idempotency keys are shared under concurrency",
        len(fresh) == 1
        and all(x.status in (201, 409) for x in answers)
        and count_projects(s, body["code"]) == 1,
        f"one key to A and B at once: {statuses} (409: the first is still running); "
        f"projects created: {count_projects(s, body['code'])}",
    )


def check_feed(s: Stack, report: Report) -> None:
    a, b = s.ports
    full: list[int] = []
    path = "/api/v1/changes/?limit=500"
    while True:
        page = call(a, "GET", path, headers=s.auth()).body
        full += [int(c["cursor"]) for c in page["results"]]
        if not page["has_more"]:
            break
        path = f"/api/v1/changes/?limit=500&after={page['results'][-1]['cursor']}"
    hopped: list[int] = []
    after, turn, pages = "", 0, 0
    while True:
        query = "limit=7" + (f"&after={after}" if after else "")
        page = call(s.ports[turn % 2], "GET", f"/api/v1/changes/?{query}", headers=s.auth()).body
        hopped += [int(c["cursor"]) for c in page["results"]]
        pages += 1
        turn += 1
        if not page["has_more"]:
            break
        after = page["results"][-1]["cursor"]
    report.check(
        "feed cursors are shared",
        hopped == full and len(full) > 7,
        f"{pages} pages of 7 alternating A/B, each cursor from the other instance: "
        f"{len(hopped)} entries, identical to one instance's full read ({len(full)})",
    )


def check_concurrent_writes(s: Stack, report: Report, threads: int, rounds: int) -> None:
    acknowledged: list[tuple[str, str]] = []  # (value written, If-Match it was based on)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    path = f"/api/v1/projects/{PROJECT}/"

    def writer(number: int) -> None:
        for index in range(rounds):
            read_on, write_on = s.ports[(number + index) % 2], s.ports[(number + index + 1) % 2]
            etag = call(read_on, "GET", path, headers=s.auth()).headers.get("etag", "")
            value = f"write {number}-{index}"
            answer = call(
                write_on,
                "PATCH",
                path,
                {"description_en": value},
                s.auth(**{"If-Match": etag}),
            )
            with lock:
                statuses[answer.status] += 1
                if answer.status == 200:
                    acknowledged.append((value, etag))

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    import psycopg

    with psycopg.connect(s.database_url) as conn:
        audited = [
            row[0]["description_en"]["after"]
            for row in conn.execute(
                "SELECT changes FROM workplan_auditevent WHERE object_type = 'project' AND "
                "object_code = %s AND action = 'update' AND changes ? 'description_en' "
                "ORDER BY id",
                (PROJECT,),
            )
        ]
        row = conn.execute(
            "SELECT description_en FROM workplan_project WHERE code = %s", (PROJECT,)
        ).fetchone()
        stored = row[0] if row else None
    feed: list[str] = []
    after = ""
    while True:
        query = f"code={PROJECT}&action=update&limit=500" + (f"&after={after}" if after else "")
        page = call(s.ports[0], "GET", f"/api/v1/changes/?{query}", headers=s.auth()).body
        feed += [
            c["changes"]["description_en"]
            for c in page["results"]
            if "description_en" in c["changes"]
        ]
        if not page["has_more"]:
            break
        after = page["results"][-1]["cursor"]
    values = [value for value, _ in acknowledged]
    etags = [etag for _, etag in acknowledged]
    ok = (
        set(statuses) <= {200, 412}
        and values
        and sorted(audited) == sorted(values)
        and sorted(feed) == sorted(values)
        and len(set(etags)) == len(etags)
        and audited
        and stored == audited[-1]
    )
    report.check(
        "concurrent writes through both lose nothing",
        bool(ok),
        f"{threads} threads x {rounds} read-on-one/If-Match-on-the-other updates: "
        f"statuses {dict(statuses)}; {len(values)} acknowledged, "
        f"{len(audited)} in the audit trail, {len(feed)} in the feed, "
        f"{len(set(etags))} distinct base versions, final value "
        f"{'is' if audited and stored == audited[-1] else 'is NOT'} the last audited write",
    )


CHECKS: dict[str, Any] = {
    "throttle": check_throttle,
    "idempotency": check_idempotency,
    "feed": check_feed,
    "writes": check_concurrent_writes,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="an existing, empty or migrated database")
    parser.add_argument("--redis-url", help="an existing Redis (a database of yours)")
    parser.add_argument("--redis-db", type=int, default=0)
    parser.add_argument(
        "--without-redis",
        action="store_true",
        help="no shared cache: shows what the throttle check catches",
    )
    parser.add_argument("--only", nargs="*", choices=sorted(CHECKS), help="run only these")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    report = Report()
    started = time.monotonic()
    with stack(args) as s:
        for name in args.only or CHECKS:
            if name == "writes":
                check_concurrent_writes(s, report, args.threads, args.rounds)
            else:
                CHECKS[name](s, report)
    passed = sum(ok for _, ok, _ in report.results)
    print(
        f"\n{passed} of {len(report.results)} checks passed in "
        f"{time.monotonic() - started:.0f} s: the two instances "
        f"{'behave as one service' if report.ok else 'do NOT behave as one service'}"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
