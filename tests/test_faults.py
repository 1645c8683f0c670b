"""Faults reproduced on a real stack: the app under gunicorn with production settings, on a
PostgreSQL cluster and a Redis server of its own, each stopped or cut off on purpose.

The services run on ports from FAULTS_PORT_BASE (default 18700; each xdist worker
takes its own ten). The tests skip when redis-server, initdb/pg_ctl or gunicorn is
missing, except in CI (CI=true), where a missing binary fails the run.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faults import (
    Gunicorn,
    PostgresServer,
    RedisServer,
    Response,
    app_env,
    manage,
    missing_binaries,
)

# Starts its own PostgreSQL, Redis and gunicorn, whatever DATABASE_URL says: CI runs it once.
pytestmark = [pytest.mark.xdist_group("faults"), pytest.mark.backend_independent]

WORKERS = 2
BODY_LIMIT = 64 * 1024


def require(*names: str) -> None:
    missing = missing_binaries(*names)
    if not missing:
        return
    message = f"not installed: {', '.join(missing)}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI must run the fault tests)", pytrace=False)
    pytest.skip(message)


def port_base() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    offset = int(worker[2:]) if worker[2:].isdigit() else 0
    return int(os.environ.get("FAULTS_PORT_BASE", "18700")) + 10 * offset


@dataclass
class Stack:
    redis: RedisServer
    pg: PostgresServer
    app: Gunicorn
    token: str

    def auth(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require("redis-server", "initdb", "pg_ctl", "gunicorn")
    workdir: Path = tmp_path_factory.mktemp("faults")
    base = port_base()
    redis = RedisServer(base, workdir).start()
    pg = PostgresServer(base + 1, workdir)
    app = None
    try:
        pg.start()
        pg.create_database("workplan")
        env = app_env(
            database_url=pg.url("workplan"),
            redis_url=redis.url(0),
            API_MAX_BODY_BYTES=str(BODY_LIMIT),
            # Short enough that a test sees 503 and recovery within seconds.
            DATABASE_CONNECT_TIMEOUT="2",
        )
        output = manage(
            env,
            ["migrate", "--noinput", "-v", "0"],
            ["create_api_token", "faults", "--role", "admin"],
        )
        token = output.strip().splitlines()[-1]
        app = Gunicorn(base + 2, env, workdir, workers=WORKERS).start()
        yield Stack(redis, pg, app, token)
    finally:
        if app is not None:
            app.stop()
        pg.destroy()
        redis.stop()


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status == status, response
    assert response.headers["content-type"].startswith("application/problem+json"), response
    body = response.json()
    assert body["status"] == status
    return body


def new_pillar(number: int) -> dict[str, Any]:
    return {"code": f"P{number}", "number": number, "name_en": "Faults", "name_es": "Fallas"}


# -- 5. chunked request bodies -------------------------------------------------------------------


def test_a_chunked_patch_is_read_and_applied(stack: Stack) -> None:
    created = stack.app.request("POST", "/api/v1/pillars/", new_pillar(71), stack.auth())
    assert created.status == 201, created
    etag = created.headers["etag"]
    body = json.dumps({"name_en": "Sent in chunks"}).encode()
    response = stack.app.chunked(
        "PATCH",
        "/api/v1/pillars/P71/",
        [body[:7], body[7:15], body[15:]],
        stack.auth(**{"If-Match": etag}),
    )
    assert response.status == 200, response
    assert response.json()["name"] == "Sent in chunks"
    assert stack.app.request("GET", "/api/v1/pillars/P71/").json()["name"] == "Sent in chunks"


def test_a_chunked_body_over_the_limit_is_413(stack: Stack) -> None:
    created = stack.app.request("POST", "/api/v1/pillars/", new_pillar(79), stack.auth())
    assert created.status == 201, created
    etag = created.headers["etag"]
    filler = b'{"description_en": "' + b"x" * 8192
    chunks = [filler] + [b"x" * 8192] * (BODY_LIMIT // 8192) + [b'"}']
    response = stack.app.chunked(
        "PATCH", "/api/v1/pillars/P79/", chunks, stack.auth(**{"If-Match": etag})
    )
    assert assert_problem(response, 413)["code"] == "body_too_large"
    assert stack.app.request("GET", "/api/v1/pillars/P79/").json()["description"] == ""


# -- 9. production hygiene -----------------------------------------------------------------------


def test_production_answers_json_only(stack: Stack) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = stack.app.request("GET", "/api/v1/pillars/", headers={"Accept": browser})
    assert response.status == 200, response
    assert response.headers["content-type"] == "application/json"
    assert_problem(stack.app.request("GET", "/api/v1/pillars/?format=api"), 404)


def test_responses_to_credentials_are_never_stored(stack: Stack) -> None:
    authed = stack.app.request("GET", "/api/v1/pillars/", headers=stack.auth())
    assert authed.status == 200
    assert "no-store" in authed.headers["cache-control"]
    bad = stack.app.request("GET", "/api/v1/pillars/", headers={"Authorization": "Bearer nope"})
    assert bad.status == 401
    assert "no-store" in bad.headers["cache-control"]
    anonymous = stack.app.request("GET", "/api/v1/pillars/")
    assert "no-store" not in anonymous.headers.get("cache-control", "")


def test_logs_are_json_lines_with_the_request_id(stack: Stack) -> None:
    request_id = f"faults-{uuid.uuid4().hex}"
    response = stack.app.request("GET", "/api/v1/nowhere/", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id
    deadline = time.monotonic() + 5
    mine: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(mine) < 2:
        records = [json.loads(line) for line in stack.app.log().splitlines() if line[:1] == "{"]
        mine = [r for r in records if r.get("request_id") == request_id]
        time.sleep(0.1)
    # Django's own "Not Found" warning and the access line both carry the id.
    assert {r["logger"] for r in mine} >= {"django.request", "api.access"}, mine
    access = next(r for r in mine if r["logger"] == "api.access")
    assert (access["method"], access["path"], access["status"]) == ("GET", "/api/v1/nowhere/", 404)
    # Every line the application writes is one JSON object (gunicorn's own lines aside).
    for line in stack.app.log().splitlines():
        if line[:1] == "{":
            assert {"timestamp", "level", "logger", "message", "request_id"} <= set(
                json.loads(line)
            )


# -- 1. Redis down -------------------------------------------------------------------------------


def warnings_from(app: Gunicorn, logger: str) -> int:
    lines = [json.loads(line) for line in app.log().splitlines() if line[:1] == "{"]
    return sum(1 for r in lines if r["logger"] == logger)


def test_redis_down_does_not_take_the_api_down(stack: Stack) -> None:
    import redis as redis_py

    assert stack.app.request("GET", "/api/v1/pillars/").status == 200
    raw = redis_py.Redis.from_url(stack.redis.url(0))
    assert any(b"throttle_anon" in key for key in raw.keys("*")), raw.keys("*")
    raw.close()
    before = warnings_from(stack.app, "api.cache")

    stack.redis.stop()
    try:
        for _ in range(20):
            started = time.monotonic()
            response = stack.app.request("GET", "/api/v1/pillars/")
            assert response.status == 200, response
            assert time.monotonic() - started < 1.5
        assert stack.app.request("GET", "/api/v1/pillars/", headers=stack.auth()).status == 200
        bad = stack.app.request("GET", "/api/v1/pillars/", headers={"Authorization": "Bearer x"})
        assert_problem(bad, 401)

        live = stack.app.request("GET", "/health/live")
        assert live.status == 200 and live.json() == {"status": "ok"}
        ready = stack.app.request("GET", "/health/ready")
        assert ready.status == 200, ready
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["cache"] == {"status": "unavailable", "required": False}
        assert ready.json()["checks"]["database"] == {"status": "ok", "required": True}
        # Logged once per interval and process (the ignored errors; the failed check), not
        # once per request.
        assert 1 <= warnings_from(stack.app, "api.cache") - before <= 2 * WORKERS
    finally:
        stack.redis.start()

    # Back: counters are kept in Redis again.
    assert stack.app.request("GET", "/api/v1/pillars/").status == 200
    assert stack.app.request("GET", "/health/ready").json()["status"] == "ok"
    raw = redis_py.Redis.from_url(stack.redis.url(0))
    assert any(b"throttle_anon" in key for key in raw.keys("*"))
    raw.close()


# -- 4. a keyed POST cut off by a database failure -----------------------------------------------


def test_a_keyed_post_cut_off_by_the_database_can_be_retried(stack: Stack) -> None:
    key = str(uuid.uuid4())
    body = new_pillar(72)
    headers = stack.auth(**{"Idempotency-Key": key})
    result: dict[str, Response] = {}

    locker = stack.pg.connect("workplan", autocommit=False)
    try:
        # Hold the audit table so the POST stops half way through its write...
        locker.execute("LOCK TABLE workplan_auditevent IN EXCLUSIVE MODE")
        thread = threading.Thread(
            target=lambda: result.update(
                first=stack.app.request("POST", "/api/v1/pillars/", body, headers)
            )
        )
        thread.start()
        pid = None
        deadline = time.monotonic() + 10
        while pid is None and time.monotonic() < deadline:
            row = locker.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = 'workplan' "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchone()
            pid = row[0] if row else None
            time.sleep(0.05)
        assert pid is not None, "the POST never reached the write"
        # ...then its database connection dies under it.
        locker.execute("SELECT pg_terminate_backend(%s)", [pid])
        thread.join(30)
    finally:
        locker.rollback()
        locker.close()

    problem = assert_problem(result["first"], 503)
    assert problem["code"] == "database_unavailable"
    assert result["first"].headers["retry-after"].isdigit()

    retry = stack.app.request("POST", "/api/v1/pillars/", body, headers)
    assert retry.status == 201, retry
    assert "idempotent-replayed" not in retry.headers
    replay = stack.app.request("POST", "/api/v1/pillars/", body, headers)
    assert replay.status == 201 and replay.headers["idempotent-replayed"] == "true"
    with stack.pg.connect("workplan") as conn:
        count = conn.execute("SELECT count(*) FROM workplan_pillar WHERE code = 'P72'").fetchone()
    assert count == (1,)


# -- 2 and 3. PostgreSQL down --------------------------------------------------------------------


def test_database_down_is_503_with_retry_after_and_recovers(stack: Stack) -> None:
    assert stack.app.request("GET", "/health/ready").status == 200
    before = warnings_from(stack.app, "api.database")
    stack.pg.stop("immediate")
    try:
        for method, path, headers, body in 3 * [
            ("GET", "/api/v1/pillars/", {}, None),
            ("GET", "/api/v1/projects/?pillar=P1", {}, None),
            ("GET", "/api/v1/pillars/", stack.auth(), None),
            ("POST", "/api/v1/pillars/", stack.auth(), new_pillar(73)),
        ]:
            response = stack.app.request(method, path, body, headers)
            problem = assert_problem(response, 503)
            assert problem["code"] == "database_unavailable"
            assert int(response.headers["retry-after"]) > 0

        live = stack.app.request("GET", "/health/live")
        assert live.status == 200
        ready = stack.app.request("GET", "/health/ready")
        assert ready.status == 503
        assert ready.json()["status"] == "unavailable"
        assert ready.json()["checks"]["database"] == {"status": "unavailable", "required": True}
        assert ready.json()["checks"]["cache"]["status"] == "ok"
        assert stack.app.request("GET", "/health/").status == 503
        # Twelve failed requests and three failed checks: one report of each per process.
        assert 1 <= warnings_from(stack.app, "api.database") - before <= 2 * WORKERS
    finally:
        stack.pg.start()

    deadline = time.monotonic() + 15
    while stack.app.request("GET", "/health/ready").status != 200:
        assert time.monotonic() < deadline, "the app did not see the database come back"
        time.sleep(0.2)
    assert stack.app.request("GET", "/api/v1/pillars/P72/").status == 200
