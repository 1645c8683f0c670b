"""Fixtures and helpers shared by the whole suite.

Everything a test reads lives inside the repository: the real plan in fixtures/, the
facts it is checked against in tests/data/, the IATI schema in schemas/.
"""

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from api.throttling import AnonymousRateThrottle, TokenRateThrottle
from tests.factories import AgencyMembershipFactory, ApiTokenFactory, UserFactory
from workplan.models import Agency

ROOT = Path(__file__).resolve().parent.parent
IATI_SCHEMA = ROOT / "schemas" / "iati-2.03" / "iati-activities-schema.xsd"
PROBLEM = "application/problem+json"
# Keys of an entry of a problem's `errors`; bulk items add where in the batch it failed.
ERROR_KEYS = {"field", "code", "message"}
BULK_ERROR_KEYS = {"index", "item_code"}


# --- problem documents -----------------------------------------------------------------------


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem document for `status`; returns its body.

    With `field`, the problem's `errors` and its `detail` name that field (or a field inside
    it, such as `participating_agencies.0.agency` for `participating_agencies`).
    """
    assert response.status_code == status, (response.status_code, response.content[:800])
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    for key in ("type", "title", "detail", "code"):
        assert isinstance(body.get(key), str) and body[key], (key, body)
    assert response.has_header("X-Request-ID")
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    for error in body.get("errors", []):
        assert ERROR_KEYS <= set(error) <= ERROR_KEYS | BULK_ERROR_KEYS, error
        assert error["code"] and error["message"], error
    if field is not None:
        fields = {e["field"] for e in body["errors"]}
        assert field in fields or any(f and f.startswith(f"{field}.") for f in fields), body
        assert field in body["detail"], body
    return body


def error_fields(response: Any) -> set[str]:
    """The fields a problem document's `errors` name (errors about the whole body left out)."""
    assert response["Content-Type"] == PROBLEM, response.content[:300]
    return {e["field"] for e in response.json().get("errors", []) if e["field"]}


# --- reading through the API -----------------------------------------------------------------


def parsed(response: Any) -> Any:
    """The JSON body of a response, streamed (the whole plan) or not."""
    if getattr(response, "streaming", False):
        return json.loads(b"".join(response.streaming_content))
    return response.json()


def get_ok(client: Any, url: str, **extra: Any) -> Any:
    """GET `url`, expect a 200 and return the parsed body."""
    response = client.get(url, **extra)
    status = response.status_code
    assert status == 200, (url, status, b"" if response.streaming else response.content[:800])
    return parsed(response)


def list_all(client: Any, resource: str, query: str = "") -> list[dict[str, Any]]:
    """Every item of a list endpoint in both languages (`lang=all`), following `next`."""
    items: list[dict[str, Any]] = []
    url: str | None = f"/api/v1/{resource}/?lang=all&page_size=100{'&' + query if query else ''}"
    while url:
        body = get_ok(client, url)
        items += body["results"]
        url = body["next"]
    return items


# --- users, tokens and clients ---------------------------------------------------------------


def make_user(
    username: str, role: str | None = None, agency: Agency | str | None = None, **fields: Any
) -> Any:
    """A user; with `role`, a partner user of `agency` (an Agency or its code; none for admins)."""
    user = UserFactory(username=username, **fields)
    if role is not None:
        if isinstance(agency, str):
            agency = Agency.objects.get(code=agency)
        AgencyMembershipFactory(user=user, role=role, agency=agency)
    return user


def auth_header(plaintext: str) -> dict[str, str]:
    """The Authorization header that presents a bearer token, as test-client keywords."""
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def token_headers(user: Any, scope: str = "write") -> dict[str, str]:
    """The Authorization header of a new API token of `user`."""
    return auth_header(ApiTokenFactory(user=user, scope=scope).plaintext)


def token_client(user: Any | None = None, scope: str = "write") -> APIClient:
    """A client that sends a new API token of `user` on every request; anonymous without one."""
    client = APIClient()
    if user is not None:
        client.credentials(**token_headers(user, scope))
        client.user = user
    return client


def client_for(user: Any) -> APIClient:
    """A client authenticated as `user` without a token (the token path has its own tests)."""
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def api() -> APIClient:
    return APIClient()


PLAN_MODELS = [
    "workplan.Pillar",
    "workplan.Goal",
    "workplan.Agency",
    "workplan.Project",
    "workplan.ProjectAgencyRole",
    "workplan.ProjectCountry",
    "workplan.ProjectLink",
    "workplan.Meeting",
    "workplan.MeetingChair",
    "workplan.MeetingSource",
    "workplan.MeetingProject",
    "workplan.ProgressReport",
    "workplan.Result",
    "workplan.Indicator",
    "workplan.IndicatorPeriod",
    "workplan.AuditEvent",
    "workplan.ImportBaseline",
]


@pytest.fixture(scope="session")
def real_plan_dump(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The real plan loaded once per test process with `load_workplan`, kept as a dump.

    Loading through the services (validation, snapshots, audit) takes about a second;
    replaying the dump into each test that needs the plan takes a fraction of that.
    """
    path = tmp_path_factory.mktemp("plan") / "real-plan.json"
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("load_workplan", stdout=io.StringIO())
        call_command("dumpdata", *PLAN_MODELS, output=str(path), stdout=io.StringIO())
        transaction.set_rollback(True)
    return path


@pytest.fixture
def real_plan(db: Any, real_plan_dump: Path) -> None:
    """The real 2021 plan from fixtures/, as `make run` loads it (with its audit trail)."""
    call_command("loaddata", str(real_plan_dump), verbosity=0)


@pytest.fixture
def get_json(api: APIClient) -> Callable[..., Any]:
    """GET a URL and return (response, parsed body)."""

    def _get(url: str, status: int = 200, **kwargs: Any) -> Any:
        response = api.get(url, **kwargs)
        assert response.status_code == status, (response.status_code, response.content[:500])
        return response.json()

    return _get


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Throttle counters and other cached state never leak from one test to the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def no_throttling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rates no test reaches, for tests that make many calls; the throttles have their own."""
    rates = {"anon": "100000/minute", "token": "100000/minute"}
    monkeypatch.setattr(AnonymousRateThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", rates)


@pytest.fixture(scope="session")
def openapi_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The v1 OpenAPI document, generated once per test process as `make schema` does it.

    `--validate` checks it against the OpenAPI specification and `--fail-on-warn` turns
    any warning into an error. Tests read it and must not change it.
    """
    path = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    call_command(
        "spectacular",
        "--api-version",
        "v1",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(path),
        stdout=io.StringIO(),
    )
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture
def clock_at_a_minute_start() -> Iterator[None]:
    """Rate windows follow the clock (api/throttling.py WindowThrottle): a test that counts
    requests against a rate per minute starts at the top of the next minute, the clock
    running on from there, so no window ends halfway through it."""
    start = (int(time.time() // 60) + 1) * 60
    with time_machine.travel(start, tick=True):
        yield
