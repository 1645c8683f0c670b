"""Every error is an RFC 9457 problem; body limits, request ids and throttling hold.

Each status the API can answer with is produced here by a real request, not by calling
the exception handler, so a view that answers some other way is caught.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.core.cache import cache, caches
from rest_framework.test import APIClient

from api.throttling import AnonymousRateThrottle, ExportRateThrottle, TokenRateThrottle
from config.settings.base import redis_cache as production_redis_cache
from tests.conftest import assert_problem, auth_header, make_user, token_headers
from tests.factories import (
    AgencyFactory,
    ApiTokenFactory,
    GoalFactory,
    PillarFactory,
    ProjectAgencyRoleFactory,
    ProjectCountryFactory,
    ProjectFactory,
)
from workplan.choices import Role
from workplan.models import AuditEvent, Pillar, Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(db: Any) -> None:
    """A slice of the real plan, built quickly: P1, P1-G1, MX-SE, US-DOC and HLED-2021-01."""
    goal = GoalFactory(pillar=PillarFactory(number=1), number=1)
    se = AgencyFactory(country="MX", acronym="SE", name_en="Ministry of Economy")
    doc = AgencyFactory(country="US", acronym="DOC", name_en="Department of Commerce")
    project = ProjectFactory(code="HLED-2021-01", goal=goal)
    for agency in (se, doc):
        ProjectAgencyRoleFactory(project=project, agency=agency, role="4")
    for country in ("MX", "US"):
        ProjectCountryFactory(project=project, country=country)


@pytest.fixture
def editor(plan: None) -> dict[str, str]:
    """Bearer header of a write token of an MX-SE editor."""
    return token_headers(make_user("se-editor", Role.EDITOR, "MX-SE"))


@pytest.fixture
def plan_admin(plan: None) -> dict[str, str]:
    return token_headers(make_user("plan-admin", Role.ADMIN))


def project_body(code: str = "HLED-2026-01", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "goal": "P1-G1",
        "title_en": "Supply-chain mapping pilot",
        "title_es": "Piloto de mapeo de cadenas de suministro",
        "description_en": "Maps supply chains.",
        "description_es": "Mapea cadenas de suministro.",
        "status": "2",
        "planned_start": "2026-01-15",
        "planned_end": "2027-06-30",
        "countries": ["MX", "US"],
        "participating_agencies": [
            {"agency": "MX-SE", "role": "4", "is_lead": True, "source": "stated"},
        ],
        "budget": {"amount": "250000.00", "currency": "USD"},
        "links": [],
    }
    body.update(overrides)
    return body


PILLAR = {
    "code": "P5",
    "number": 5,
    "name_en": "Energy",
    "name_es": "Energía",
    "description_en": "",
    "description_es": "",
}


# --- every status is a problem document ---------------------------------------------------


def _401(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    return api.post("/api/v1/projects/", project_body(), format="json")


def _403(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    return api.post("/api/v1/pillars/", PILLAR, format="json", **editor)


def _404(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    return api.get("/api/v1/projects/HLED-1999-99/")


def _405(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    return api.post("/api/v1/projects/HLED-2021-01/", {}, format="json", **editor)


def _406(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    return api.get("/api/v1/projects/", HTTP_ACCEPT="application/xml")


def _409(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    # A goal with active projects cannot be archived: the plan's state conflicts.
    return api.delete("/api/v1/goals/P1-G1/", HTTP_IF_MATCH="*", **plan_admin)


def _412(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    return api.patch(
        "/api/v1/projects/HLED-2021-01/",
        {"title_en": "Changed"},
        format="json",
        HTTP_IF_MATCH='"999-abc"',
        **editor,
    )


def _413(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    body = project_body(description_en="x" * 2_000_000)
    return api.post("/api/v1/projects/", body, format="json", **editor)


def _415(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    return api.generic("POST", "/api/v1/projects/", "code=X", "text/plain", **editor)


def _422(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    key = {"HTTP_IDEMPOTENCY_KEY": "key-422"}
    first = api.post("/api/v1/pillars/", PILLAR, format="json", **key, **plan_admin)
    assert first.status_code == 201, first.content[:300]
    other = {**PILLAR, "name_en": "Something else"}
    return api.post("/api/v1/pillars/", other, format="json", **key, **plan_admin)


def _428(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    return api.patch(
        "/api/v1/projects/HLED-2021-01/", {"title_en": "Changed"}, format="json", **editor
    )


def _429(api: APIClient, editor: dict, plan_admin: dict) -> Any:
    for _ in range(3):
        assert api.get("/api/v1/pillars/").status_code == 200
    return api.get("/api/v1/pillars/")


SCENARIOS: dict[int, Callable[..., Any]] = {
    401: _401,
    403: _403,
    404: _404,
    405: _405,
    406: _406,
    409: _409,
    412: _412,
    413: _413,
    415: _415,
    422: _422,
    428: _428,
    429: _429,
}


@pytest.fixture
def tiny_rates(monkeypatch: pytest.MonkeyPatch, clock_at_a_minute_start: None) -> dict[str, str]:
    rates = {"anon": "3/minute", "token": "5/minute"}
    for throttle in (AnonymousRateThrottle, TokenRateThrottle):
        monkeypatch.setattr(throttle, "THROTTLE_RATES", rates)
    cache.clear()
    return rates


@pytest.mark.parametrize("status", list(SCENARIOS))
def test_every_error_status_is_a_problem_document(
    api: APIClient,
    editor: dict,
    plan_admin: dict,
    tiny_rates: dict,
    status: int,
) -> None:
    # The tiny anonymous rate only bites the 429 scenario: the others make at most one
    # anonymous request.
    response = SCENARIOS[status](api, editor, plan_admin)
    body = assert_problem(response, status)
    assert body["code"], body


def test_401_names_the_authentication_scheme(api: APIClient, plan: None) -> None:
    response = api.post("/api/v1/projects/", project_body(), format="json")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_token_is_401_even_on_a_read(api: APIClient, plan: None) -> None:
    response = api.get("/api/v1/projects/", HTTP_AUTHORIZATION="Bearer wpt_nothing_here")
    assert_problem(response, 401)


def test_validation_errors_carry_field_names(api: APIClient, editor: dict) -> None:
    body = project_body(goal="P9-G9", status="9", countries=["ZZ"])
    response = api.post("/api/v1/projects/", body, format="json", **editor)
    problem = assert_problem(response, 400, "goal")
    fields = {e["field"] for e in problem["errors"]}
    assert {"goal", "status", "countries.0"} <= fields
    assert problem["code"] == "invalid"


# --- bad bodies -------------------------------------------------------------------------------


def test_malformed_json_is_400(api: APIClient, editor: dict) -> None:
    response = api.generic(
        "POST", "/api/v1/projects/", '{"code": "HLED-2026-01",', "application/json", **editor
    )
    assert_problem(response, 400)
    assert not Project.objects.filter(code="HLED-2026-01").exists()


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("code=HLED-2026-01&goal=P1-G1", "text/plain"),
        ("code=HLED-2026-01&goal=P1-G1", "application/x-www-form-urlencoded"),
        ("<project><code>HLED-2026-01</code></project>", "application/xml"),
    ],
    ids=["text", "form", "xml"],
)
def test_body_of_another_content_type_is_415(
    api: APIClient, editor: dict, content: str, content_type: str
) -> None:
    response = api.generic("POST", "/api/v1/projects/", content, content_type, **editor)
    assert_problem(response, 415)
    assert not Project.objects.filter(code="HLED-2026-01").exists()


def test_multipart_form_is_415(api: APIClient, editor: dict) -> None:
    response = api.post(
        "/api/v1/projects/", {"code": "HLED-2026-01", "goal": "P1-G1"}, format="multipart", **editor
    )
    assert_problem(response, 415)
    assert not Project.objects.filter(code="HLED-2026-01").exists()


def test_body_over_the_limit_is_413_and_creates_nothing(
    api: APIClient, editor: dict, settings: Any
) -> None:
    settings.API_MAX_BODY_BYTES = 2000
    projects, events = Project.objects.count(), AuditEvent.objects.count()
    body = project_body(description_en="x" * 3000)

    response = api.post("/api/v1/projects/", body, format="json", **editor)

    assert_problem(response, 413)
    assert Project.objects.count() == projects
    assert AuditEvent.objects.count() == events
    assert not Project.objects.filter(code="HLED-2026-01").exists()


def test_body_under_the_limit_is_accepted(api: APIClient, editor: dict, settings: Any) -> None:
    # The same limit lets a normal body through: the 413 above is about size, not the setting.
    settings.API_MAX_BODY_BYTES = 2000
    response = api.post("/api/v1/projects/", project_body(), format="json", **editor)
    assert response.status_code == 201, response.content[:500]


def test_nul_byte_in_a_title_is_400_naming_it(api: APIClient, editor: dict) -> None:
    body = project_body(title_en="Supply\u0000chain")
    response = api.post("/api/v1/projects/", body, format="json", **editor)
    assert_problem(response, 400, "title_en")
    assert not Project.objects.filter(code="HLED-2026-01").exists()


def test_nul_byte_in_a_patch_is_400_naming_it(api: APIClient, editor: dict) -> None:
    response = api.patch(
        "/api/v1/projects/HLED-2021-01/",
        {"title_es": "a\u0000b"},
        format="json",
        HTTP_IF_MATCH="*",
        **editor,
    )
    assert_problem(response, 400, "title_es")
    assert "\x00" not in Project.objects.get(code="HLED-2021-01").title_es


@pytest.mark.parametrize(
    "content",
    ['[{"code": "HLED-2026-01"}]', '"HLED-2026-01"', "42", "null", "true"],
    ids=["array", "string", "number", "null", "boolean"],
)
def test_json_that_is_not_an_object_is_400(api: APIClient, editor: dict, content: str) -> None:
    response = api.generic("POST", "/api/v1/projects/", content, "application/json", **editor)
    assert_problem(response, 400)
    assert not Project.objects.filter(code="HLED-2026-01").exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title_en": 12345}, "title_en"),
        ({"title_es": 1.5}, "title_es"),
        ({"title_en": ["a list"]}, "title_en"),
        ({"title_en": {"en": "an object"}}, "title_en"),
        ({"budget": "250000 USD"}, "budget"),
        ({"budget": 250000}, "budget"),
        ({"countries": "MX"}, "countries"),
        ({"participating_agencies": {"agency": "MX-SE"}}, "participating_agencies"),
        ({"planned_start": 20260115}, "planned_start"),
        ({"planned_start": "15/01/2026"}, "planned_start"),
    ],
    ids=[
        "number-title",
        "float-title",
        "list-title",
        "object-title",
        "string-budget",
        "number-budget",
        "string-countries",
        "object-agencies",
        "number-date",
        "bad-date",
    ],
)
def test_wrong_types_are_400_naming_the_field(
    api: APIClient, editor: dict, overrides: dict, field: str
) -> None:
    response = api.post("/api/v1/projects/", project_body(**overrides), format="json", **editor)
    assert_problem(response, 400, field)
    assert not Project.objects.filter(code="HLED-2026-01").exists()


def test_planned_end_before_start_is_400_naming_planned_end(api: APIClient, editor: dict) -> None:
    body = project_body(planned_start="2027-01-01", planned_end="2026-01-01")
    response = api.post("/api/v1/projects/", body, format="json", **editor)
    assert_problem(response, 400, "planned_end")
    assert not Project.objects.filter(code="HLED-2026-01").exists()


def test_planned_end_before_start_on_patch_is_400(api: APIClient, editor: dict) -> None:
    project = Project.objects.get(code="HLED-2021-01")
    response = api.patch(
        "/api/v1/projects/HLED-2021-01/",
        {"planned_start": "2027-01-01", "planned_end": "2026-01-01"},
        format="json",
        HTTP_IF_MATCH="*",
        **editor,
    )
    assert_problem(response, 400, "planned_end")
    project.refresh_from_db()
    assert project.planned_start is None


@pytest.mark.parametrize(
    ("budget", "field"),
    [
        ({"amount": "-1.00", "currency": "USD"}, "budget.amount"),
        ({"amount": "100.00", "currency": "ZZZ"}, "budget.currency"),
        ({"amount": "100.00", "currency": "usd dollars"}, "budget.currency"),
        ({"amount": "100.00"}, "budget.currency"),
        ({"currency": "MXN"}, "budget.amount"),
        ({"amount": "abc", "currency": "MXN"}, "budget.amount"),
    ],
    ids=["negative", "unknown-currency", "free-text-currency", "no-currency", "no-amount", "nan"],
)
def test_invalid_budget_is_400(api: APIClient, editor: dict, budget: dict, field: str) -> None:
    response = api.post("/api/v1/projects/", project_body(budget=budget), format="json", **editor)
    assert_problem(response, 400, field)
    assert not Project.objects.filter(code="HLED-2026-01").exists()


# --- X-Request-ID -------------------------------------------------------------------------------


def is_generated_id(value: str) -> bool:
    try:
        uuid.UUID(hex=value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/projects/", 200),
        ("get", "/api/v1/projects/HLED-2021-01/", 200),
        ("get", "/api/v1/projects/HLED-1999-99/", 404),
        ("get", "/api/v1/no-such-thing/", 404),
        ("get", "/nowhere/at/all/", 404),
        ("get", "/api/v1/projects/?colour=red", 400),
        ("post", "/api/v1/projects/", 401),
        ("get", "/health/", 200),
    ],
)
def test_every_response_gets_a_request_id(
    api: APIClient, plan: None, method: str, path: str, status: int
) -> None:
    response = getattr(api, method)(path)
    assert response.status_code == status
    assert is_generated_id(response["X-Request-ID"])


def test_each_request_gets_its_own_id(api: APIClient, plan: None) -> None:
    ids = {api.get("/api/v1/pillars/")["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize(
    "sent",
    ["abc-123", "4bf92f3577b34da6a3ce929d0e0e4736", "req:2026/01/15+retry=2", "a" * 200],
)
def test_a_sane_request_id_is_echoed(api: APIClient, plan: None, sent: str) -> None:
    assert api.get("/api/v1/pillars/", HTTP_X_REQUEST_ID=sent)["X-Request-ID"] == sent


def test_the_request_id_is_echoed_on_errors(api: APIClient, plan: None) -> None:
    response = api.get("/api/v1/projects/HLED-1999-99/", HTTP_X_REQUEST_ID="trace-404")
    assert_problem(response, 404)
    assert response["X-Request-ID"] == "trace-404"
    response = api.get("/api/v1/unknown/", HTTP_X_REQUEST_ID="trace-url")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "trace-url"


@pytest.mark.parametrize(
    "sent",
    ["a" * 500, "a" * 201, "has spaces in it", "tab\there", "<script>", "semi;colon", "é"],
    ids=["500-chars", "201-chars", "spaces", "tab", "markup", "semicolon", "non-ascii"],
)
def test_a_garbage_request_id_is_replaced(api: APIClient, plan: None, sent: str) -> None:
    response = api.get("/api/v1/pillars/", HTTP_X_REQUEST_ID=sent)
    assert response.status_code == 200
    assert response["X-Request-ID"] != sent
    assert is_generated_id(response["X-Request-ID"])


# --- throttling ---------------------------------------------------------------------------------


def test_fourth_anonymous_request_is_429_with_retry_after(
    api: APIClient, plan: None, tiny_rates: dict
) -> None:
    for _ in range(3):
        assert api.get("/api/v1/pillars/").status_code == 200

    response = api.get("/api/v1/projects/")

    body = assert_problem(response, 429)
    assert body["code"] == "throttled"
    retry_after = response["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 0 < int(retry_after) <= 60


def test_anonymous_limit_does_not_apply_to_token_users(
    api: APIClient, editor: dict, tiny_rates: dict
) -> None:
    for _ in range(3):
        assert api.get("/api/v1/pillars/").status_code == 200
    assert api.get("/api/v1/pillars/").status_code == 429
    # The token has its own budget of 5.
    for _ in range(5):
        assert api.get("/api/v1/pillars/", **editor).status_code == 200


def test_token_limits_are_counted_per_token(api: APIClient, plan: None, tiny_rates: dict) -> None:
    user = make_user("two-tokens", Role.READER, "MX-SE")
    first, second = token_headers(user, "read"), token_headers(user, "read")
    for _ in range(5):
        assert api.get("/api/v1/pillars/", **first).status_code == 200

    throttled = api.get("/api/v1/pillars/", **first)

    assert_problem(throttled, 429)
    assert throttled["Retry-After"].isdigit()
    # Another token of the same user has a budget of its own.
    for _ in range(5):
        assert api.get("/api/v1/pillars/", **second).status_code == 200
    assert_problem(api.get("/api/v1/pillars/", **second), 429)


def test_throttled_write_creates_nothing(api: APIClient, editor: dict, tiny_rates: dict) -> None:
    for _ in range(5):
        assert api.get("/api/v1/pillars/", **editor).status_code == 200
    response = api.post("/api/v1/projects/", project_body(), format="json", **editor)
    assert_problem(response, 429)
    assert not Project.objects.filter(code="HLED-2026-01").exists()


# --- shared counters in Redis -------------------------------------------------------------------


@pytest.fixture
def redis_cache(settings: Any, tiny_rates: dict) -> Iterator[tuple[Any, str]]:
    """The default cache on Redis (db 15), and a raw client on the same database.

    Keys get a prefix of their own so that a parallel worker's use of the same database
    can neither disturb this test nor be wiped by it.
    """
    redis = pytest.importorskip("redis")
    url = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
    raw = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        raw.ping()
    except redis.exceptions.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {url}: {exc}")
    prefix = f"test-throttle-{uuid.uuid4().hex[:12]}"

    def wipe() -> None:
        for key in raw.scan_iter(match=f"{prefix}:*"):
            raw.delete(key)

    wipe()
    settings.CACHES = {"default": production_redis_cache(url, key_prefix=prefix)}
    yield raw, prefix
    wipe()
    raw.close()


def test_throttle_counters_live_in_redis(
    api: APIClient, plan: None, redis_cache: tuple[Any, str]
) -> None:
    raw, prefix = redis_cache
    assert type(caches["default"]).__name__ == "RedisCache"
    for _ in range(3):
        assert api.get("/api/v1/pillars/").status_code == 200

    # A client that shares nothing with Django sees the counter.
    keys = [key.decode() for key in raw.scan_iter(match=f"{prefix}:*throttle_anon_*")]
    assert len(keys) == 1, keys
    # One counter per client and window, raised once per request.
    assert int(raw.get(keys[0])) == 3
    assert 0 < raw.ttl(keys[0]) <= 60

    # Another worker process: a new cache object and connection, nothing kept in memory.
    old = caches["default"]
    del caches["default"]
    assert caches["default"] is not old
    assert_problem(api.get("/api/v1/pillars/"), 429)

    # The count is Redis's alone: removing the key there lifts the limit.
    raw.delete(keys[0])
    assert api.get("/api/v1/pillars/").status_code == 200


def test_a_request_costs_one_redis_round_trip(
    api: APIClient, plan: None, redis_cache: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    trips: list[str] = []
    real_command = redis.Redis.execute_command
    real_pipeline = redis.client.Pipeline.execute

    def command(self: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(str(args[0]))
        return real_command(self, *args, **kwargs)

    def pipeline(self: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append("pipeline")
        return real_pipeline(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline)
    api.get("/api/v1/pillars/")  # connects
    trips.clear()
    assert api.get("/api/v1/pillars/P1/").status_code == 200
    assert trips == ["pipeline"]
    # A list's first page also keeps its count for the later pages (api/pagination.py).
    trips.clear()
    assert api.get("/api/v1/pillars/").status_code == 200
    assert trips == ["pipeline", "SET"]


def test_exports_have_a_budget_of_their_own(
    api: APIClient, plan: None, tiny_rates: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ExportRateThrottle, "THROTTLE_RATES", {"export": "2/hour"})
    # Windows are fixed to the clock: half past, the export window has half an hour left
    # (and the minute window of reads, all of its minute).
    with time_machine.travel(dt.datetime(2026, 3, 2, 10, 30, tzinfo=dt.UTC), tick=False):
        for _ in range(2):
            assert api.get("/api/v1/projects/export/csv/").status_code == 200
        throttled = api.get("/api/v1/projects/export/iati/")
        assert_problem(throttled, 429)
        assert int(throttled["Retry-After"]) == 30 * 60
        # Reads keep their own budget (3 a minute here), untouched by the exports.
        for _ in range(3):
            assert api.get("/api/v1/pillars/").status_code == 200
        assert_problem(api.get("/api/v1/pillars/"), 429)


def test_token_counters_live_in_redis(
    api: APIClient, plan: None, redis_cache: tuple[Any, str]
) -> None:
    raw, prefix = redis_cache
    user = make_user("redis-reader", Role.READER, "MX-SE")
    token = ApiTokenFactory(user=user, scope="read")
    plaintext = token.plaintext
    header = auth_header(plaintext)
    for _ in range(5):
        assert api.get("/api/v1/pillars/", **header).status_code == 200

    keys = [key.decode() for key in raw.scan_iter(match=f"{prefix}:*throttle_token_*")]
    assert len(keys) == 1, keys
    assert str(token.pk) in keys[0]
    assert plaintext not in keys[0]

    del caches["default"]
    assert_problem(api.get("/api/v1/pillars/", **header), 429)


def test_pillar_create_is_refused_politely_when_throttled(
    api: APIClient, plan_admin: dict, tiny_rates: dict
) -> None:
    for _ in range(5):
        assert api.get("/api/v1/pillars/", **plan_admin).status_code == 200
    assert_problem(api.post("/api/v1/pillars/", PILLAR, format="json", **plan_admin), 429)
    assert not Pillar.objects.filter(code="P5").exists()
