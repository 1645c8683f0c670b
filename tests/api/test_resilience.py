"""Faults reproduced in process: a cache or database that fails, bodies the server could
ignore or not store, CSV cells a spreadsheet would run, guessing, and what responses and
logs give away. tests/test_faults.py reproduces the same faults on real services.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.cache import caches
from django.db import InterfaceError, OperationalError, connection
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from api import logs
from api.exports import csv_cell
from api.idempotency import LOCK_NAMESPACE
from api.middleware import ChunkedBodyBuffer
from api.models import IdempotencyRecord
from config.settings.base import redis_cache
from tests.api.test_errors_and_limits import PILLAR, project_body
from tests.api.test_errors_and_limits import plan as plan  # the fixture, re-exported
from tests.conftest import assert_problem, make_user, token_headers
from tests.factories import ProjectFactory
from workplan import services
from workplan.choices import Role
from workplan.models import Pillar, Project, WebhookSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(plan: None) -> dict[str, str]:
    return token_headers(make_user("resilience-admin", Role.ADMIN))


def closed_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tiny_rates(monkeypatch: pytest.MonkeyPatch, clock_at_a_minute_start: None) -> None:
    from api.throttling import AnonymousRateThrottle, BadTokenBrake, TokenRateThrottle

    rates = {"anon": "3/minute", "token": "3/minute", "bad_token": "3/minute"}
    for throttle in (AnonymousRateThrottle, TokenRateThrottle, BadTokenBrake):
        monkeypatch.setattr(throttle, "THROTTLE_RATES", rates)


@pytest.fixture
def redis_down(settings: Any, tiny_rates: None) -> Iterator[None]:
    """The production cache configuration, pointed at a Redis that is not there."""
    settings.CACHES = {"default": redis_cache(f"redis://127.0.0.1:{closed_port()}/0")}
    yield
    del caches["default"]


# -- 1. the cache down ---------------------------------------------------------------------------


def test_redis_down_throttling_fails_open(
    api: APIClient, plan: None, admin: dict, redis_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="api.cache"):
        for _ in range(6):  # twice the limit
            assert api.get("/api/v1/pillars/").status_code == 200
            assert api.get("/api/v1/pillars/", **admin).status_code == 200
    assert any(r.name == "api.cache" for r in caplog.records)


def test_a_cache_backend_that_raises_fails_open(
    api: APIClient, plan: None, settings: Any, tiny_rates: None
) -> None:
    # Django's own Redis backend raises on every call when Redis is down.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    try:
        for _ in range(6):
            assert api.get("/api/v1/pillars/").status_code == 200
        assert_problem(api.get("/api/v1/pillars/", HTTP_AUTHORIZATION="Bearer x"), 401)
    finally:
        del caches["default"]


def test_repeated_warnings_are_logged_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: clock[0])
    brake = logs.OncePerInterval(interval=60)
    record = lambda msg="Exception ignored": logging.LogRecord(  # noqa: E731
        "api.cache", logging.WARNING, __file__, 1, msg, None, None
    )
    assert brake.filter(record())
    assert [brake.filter(record()) for _ in range(50)] == [False] * 50
    assert brake.filter(record("another message"))  # another kind has its own interval
    clock[0] += 61
    later = record()
    assert brake.filter(later)
    assert later.suppressed == 50  # type: ignore[attr-defined]
    assert "50 more" in later.getMessage()


# -- 2. the database down ------------------------------------------------------------------------


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_database_down_is_a_503_problem_with_retry_after(
    api: APIClient, plan: None, admin: dict, error: type[Exception]
) -> None:
    failing = mock.patch.object(
        CursorWrapper, "execute", side_effect=error("connection to server failed")
    )
    with failing:
        for response in (
            api.get("/api/v1/pillars/"),
            api.get("/api/v1/projects/HLED-2021-01/", **admin),
            api.post("/api/v1/pillars/", PILLAR, format="json", **admin),
        ):
            body = assert_problem(response, 503)
            assert body["code"] == "database_unavailable"
            assert response["Retry-After"] == "5"
    assert not Pillar.objects.filter(code="P5").exists()


# -- 3. health -----------------------------------------------------------------------------------


def test_live_touches_no_dependency(client: Client) -> None:
    with mock.patch.object(CursorWrapper, "execute", side_effect=OperationalError("down")):
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]
    assert client.get("/health/live/").status_code == 200


def test_ready_reports_each_component(client: Client, settings: Any) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": {"status": "ok", "required": True},
            "cache": {"status": "ok", "required": False},
        },
    }
    with mock.patch.object(CursorWrapper, "execute", side_effect=OperationalError("down")):
        down = client.get("/health/ready/")
        old = client.get("/health/")
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    assert down.json()["checks"]["database"] == {"status": "unavailable", "required": True}
    assert old.status_code == 503


def test_ready_with_the_cache_down(client: Client, settings: Any, redis_down: None) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["cache"] == {"status": "unavailable", "required": False}
    settings.HEALTH_CACHE_REQUIRED = True
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == {"status": "unavailable", "required": True}


# -- 4. idempotency keys that cannot wedge -------------------------------------------------------


def test_a_keyed_post_cut_off_by_the_database_leaves_the_key_free(
    api: APIClient, plan: None, admin: dict
) -> None:
    key = {"HTTP_IDEMPOTENCY_KEY": "cut-off-1"}
    real_create = services.plan_object_create

    def create_then_lose_the_database(**kwargs: Any) -> Any:
        real_create(**kwargs)  # the object is written...
        raise OperationalError("server closed the connection unexpectedly")  # ...then lost

    # Nothing can be cleaned up while the database is gone.
    lost = OperationalError("the connection is closed")
    with (
        mock.patch.object(services, "plan_object_create", create_then_lose_the_database),
        mock.patch.object(IdempotencyRecord, "delete", side_effect=lost),
    ):
        first = api.post("/api/v1/pillars/", PILLAR, format="json", **key, **admin)
    assert_problem(first, 503)
    assert not IdempotencyRecord.objects.filter(key="cut-off-1").exists()
    assert not Pillar.objects.filter(code="P5").exists()

    retry = api.post("/api/v1/pillars/", PILLAR, format="json", **key, **admin)
    assert retry.status_code == 201, retry.content[:300]
    assert "Idempotent-Replayed" not in retry
    replay = api.post("/api/v1/pillars/", PILLAR, format="json", **key, **admin)
    assert replay["Idempotent-Replayed"] == "true"
    assert Pillar.objects.filter(code="P5").count() == 1


def test_an_abandoned_in_progress_key_is_taken_over(
    api: APIClient, plan: None, admin: dict, settings: Any
) -> None:
    from tests.api.test_safe_writes import in_flight_fingerprint

    user = make_user("lease-admin", Role.ADMIN)
    headers = token_headers(user)
    IdempotencyRecord.objects.create(
        user=user,
        key="abandoned",
        method="POST",
        path="/api/v1/pillars/",
        request_hash=in_flight_fingerprint("/api/v1/pillars/", PILLAR),
        created_at=timezone.now() - timedelta(seconds=settings.API_IDEMPOTENCY_LEASE_SECONDS + 1),
        completed=False,
    )
    response = api.post(
        "/api/v1/pillars/", PILLAR, format="json", HTTP_IDEMPOTENCY_KEY="abandoned", **headers
    )
    assert response.status_code == 201, response.content[:300]
    assert IdempotencyRecord.objects.get(key="abandoned").completed


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's")
def test_a_key_held_by_a_running_request_is_409(api: APIClient, plan: None) -> None:
    import hashlib

    import psycopg

    user = make_user("held-admin", Role.ADMIN)
    headers = token_headers(user)
    digest = hashlib.sha256(f"{user.pk}\nheld-key".encode()).digest()
    settings_dict = connection.settings_dict
    other = psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        password=settings_dict["PASSWORD"] or None,
        autocommit=True,
    )
    try:
        # Another request's transaction holds the key.
        other.execute(
            "SELECT pg_advisory_lock(%s, %s)",
            [LOCK_NAMESPACE, int.from_bytes(digest[:4], "big", signed=True)],
        )
        response = api.post(
            "/api/v1/pillars/", PILLAR, format="json", HTTP_IDEMPOTENCY_KEY="held-key", **headers
        )
    finally:
        other.close()
    assert_problem(response, 409)
    assert not Pillar.objects.filter(code="P5").exists()


# -- 5. chunked bodies ---------------------------------------------------------------------------


def test_a_body_of_unknown_length_is_refused_with_411(
    api: APIClient, plan: None, admin: dict
) -> None:
    project = Project.objects.get(code="HLED-2021-01")
    etag = api.get("/api/v1/projects/HLED-2021-01/", **admin)["ETag"]
    response = api.generic(
        "PATCH",
        "/api/v1/projects/HLED-2021-01/",
        json.dumps({"title_en": "Never read"}),
        "application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        HTTP_IF_MATCH=etag,
        **admin,
    )
    assert assert_problem(response, 411)["code"] == "length_required"
    project.refresh_from_db()
    assert project.title_en != "Never read"


def test_the_wsgi_layer_reads_a_decoded_chunked_body() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ, body=environ["wsgi.input"].read())
        return []

    wrapped = ChunkedBodyBuffer(app)
    body = b'{"title_en": "chunked"}'
    environ = {
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
    }
    wrapped(environ, None)
    assert seen["body"] == body
    assert seen["CONTENT_LENGTH"] == str(len(body))
    assert "HTTP_TRANSFER_ENCODING" not in seen

    # A server that does not decode chunked bodies: left alone, so Django refuses it (411).
    seen.clear()
    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"17\r\n...")}
    wrapped(environ, None)
    assert seen["HTTP_TRANSFER_ENCODING"] == "chunked"
    assert "CONTENT_LENGTH" not in seen


def test_the_wsgi_layer_reads_no_more_than_the_limit(settings: Any) -> None:
    settings.API_MAX_BODY_BYTES = 10
    seen: dict[str, Any] = {}
    wrapped = ChunkedBodyBuffer(lambda environ, start_response: seen.update(environ) or [])
    stream = io.BytesIO(b"x" * 1000)
    wrapped(
        {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": stream, "wsgi.input_terminated": True},
        None,
    )
    assert stream.tell() == 11
    assert seen["CONTENT_LENGTH"] == "11"
    assert seen[ChunkedBodyBuffer.OVER_LIMIT] is True


# -- 6. NUL characters ---------------------------------------------------------------------------


def nul_fields(response: Any) -> list[str | None]:
    body = assert_problem(response, 400)
    assert {e["code"] for e in body["errors"]} == {"null_characters_not_allowed"}
    return [e["field"] for e in body["errors"]]


def test_nul_in_a_reference_field_is_a_400_naming_it(
    api: APIClient, plan: None, admin: dict
) -> None:
    etag = api.get("/api/v1/projects/HLED-2021-01/", **admin)["ETag"]
    response = api.patch(
        "/api/v1/projects/HLED-2021-01/",
        {"goal": "P1\u0000"},
        format="json",
        HTTP_IF_MATCH=etag,
        **admin,
    )
    assert nul_fields(response) == ["goal"]
    assert Project.objects.get(code="HLED-2021-01").goal.code == "P1-G1"


def test_nul_anywhere_in_a_body_is_named_by_its_path(
    api: APIClient, plan: None, admin: dict
) -> None:
    body = project_body(title_es="t\u0000")
    body["participating_agencies"][0]["agency"] = "MX-SE\u0000"
    body["countries"] = ["MX", "U\u0000S"]
    body["bad\u0000key"] = "x"
    response = api.post("/api/v1/projects/", body, format="json", **admin)
    assert sorted(nul_fields(response)) == [
        "bad\\u0000key",
        "countries.1",
        "participating_agencies.0.agency",
        "title_es",
    ]
    assert not Project.objects.filter(code=body["code"]).exists()


def test_nul_in_a_webhook_agency_is_a_400(api: APIClient, plan: None, admin: dict) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["*"], "agency": "MX-SE\u0000"}
    response = api.post("/api/v1/webhooks/", body, format="json", **admin)
    assert nul_fields(response) == ["agency"]
    assert not WebhookSubscription.objects.exists()


def test_nul_in_a_bulk_item_is_named(api: APIClient, plan: None, admin: dict) -> None:
    body = {"projects": [project_body(), project_body("HLED-2026-02", goal="P1-G1\u0000")]}
    response = api.post("/api/v1/projects/bulk/", body, format="json", **admin)
    assert nul_fields(response) == ["projects.1.goal"]
    # Named as every bulk item error is.
    error = response.json()["errors"][0]
    assert (error["index"], error["item_code"]) == (1, "HLED-2026-02")
    assert not Project.objects.filter(code__startswith="HLED-2026").exists()


def test_many_nul_strings_are_checked_in_linear_time(api: APIClient, admin: dict) -> None:
    body = {"projects": [{"code": f"HLED-2026-{i:02}", "title_en": "\u0000"} for i in range(100)]}
    body["x"] = ["\u0000"] * 50_000
    started = time.monotonic()
    response = api.post("/api/v1/projects/bulk/", body, format="json", **admin)
    assert time.monotonic() - started < 5
    assert len(nul_fields(response)) == 50_100


# -- 7. CSV formula injection --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindented", "'\tindented"),
        ("\rreturn", "'\rreturn"),
        ("Plain title", "Plain title"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_cells_are_escaped(value: str, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_export_escapes_formulas(api: APIClient, plan: None) -> None:
    import csv

    ProjectFactory(
        code="HLED-2021-09",
        goal=Project.objects.get(code="HLED-2021-01").goal,
        title_en="=1+2",
        title_es="@cmd",
        description_en="-10",
        is_published=True,
    )
    response = api.get("/api/v1/projects/export/csv/")
    text = b"".join(response.streaming_content).decode()
    rows = {row["code"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}
    row = rows["HLED-2021-09"]
    assert (row["title_en"], row["title_es"], row["description_en"]) == ("'=1+2", "'@cmd", "'-10")
    assert rows["HLED-2021-01"]["code"] == "HLED-2021-01"


# -- 8. brakes on guessing -----------------------------------------------------------------------


def test_repeated_bad_tokens_from_one_address_get_429(
    api: APIClient, plan: None, admin: dict, tiny_rates: None
) -> None:
    for attempt in range(3):
        response = api.get("/api/v1/pillars/", HTTP_AUTHORIZATION=f"Bearer wpt_x_{attempt}")
        assert_problem(response, 401)
    braked = api.get("/api/v1/pillars/", HTTP_AUTHORIZATION="Bearer wpt_x_y")
    assert_problem(braked, 429)
    assert 1 <= int(braked["Retry-After"]) <= 60
    # While braked, even a good token from that address is not looked at...
    assert_problem(api.get("/api/v1/pillars/", **admin), 429)
    # ...but another address is not affected, and anonymous reads go on.
    assert api.get("/api/v1/pillars/", REMOTE_ADDR="10.9.8.7", **admin).status_code == 200
    assert api.get("/api/v1/pillars/").status_code == 200


def test_bad_tokens_are_not_braked_when_the_cache_is_down(
    api: APIClient, plan: None, redis_down: None
) -> None:
    for attempt in range(6):
        response = api.get("/api/v1/pillars/", HTTP_AUTHORIZATION=f"Bearer wpt_x_{attempt}")
        assert_problem(response, 401)


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(
        "staff", password="right-password-1", is_staff=True, is_superuser=True
    )


def admin_login(client: Client, username: str, password: str, address: str) -> Any:
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def test_admin_logins_lock_out_an_account(client: Client, staff: Any, settings: Any) -> None:
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        # From a different address each time: the account itself is locked.
        response = admin_login(client, "staff", "wrong", f"192.0.2.{attempt + 1}")
        assert response.status_code in (200, 429)
    locked = admin_login(client, "staff", "right-password-1", "198.51.100.1")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_admin_logins_lock_out_an_address(client: Client, staff: Any, settings: Any) -> None:
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        admin_login(client, f"guess-{attempt}", "wrong", "203.0.113.9")
    assert admin_login(client, "staff", "right-password-1", "203.0.113.9").status_code == 429
    # The account is fine from elsewhere.
    assert admin_login(client, "staff", "right-password-1", "198.51.100.2").status_code == 302


# -- 9. what responses and logs give away --------------------------------------------------------


def test_responses_to_credentials_are_never_stored(api: APIClient, plan: None, admin: dict) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}
    created = api.post("/api/v1/webhooks/", body, format="json", **admin)
    assert created.status_code == 201, created.content[:300]
    assert created.json()["secret"]
    assert created["Cache-Control"] == "no-store"
    assert "no-store" in api.get("/api/v1/pillars/", **admin)["Cache-Control"]
    assert_problem(api.get("/api/v1/pillars/", HTTP_AUTHORIZATION="Bearer nope"), 401)
    assert "Cache-Control" not in api.get("/api/v1/pillars/")


def test_log_lines_are_json_with_the_request_id(api: APIClient, plan: None) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestIDFilter())
    for name in ("api.access", "django.request"):
        logging.getLogger(name).addHandler(handler)
    access = logging.getLogger("api.access")
    level = access.level
    access.setLevel(logging.INFO)
    try:
        api.get("/api/v1/pillars/", HTTP_X_REQUEST_ID="req-123")
        api.get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID="req-456")
        logging.getLogger("api.access").info("outside any request")
    finally:
        access.setLevel(level)
        for name in ("api.access", "django.request"):
            logging.getLogger(name).removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["logger"], r["request_id"]) for r in records] == [
        ("api.access", "req-123"),
        ("api.access", "req-456"),
        ("django.request", "req-456"),
        ("api.access", None),
    ]
    first = records[0]
    assert {"timestamp", "level", "message"} <= set(first)
    assert (first["method"], first["path"], first["status"]) == ("GET", "/api/v1/pillars/", 200)
    assert "request" not in records[2]
