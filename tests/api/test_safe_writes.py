"""Safe writes: ETags and If-None-Match, If-Match on every write, Idempotency-Key on
POST, and archiving/restoring through the API.

The race tests need PostgreSQL: SQLite serialises writers on one file lock (and its
in-memory test database is not shared between threads), so nothing would race there.
"""

import itertools
import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from api.idempotency import _fingerprint
from api.models import IdempotencyRecord
from tests.conftest import PROBLEM, assert_problem, client_for, make_user, token_headers
from tests.factories import (
    AgencyFactory,
    GoalFactory,
    MeetingFactory,
    PillarFactory,
    ProgressReportFactory,
    ProjectAgencyRoleFactory,
    ProjectFactory,
)
from workplan.choices import Role
from workplan.models import (
    Agency,
    AuditAction,
    AuditEvent,
    Goal,
    Meeting,
    Pillar,
    PlanObject,
    ProgressReport,
    Project,
)

pytestmark = pytest.mark.django_db

RESOURCES: dict[str, type[PlanObject]] = {
    "pillars": Pillar,
    "goals": Goal,
    "agencies": Agency,
    "projects": Project,
    "meetings": Meeting,
    "progress": ProgressReport,
}
WRITES = ["put", "patch", "delete"]
STRONG_ETAG = re.compile(r'^"[\x21\x23-\x7e]+"$')  # RFC 9110 entity-tag without W/


# -- helpers -------------------------------------------------------------------------


def detail(resource: str, code: str) -> str:
    return f"/api/v1/{resource}/{code}/"


def row(obj: PlanObject) -> dict[str, Any]:
    """Everything stored in the object's row, version and timestamps included."""
    return type(obj).objects.values().get(pk=obj.pk)


def audit_count(obj: PlanObject | None = None) -> int:
    events = AuditEvent.objects.all()
    return events.filter(object_code=obj.code).count() if obj is not None else events.count()


def list_codes(client: APIClient, resource: str) -> set[str]:
    response = client.get(f"/api/v1/{resource}/?page_size=100")
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    return {item["code"] for item in body["results"]}


# Every write body carries new text: a write that changes nothing is not a write.
_edits = itertools.count(1)


def patch_body(resource: str) -> dict[str, Any]:
    field = {
        "pillars": "name_en",
        "goals": "title_en",
        "agencies": "name_en",
        "meetings": "summary_en",
        "progress": "narrative_en",
    }.get(resource, "title_en")
    return {field: f"Changed by safe write {next(_edits)}"}


def put_body(resource: str, obj: Any) -> dict[str, Any]:
    """A complete, valid representation of `obj` with its English name changed."""
    if resource == "pillars":
        return {
            "code": obj.code,
            "number": obj.number,
            "name_en": f"Replaced pillar {next(_edits)}",
            "name_es": obj.name_es,
            "description_en": "",
            "description_es": "",
        }
    if resource == "goals":
        return {
            "code": obj.code,
            "pillar": obj.pillar.code,
            "number": obj.number,
            "title_en": f"Replaced goal {next(_edits)}",
            "title_es": obj.title_es,
            "description_en": "",
            "description_es": "",
        }
    if resource == "agencies":
        return {
            "code": obj.code,
            "acronym": obj.acronym,
            "name_en": f"Replaced agency {next(_edits)}",
            "name_es": obj.name_es,
            "country": obj.country,
            "organisation_type": obj.organisation_type,
            "parent": None,
            "website": "",
        }
    if resource == "meetings":
        return {
            "code": obj.code,
            "date": obj.date.isoformat(),
            "kind": "review",
            "place_en": f"Replaced meeting {next(_edits)}",
            "place_es": obj.place_es,
            "summary_en": "",
            "summary_es": "",
            "chairs": [],
            "sources": [],
            "projects": [],
        }
    if resource == "progress":
        return {
            "project": obj.project.code,
            "goal": None,
            "date": obj.date.isoformat(),
            "narrative_en": f"Replaced report {next(_edits)}",
            "narrative_es": obj.narrative_es,
            "meeting": None,
            "source": {"kind": "stated", "title": "A statement"},
            "period": None,
            "measure": None,
        }
    return {
        "code": obj.code,
        "goal": obj.goal.code,
        "title_en": f"Replaced project {next(_edits)}",
        "title_es": obj.title_es,
        "description_en": "",
        "description_es": "",
        "status": "2",
        "planned_start": None,
        "planned_end": None,
        "actual_start": None,
        "actual_end": None,
        "countries": ["MX"],
        "participating_agencies": [],
        "budget": None,
        "links": [],
        "is_published": True,
    }


def write(client: APIClient, method: str, resource: str, obj: Any, if_match: str | None) -> Any:
    headers = {} if if_match is None else {"HTTP_IF_MATCH": if_match}
    path = detail(resource, obj.code)
    if method == "delete":
        return client.delete(path, **headers)
    body = put_body(resource, obj) if method == "put" else patch_body(resource)
    return getattr(client, method)(path, body, format="json", **headers)


def assert_write_applied(response: Any, method: str, obj: PlanObject, before: dict) -> None:
    expected = 204 if method == "delete" else 200
    assert response.status_code == expected, (response.status_code, response.content[:500])
    after = row(obj)
    assert after["version"] == before["version"] + 1
    if method == "delete":
        assert after["archived_at"] is not None
    else:
        assert STRONG_ETAG.match(response["ETag"])


def new_object_body(resource: str, n: int, goal: Goal, agency: Agency) -> dict[str, Any]:
    """The body of a POST creating a fresh object; `n` keeps codes and numbers apart."""
    if resource == "pillars":
        return {
            "code": f"P{60 + n}",
            "number": 60 + n,
            "name_en": f"Pillar {n}",
            "name_es": f"Pilar {n}",
            "description_en": "",
            "description_es": "",
        }
    if resource == "goals":
        return {
            "code": f"{goal.pillar.code}-G{50 + n}",
            "pillar": goal.pillar.code,
            "number": 50 + n,
            "title_en": f"Goal {n}",
            "title_es": f"Objetivo {n}",
            "description_en": "",
            "description_es": "",
        }
    if resource == "agencies":
        return {
            "code": f"US-NEW{n}",
            "acronym": f"NEW{n}",
            "name_en": f"New agency {n}",
            "name_es": f"Agencia nueva {n}",
            "country": "US",
            "organisation_type": "10",
            "parent": None,
            "website": "",
        }
    if resource == "meetings":
        return {
            "code": f"HLED-M-2030-01-{n:02d}",
            "date": f"2030-01-{n:02d}",
            "kind": "ministerial",
            "place_en": "Monterrey",
            "place_es": "Monterrey",
            "chairs": [{"agency": agency.code, "person_name": f"Chair {n}"}],
        }
    if resource == "progress":
        # No code: the API issues one.
        return {
            "goal": goal.code,
            "date": f"2030-01-{n:02d}",
            "narrative_en": f"Progress {n}",
            "narrative_es": f"Avance {n}",
            "source": {"kind": "stated", "title": f"Statement {n}"},
        }
    return {
        "code": f"HLED-2030-{n:02d}",
        "goal": goal.code,
        "title_en": f"Project {n}",
        "title_es": f"Proyecto {n}",
        "description_en": "",
        "description_es": "",
        "status": "2",
        "countries": ["MX"],
        "participating_agencies": [{"agency": agency.code, "role": "4", "is_lead": True}],
    }


def require_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite serialises writers and its in-memory test database "
            "is not shared between threads, so nothing would race"
        )


def run_at_once(count: int, task: Callable[[int], Any]) -> list[Any]:
    """Run `task(i)` in `count` threads released together; return their results in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = task(i)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    assert not failures, failures
    return results


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture
def objects(db: Any) -> dict[str, PlanObject]:
    """One object of each resource that nothing depends on, so each may be archived."""
    return {
        "pillars": PillarFactory(),
        "goals": GoalFactory(),
        "agencies": AgencyFactory(country="US"),
        "projects": ProjectFactory(),
        "meetings": MeetingFactory(),
        "progress": ProgressReportFactory(),
    }


@pytest.fixture
def admin_api(admin_user: Any) -> APIClient:
    return client_for(admin_user)


@pytest.fixture
def goal(db: Any) -> Goal:
    return GoalFactory()


@pytest.fixture
def agency(db: Any) -> Agency:
    return AgencyFactory(country="MX")


# -- ETag and If-None-Match -----------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_detail_has_a_strong_stable_etag(api, objects, resource):
    path = detail(resource, objects[resource].code)
    first = api.get(path)
    assert first.status_code == 200
    etag = first["ETag"]
    assert STRONG_ETAG.match(etag), etag
    assert not etag.startswith("W/")
    assert api.get(path)["ETag"] == etag


@pytest.mark.parametrize("resource", RESOURCES)
def test_etag_changes_after_a_write(api, admin_api, objects, resource):
    path = detail(resource, objects[resource].code)
    before = api.get(path)["ETag"]
    response = admin_api.patch(path, patch_body(resource), format="json", HTTP_IF_MATCH=before)
    assert response.status_code == 200, response.content[:500]
    after = api.get(path)["ETag"]
    assert STRONG_ETAG.match(after)
    assert after != before
    # The write answers with the new representation's tag.
    assert response["ETag"] == after


@pytest.mark.parametrize("resource", RESOURCES)
def test_etag_differs_between_languages(api, objects, resource):
    path = detail(resource, objects[resource].code)
    english = api.get(f"{path}?lang=en")["ETag"]
    spanish = api.get(f"{path}?lang=es")["ETag"]
    assert STRONG_ETAG.match(english) and STRONG_ETAG.match(spanish)
    assert english != spanish
    # A cached English copy does not validate the Spanish representation.
    assert api.get(f"{path}?lang=es", HTTP_IF_NONE_MATCH=english).status_code == 200
    assert api.get(f"{path}?lang=es", HTTP_IF_NONE_MATCH=spanish).status_code == 304


@pytest.mark.parametrize(
    "header",
    [
        "{etag}",
        # If-None-Match uses the weak comparison (RFC 9110 §13.1.2).
        "W/{etag}",
        '"1-stale", {etag}',
        "*",
    ],
)
@pytest.mark.parametrize("resource", RESOURCES)
def test_if_none_match_with_the_current_etag_is_304(api, objects, resource, header):
    path = detail(resource, objects[resource].code)
    etag = api.get(path)["ETag"]
    response = api.get(path, HTTP_IF_NONE_MATCH=header.format(etag=etag))
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


@pytest.mark.parametrize("resource", RESOURCES)
def test_if_none_match_with_an_old_etag_is_200(api, admin_api, objects, resource):
    path = detail(resource, objects[resource].code)
    old = api.get(path)["ETag"]
    changed = admin_api.patch(path, patch_body(resource), format="json", HTTP_IF_MATCH=old)
    assert changed.status_code == 200
    response = api.get(path, HTTP_IF_NONE_MATCH=old)
    assert response.status_code == 200
    assert response.json()["code"] == objects[resource].code
    assert response["ETag"] != old


# -- If-Match ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("resource", RESOURCES)
def test_write_without_if_match_is_428(admin_api, objects, resource, method):
    obj = objects[resource]
    before, events = row(obj), audit_count()
    body = assert_problem(write(admin_api, method, resource, obj, None), 428)
    assert "If-Match" in body["detail"]
    assert row(obj) == before
    assert audit_count() == events


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("resource", RESOURCES)
def test_write_with_a_stale_etag_is_412_and_changes_nothing(
    api, admin_api, objects, resource, method
):
    obj = objects[resource]
    path = detail(resource, obj.code)
    stale = api.get(path)["ETag"]
    # Someone else writes in between.
    assert (
        admin_api.patch(path, patch_body(resource), format="json", HTTP_IF_MATCH=stale).status_code
        == 200
    )
    before, events = row(obj), audit_count()
    assert_problem(write(admin_api, method, resource, obj, stale), 412)
    assert row(obj) == before
    assert audit_count() == events
    assert api.get(path).status_code == 200


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("resource", RESOURCES)
def test_write_with_star_is_allowed(admin_api, objects, resource, method):
    obj = objects[resource]
    before, events = row(obj), audit_count(obj)
    assert_write_applied(write(admin_api, method, resource, obj, "*"), method, obj, before)
    assert audit_count(obj) == events + 1


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("resource", RESOURCES)
def test_write_with_a_list_containing_the_current_etag_is_allowed(
    api, admin_api, objects, resource, method
):
    obj = objects[resource]
    path = detail(resource, obj.code)
    old = api.get(path)["ETag"]
    assert (
        admin_api.patch(path, patch_body(resource), format="json", HTTP_IF_MATCH=old).status_code
        == 200
    )
    current = api.get(path)["ETag"]
    before = row(obj)
    response = write(admin_api, method, resource, obj, f'{old}, {current}, "999999-x"')
    assert_write_applied(response, method, obj, before)


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("resource", RESOURCES)
def test_weak_etag_never_matches_if_match(api, admin_api, objects, resource, method):
    obj = objects[resource]
    current = api.get(detail(resource, obj.code))["ETag"]
    before, events = row(obj), audit_count()
    assert_problem(write(admin_api, method, resource, obj, f"W/{current}"), 412)
    assert row(obj) == before
    assert audit_count() == events


@pytest.mark.parametrize("if_match", [None, '"999999-x"'])
def test_if_match_applies_to_agency_editors_too(api, if_match):
    project = ProjectFactory()
    agency = AgencyFactory(country="MX")
    ProjectAgencyRoleFactory(project=project, agency=agency)
    editor = token_headers(make_user("editor", Role.EDITOR, agency))
    before = row(project)
    response = api.patch(
        detail("projects", project.code),
        {"title_en": "Editor's title"},
        format="json",
        **editor,
        **({} if if_match is None else {"HTTP_IF_MATCH": if_match}),
    )
    assert_problem(response, 428 if if_match is None else 412)
    assert row(project) == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_with_the_same_etag_exactly_one_wins():
    require_postgresql()
    project = ProjectFactory()
    agency = AgencyFactory(country="MX")
    ProjectAgencyRoleFactory(project=project, agency=agency)
    auth = token_headers(make_user("editor", Role.EDITOR, agency))
    path = detail("projects", project.code)
    first = APIClient().get(path, **auth)
    assert first.status_code == 200
    etag, version = first["ETag"], row(project)["version"]
    updates = AuditEvent.objects.filter(action=AuditAction.UPDATE, object_code=project.code)

    def patch(i: int) -> tuple[int, str, str]:
        response = APIClient().patch(
            path, {"title_en": f"Written by writer {i}"}, format="json", HTTP_IF_MATCH=etag, **auth
        )
        return response.status_code, response["Content-Type"], f"Written by writer {i}"

    results = run_at_once(20, patch)

    assert Counter(status for status, _, _ in results) == {200: 1, 412: 19}, results
    assert all(kind == PROBLEM for status, kind, _ in results if status == 412)
    winner = next(title for status, _, title in results if status == 200)
    stored = row(project)
    assert stored["version"] == version + 1
    assert stored["title_en"] == winner
    assert updates.count() == 1
    assert updates.get().changes["title_en"]["after"] == winner


# -- Idempotency-Key --------------------------------------------------------------------

IDEMPOTENT_RESOURCES = ["projects", "pillars", "meetings"]


def post(client: APIClient, resource: str, body: dict, key: str | None, **extra: Any) -> Any:
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(f"/api/v1/{resource}/", body, format="json", **extra)


def in_flight_fingerprint(path: str, body: dict) -> str:
    """The fingerprint the server computes for this POST, for a record made by hand."""
    request = Request(APIRequestFactory().post(path, body, format="json"), parsers=[JSONParser()])
    return _fingerprint(request)


@pytest.mark.parametrize("resource", IDEMPOTENT_RESOURCES)
def test_replay_returns_the_first_response_and_creates_nothing(admin_api, goal, agency, resource):
    model = RESOURCES[resource]
    body = new_object_body(resource, 1, goal, agency)
    first = post(admin_api, resource, body, "key-replay-1")
    assert first.status_code == 201, first.content[:500]
    assert "Idempotent-Replayed" not in first
    count, events = model.objects.count(), audit_count()

    replay = post(admin_api, resource, body, "key-replay-1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert replay["Location"] == first["Location"]
    assert replay["Location"] == first.json()["url"]
    assert replay["ETag"] == first["ETag"]
    assert model.objects.count() == count
    assert audit_count() == events


@pytest.mark.parametrize("resource", IDEMPOTENT_RESOURCES)
def test_same_key_with_another_body_is_422(admin_api, goal, agency, resource):
    model = RESOURCES[resource]
    body = new_object_body(resource, 1, goal, agency)
    assert post(admin_api, resource, body, "key-422").status_code == 201
    count, events = model.objects.count(), audit_count()
    other = new_object_body(resource, 2, goal, agency)
    assert_problem(post(admin_api, resource, other, "key-422"), 422)
    assert model.objects.count() == count
    assert not model.objects.filter(code=other["code"]).exists()
    assert audit_count() == events
    # The stored response is untouched: the original request still replays.
    replay = post(admin_api, resource, body, "key-422")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"


def test_same_key_on_another_endpoint_is_422(admin_api, goal, agency):
    project = new_object_body("projects", 1, goal, agency)
    assert post(admin_api, "projects", project, "key-two-endpoints").status_code == 201
    pillar = new_object_body("pillars", 1, goal, agency)
    assert_problem(post(admin_api, "pillars", pillar, "key-two-endpoints"), 422)
    assert not Pillar.objects.filter(code=pillar["code"]).exists()


@pytest.mark.parametrize("resource", IDEMPOTENT_RESOURCES)
def test_key_in_flight_is_409(admin_api, admin_user, goal, agency, resource):
    model = RESOURCES[resource]
    path = f"/api/v1/{resource}/"
    body = new_object_body(resource, 1, goal, agency)
    IdempotencyRecord.objects.create(
        user=admin_user,
        key="key-in-flight",
        method="POST",
        path=path,
        request_hash=in_flight_fingerprint(path, body),
        created_at=timezone.now(),
        completed=False,
    )
    count, events = model.objects.count(), audit_count()
    response = post(admin_api, resource, body, "key-in-flight")
    assert_problem(response, 409)
    assert "Idempotent-Replayed" not in response
    assert model.objects.count() == count
    assert not model.objects.filter(code=body["code"]).exists()
    assert audit_count() == events
    assert IdempotencyRecord.objects.get(key="key-in-flight").completed is False


@pytest.mark.parametrize(
    ("age", "replayed"), [(timedelta(hours=23), True), (timedelta(hours=25), False)]
)
def test_key_can_be_used_again_after_24_hours(admin_api, goal, agency, age, replayed):
    first = new_object_body("projects", 1, goal, agency)
    assert post(admin_api, "projects", first, "key-expiry").status_code == 201
    IdempotencyRecord.objects.filter(key="key-expiry").update(created_at=timezone.now() - age)
    second = new_object_body("projects", 2, goal, agency)
    response = post(admin_api, "projects", second, "key-expiry")
    if replayed:
        # Still within the window: another body under the same key is refused.
        assert_problem(response, 422)
        assert not Project.objects.filter(code=second["code"]).exists()
    else:
        assert response.status_code == 201, response.content[:500]
        assert "Idempotent-Replayed" not in response
        assert response.json()["code"] == second["code"]
        assert Project.objects.filter(code=second["code"]).exists()
        # The key now remembers the new request.
        replay = post(admin_api, "projects", second, "key-expiry")
        assert replay["Idempotent-Replayed"] == "true"
        assert replay.json()["code"] == second["code"]


def test_keys_are_per_user(goal, agency):
    alice = client_for(make_user("alice", is_staff=True, is_superuser=True))
    bob = client_for(make_user("bob", is_staff=True, is_superuser=True))
    body_a = new_object_body("projects", 1, goal, agency)
    body_b = new_object_body("projects", 2, goal, agency)
    first_a = post(alice, "projects", body_a, "shared-key")
    first_b = post(bob, "projects", body_b, "shared-key")
    assert first_a.status_code == 201 and first_b.status_code == 201, first_b.content[:500]
    assert "Idempotent-Replayed" not in first_b
    assert Project.objects.filter(code__in=[body_a["code"], body_b["code"]]).count() == 2
    # Each user's key replays that user's own response.
    assert post(alice, "projects", body_a, "shared-key").json()["code"] == body_a["code"]
    assert post(bob, "projects", body_b, "shared-key").json()["code"] == body_b["code"]


def test_keys_are_per_user_with_tokens(api, goal, agency):
    # The same key and body from two editors: two requests, not a replay.
    first = token_headers(make_user("editor-one", Role.EDITOR, agency))
    second = token_headers(make_user("editor-two", Role.EDITOR, agency))
    body = new_object_body("projects", 1, goal, agency)
    created = post(api, "projects", body, "token-key", **first)
    assert created.status_code == 201, created.content[:500]
    other = post(api, "projects", body, "token-key", **second)
    # The code is taken now, so the second editor's request runs and is refused.
    assert assert_problem(other, 409, "code")["code"] == "code_taken"
    assert "Idempotent-Replayed" not in other


def test_failed_request_is_not_stored_and_a_corrected_retry_succeeds(admin_api, goal, agency):
    body = new_object_body("projects", 1, goal, agency)
    bad = {**body, "colour": "red"}
    assert_problem(post(admin_api, "projects", bad, "key-retry"), 400, "colour")
    assert not IdempotencyRecord.objects.filter(key="key-retry").exists()
    response = post(admin_api, "projects", body, "key-retry")
    assert response.status_code == 201, response.content[:500]
    assert "Idempotent-Replayed" not in response
    assert Project.objects.filter(code=body["code"]).count() == 1


@pytest.mark.parametrize(
    "key", ["k" * 300, "k" * 256, "has spaces", "tab\there", "clé-unicode"], ids=repr
)
def test_invalid_key_is_400(admin_api, goal, agency, key):
    body = new_object_body("projects", 1, goal, agency)
    count, events = Project.objects.count(), audit_count()
    problem = assert_problem(post(admin_api, "projects", body, key), 400)
    assert "Idempotency-Key" in problem["detail"]
    assert Project.objects.count() == count
    assert audit_count() == events
    assert not IdempotencyRecord.objects.exists()


def test_longest_valid_key_is_accepted(admin_api, goal, agency):
    body = new_object_body("projects", 1, goal, agency)
    key = "k" * 255
    assert post(admin_api, "projects", body, key).status_code == 201
    assert post(admin_api, "projects", body, key)["Idempotent-Replayed"] == "true"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_with_the_same_key_create_one_project():
    require_postgresql()
    goal, agency = GoalFactory(), AgencyFactory(country="MX")
    editor = token_headers(make_user("editor", Role.EDITOR, agency))
    body = new_object_body("projects", 1, goal, agency)

    def create(i: int) -> tuple[int, str, dict]:
        response = APIClient().post(
            "/api/v1/projects/",
            body,
            format="json",
            HTTP_IDEMPOTENCY_KEY="race-key",
            **editor,
        )
        return response.status_code, response["Content-Type"], response.json()

    results = run_at_once(10, create)

    statuses = Counter(status for status, _, _ in results)
    assert set(statuses) <= {201, 409}, results
    assert statuses[201] >= 1
    assert Project.objects.filter(code=body["code"]).count() == 1
    creates = AuditEvent.objects.filter(action=AuditAction.CREATE, object_code=body["code"])
    assert creates.count() == 1
    assert all(kind == PROBLEM for status, kind, _ in results if status == 409)
    assert {payload["code"] for status, _, payload in results if status == 201} == {body["code"]}


# -- archive and restore ------------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_archive_hides_the_object_and_keeps_its_code(api, admin_api, goal, agency, resource):
    model = RESOURCES[resource]
    body = new_object_body(resource, 3, goal, agency)
    if resource == "projects":
        body["is_published"] = True  # so anonymous lists would show it
    created = post(admin_api, resource, body, None)
    assert created.status_code == 201, created.content[:500]
    code = created.json()["code"]
    path = detail(resource, code)
    assert code in list_codes(api, resource)

    response = admin_api.delete(path, HTTP_IF_MATCH=created["ETag"])
    assert response.status_code == 204
    assert response.content == b""
    archive = AuditEvent.objects.get(action=AuditAction.ARCHIVE, object_code=code)
    assert archive.changes == {"archived": {"before": False, "after": True}}

    assert_problem(api.get(path), 404)
    assert_problem(admin_api.get(path), 404)
    assert code not in list_codes(api, resource)
    assert code not in list_codes(admin_api, resource)
    assert_problem(
        admin_api.patch(path, patch_body(resource), format="json", HTTP_IF_MATCH="*"), 404
    )

    count = model.objects.count()
    if "code" not in body:
        # Issued codes: the next one is new, never the archived object's.
        again = post(admin_api, resource, body, None)
        assert again.status_code == 201 and again.json()["code"] != code
        return
    reused = post(admin_api, resource, body, None)
    problem = assert_problem(reused, 409, "code")
    assert problem["code"] == "code_taken"
    # A pillar's number and an agency's acronym are taken too: the conflict names each.
    also = {"pillars": {"number"}, "agencies": {"acronym"}}.get(resource, set())
    assert {e["field"] for e in problem["errors"]} == {"code"} | also
    assert model.objects.count() == count


def test_archiving_a_pillar_with_active_goals_is_409(api, admin_api):
    goal = GoalFactory()
    pillar = goal.pillar
    path = detail("pillars", pillar.code)
    etag = api.get(path)["ETag"]
    before, events = row(pillar), audit_count()
    body = assert_problem(admin_api.delete(path, HTTP_IF_MATCH=etag), 409)
    assert body["detail"]
    assert row(pillar) == before
    assert audit_count() == events
    assert api.get(path).status_code == 200
    # Once its goal is archived, the pillar can go.
    goal_path = detail("goals", goal.code)
    assert admin_api.delete(goal_path, HTTP_IF_MATCH=api.get(goal_path)["ETag"]).status_code == 204
    assert admin_api.delete(path, HTTP_IF_MATCH=api.get(path)["ETag"]).status_code == 204


@pytest.mark.parametrize("resource", RESOURCES)
def test_admin_restores_an_archived_object(api, admin_api, objects, resource):
    obj = objects[resource]
    path = detail(resource, obj.code)
    assert admin_api.delete(path, HTTP_IF_MATCH=api.get(path)["ETag"]).status_code == 204
    assert api.get(path).status_code == 404
    archived = row(obj)

    response = admin_api.post(f"{path}restore/")
    assert response.status_code == 200, response.content[:500]
    assert response.json()["code"] == obj.code
    assert STRONG_ETAG.match(response["ETag"])
    restored = row(obj)
    assert restored["archived_at"] is None
    assert restored["version"] == archived["version"] + 1
    assert AuditEvent.objects.filter(action=AuditAction.RESTORE, object_code=obj.code).count() == 1

    again = api.get(path)
    assert again.status_code == 200
    assert again["ETag"] == response["ETag"]
    assert obj.code in list_codes(api, resource)


@pytest.mark.parametrize("resource", RESOURCES)
def test_restoring_an_object_that_is_not_archived_is_404(admin_api, objects, resource):
    obj = objects[resource]
    before, events = row(obj), audit_count()
    assert_problem(admin_api.post(f"{detail(resource, obj.code)}restore/"), 404)
    assert row(obj) == before
    assert audit_count() == events


def test_only_admins_restore(api, admin_api):
    project = ProjectFactory()
    agency = AgencyFactory(country="MX")
    ProjectAgencyRoleFactory(project=project, agency=agency)
    editor = token_headers(make_user("editor", Role.EDITOR, agency))
    path = detail("projects", project.code)
    deleted = api.delete(path, HTTP_IF_MATCH="*", **editor)
    assert deleted.status_code == 204
    archived = row(project)
    refused = api.post(f"{path}restore/", **editor)
    assert_problem(refused, 403)
    assert row(project) == archived
    assert admin_api.post(f"{path}restore/").status_code == 200
