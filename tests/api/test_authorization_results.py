"""The authorization matrix of results, indicators and periods (`/results/`,
`/projects/{code}/results/`, `/indicators/`, `/periods/`): who may call what, on which
object.

As in test_authorization_follow_through.py, `MATRIX` is the specification, one expected
status per caller, and a refused write leaves the database exactly as it was.

The world: agency A is MX-SE, agency B is US-DOC; projects `pub_a` and `draft_a`
(unpublished) of A, `pub_b` and `draft_b` of B. On each project a result with an
indicator with a period (`result_pub_a`, `indicator_pub_a`, `period_pub_a`, ...), a
result without indicators and an indicator without periods (`result_leaf_pub_a`,
`indicator_leaf_pub_a`, ...: archivable), and on `pub_a` an archived one of each kind.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import assert_problem, make_user
from tests.factories import (
    AgencyFactory,
    ApiTokenFactory,
    GoalFactory,
    IndicatorFactory,
    IndicatorPeriodFactory,
    PillarFactory,
    ProjectAgencyRoleFactory,
    ProjectFactory,
    ResultFactory,
)
from workplan.choices import Role
from workplan.models import AuditEvent, Indicator, IndicatorPeriod, Result

pytestmark = pytest.mark.django_db

A = "MX-SE"
B = "US-DOC"
CALLERS = ("anonymous", "reader_a", "editor_a", "editor_b", "admin")
KINDS = {"results": "result", "indicators": "indicator", "periods": "period"}
PARENT_FIELD = {"results": "project", "indicators": "result", "periods": "indicator"}
MODELS = {"results": Result, "indicators": Indicator, "periods": IndicatorPeriod}

# The same rows for the three kinds: an object is seen, and written, as its project is.
# fmt: off
ROWS: dict[tuple[str, str], tuple[int, int, int, int, int]] = {
    # action      target         anon  rdA  edA  edB  adm
    ("list",    "all"):          (200, 200, 200, 200, 200),
    ("detail",  "pub_a"):        (200, 200, 200, 200, 200),
    ("detail",  "draft_a"):      (404, 200, 200, 404, 200),
    ("detail",  "pub_b"):        (200, 200, 200, 200, 200),
    ("detail",  "draft_b"):      (404, 404, 404, 200, 200),
    ("detail",  "archived"):     (404, 404, 404, 404, 404),
    # A parent the caller cannot see is unknown to it (400 naming the parent), one it
    # sees but its agency does not take part in is forbidden (403).
    ("create",  "pub_a"):        (401, 403, 201, 403, 201),
    ("create",  "draft_a"):      (401, 403, 201, 400, 201),
    ("create",  "pub_b"):        (401, 403, 403, 201, 201),
    ("create",  "draft_b"):      (401, 403, 400, 201, 201),
    ("put",     "pub_a"):        (401, 403, 200, 403, 200),
    ("patch",   "pub_a"):        (401, 403, 200, 403, 200),
    ("patch",   "draft_a"):      (401, 403, 200, 404, 200),
    ("patch",   "pub_b"):        (401, 403, 403, 200, 200),
    ("patch",   "draft_b"):      (401, 403, 404, 200, 200),
    ("patch",   "archived"):     (401, 403, 404, 404, 404),
    # Moving A's object under B's project: the new place decides too.
    ("move_to_pub_b", "pub_a"):  (401, 403, 403, 403, 200),
    ("delete",  "leaf_pub_a"):   (401, 403, 204, 403, 204),
    ("delete",  "leaf_draft_b"): (401, 403, 404, 204, 204),
    ("delete",  "archived"):     (401, 403, 404, 404, 404),
    ("restore", "archived"):     (401, 403, 403, 403, 200),
    ("restore", "pub_a"):        (401, 403, 403, 403, 404),
}
MATRIX: dict[tuple[str, str, str], tuple[int, int, int, int, int]] = {
    **{(resource, action, target): row
       for resource in KINDS for (action, target), row in ROWS.items()},
    # /projects/{code}/results/: the project in the URL must be visible (else 404).
    ("project_results", "list",   "pub_a"):      (200, 200, 200, 200, 200),
    ("project_results", "list",   "draft_a"):    (404, 200, 200, 404, 200),
    ("project_results", "list",   "pub_b"):      (200, 200, 200, 200, 200),
    ("project_results", "list",   "draft_b"):    (404, 404, 404, 200, 200),
    ("project_results", "create", "pub_a"):      (401, 403, 201, 403, 201),
    ("project_results", "create", "draft_a"):    (401, 403, 201, 404, 201),
    ("project_results", "create", "pub_b"):      (401, 403, 403, 201, 201),
    ("project_results", "create", "draft_b"):    (401, 403, 404, 201, 201),
}
# fmt: on

EXPECTED: dict[tuple[str, str, str, str], int] = {
    (caller, resource, action, target): status
    for (resource, action, target), row in MATRIX.items()
    for caller, status in zip(CALLERS, row, strict=True)
}
WRITES = {"create", "put", "patch", "delete", "restore", "move_to_pub_b"}


class World:
    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.tokens: dict[str, Any] = {}


def build_world() -> World:
    w = World()
    archived = timezone.now() - timedelta(days=1)
    goal = GoalFactory(pillar=PillarFactory(number=1, code="P1"), number=1, code="P1-G1")
    se = AgencyFactory(country="MX", acronym="SE", code=A)
    doc = AgencyFactory(country="US", acronym="DOC", code=B)
    for target, agency, published in [
        ("pub_a", se, True),
        ("draft_a", se, False),
        ("pub_b", doc, True),
        ("draft_b", doc, False),
    ]:
        project = ProjectFactory(code=target.upper().replace("_", "-"), goal=goal)
        project.is_published = published
        project.save()
        ProjectAgencyRoleFactory(project=project, agency=agency)
        w.objects[("project", target)] = project
        code = project.code
        result = ResultFactory(code=f"RESULT-{code}", project=project)
        indicator = IndicatorFactory(code=f"INDICATOR-{code}", result=result)
        period = IndicatorPeriodFactory(code=f"PERIOD-{code}", indicator=indicator)
        w.objects[("results", target)] = result
        w.objects[("indicators", target)] = indicator
        w.objects[("periods", target)] = period
        w.objects[("results", f"leaf_{target}")] = ResultFactory(
            code=f"RESULT-LEAF-{code}", project=project
        )
        w.objects[("indicators", f"leaf_{target}")] = IndicatorFactory(
            code=f"INDICATOR-LEAF-{code}", result=result
        )
        w.objects[("periods", f"leaf_{target}")] = IndicatorPeriodFactory(
            code=f"PERIOD-LEAF-{code}", indicator=indicator
        )
    result = w.objects[("results", "pub_a")]
    indicator = w.objects[("indicators", "pub_a")]
    w.objects[("results", "archived")] = ResultFactory(
        code="RESULT-GONE", project=w.objects[("project", "pub_a")], archived_at=archived
    )
    w.objects[("indicators", "archived")] = IndicatorFactory(
        code="INDICATOR-GONE", result=result, archived_at=archived
    )
    w.objects[("periods", "archived")] = IndicatorPeriodFactory(
        code="PERIOD-GONE", indicator=indicator, archived_at=archived
    )
    users = {
        "reader_a": make_user("reader-a", Role.READER, se),
        "editor_a": make_user("editor-a", Role.EDITOR, se),
        "editor_b": make_user("editor-b", Role.EDITOR, doc),
        "admin": make_user("plan-admin", Role.ADMIN, None),
    }
    for caller, user in users.items():
        w.tokens[caller] = ApiTokenFactory(user=user, name=caller)
    return w


@pytest.fixture(scope="module")
def _module_world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture
def world(db, _module_world) -> World:
    return _module_world


def send(w: World, caller: str, method: str, url: str, body: Any = None, **extra: Any) -> Any:
    if caller != "anonymous":
        extra["HTTP_AUTHORIZATION"] = f"Bearer {w.tokens[caller].plaintext}"
    client = APIClient()
    if method == "get":
        return client.get(url, **extra)
    return getattr(client, method)(url, body, format="json", **extra)


def database() -> dict[str, Any]:
    return {
        "results": list(Result.objects.order_by("pk").values()),
        "indicators": list(Indicator.objects.order_by("pk").values()),
        "periods": list(IndicatorPeriod.objects.order_by("pk").values()),
        "audit": AuditEvent.objects.count(),
    }


def body_for(resource: str, parent_code: str | None) -> dict[str, Any]:
    parent = {} if parent_code is None else {PARENT_FIELD[resource]: parent_code}
    if resource == "periods":
        return {**parent, "start": "2031-01-01", "end": "2031-12-31", "target": {"value": "5"}}
    return {**parent, "title_en": "New", "title_es": "Nuevo"}


def parent_code(w: World, resource: str, target: str) -> str:
    """The code of the parent a new object of `resource` goes under on project `target`."""
    if resource == "results":
        return w.objects[("project", target)].code
    return w.objects[("results" if resource == "indicators" else "indicators", target)].code


def request_for(w: World, caller: str, resource: str, action: str, target: str) -> Any:
    if resource == "project_results":
        url = f"/api/v1/projects/{w.objects[('project', target)].code}/results/"
        if action == "list":
            return send(w, caller, "get", url)
        return send(w, caller, "post", url, body_for("results", None))
    if action == "list":
        return send(w, caller, "get", f"/api/v1/{resource}/?page_size=100")
    if action == "create":
        body = body_for(resource, parent_code(w, resource, target))
        return send(w, caller, "post", f"/api/v1/{resource}/", body)
    obj = w.objects[(resource, target)]
    url = f"/api/v1/{resource}/{obj.code}/"
    if action == "detail":
        return send(w, caller, "get", url)
    if action == "restore":
        return send(w, caller, "post", f"{url}restore/")
    if_match = {"HTTP_IF_MATCH": f'"{obj.version}"'}
    if action == "delete":
        return send(w, caller, "delete", url, None, **if_match)
    if action == "put":
        body = body_for(resource, parent_code(w, resource, "pub_a"))
        return send(w, caller, "put", url, body, **if_match)
    if action == "move_to_pub_b":
        body = {PARENT_FIELD[resource]: parent_code(w, resource, "pub_b")}
    else:
        body = {"title_en": "Changed"} if resource != "periods" else {"end": "2030-12-31"}
    return send(w, caller, "patch", url, body, **if_match)


@pytest.mark.parametrize(
    ("caller", "resource", "action", "target"),
    list(EXPECTED),
    ids=["-".join(key) for key in EXPECTED],
)
def test_matrix(world, caller, resource, action, target):
    expected = EXPECTED[caller, resource, action, target]
    before = database()
    response = request_for(world, caller, resource, action, target)
    if expected >= 400:
        body = assert_problem(response, expected)
        if expected == 400:
            assert PARENT_FIELD[resource] in {e["field"] for e in body["errors"]}, body
        assert database() == before
        return
    assert response.status_code == expected, response.content[:500]
    if action not in WRITES:
        assert database() == before
        return
    kind = "results" if resource == "project_results" else resource
    event = AuditEvent.objects.order_by("id").last()
    assert event.token_id == world.tokens[caller].pk
    if action == "create":
        assert event.object_type == KINDS[kind]
        code = response.json()["code"]
        assert event.object_code == code and event.action == "create"
        assert response["Location"].endswith(f"/api/v1/{kind}/{code}/")
        assert database()["audit"] == before["audit"] + 1
        return
    obj = world.objects[(resource, target)]
    fresh = type(obj).objects.get(pk=obj.pk)
    assert fresh.version == obj.version + 1
    # The object's own event; a move also records one for each object under it, which
    # now belongs to another project (so who may see it changed too).
    own = AuditEvent.objects.filter(object_code=obj.code).order_by("id").last()
    dependents = AuditEvent.objects.filter(pk__gt=own.pk)
    if action == "move_to_pub_b" and resource != "periods":
        assert {e.state["project"] for e in dependents} == {"PUB-B"}
        assert dependents.exists()
    else:
        assert not dependents.exists()
    if action == "delete":
        assert fresh.archived_at is not None and event.action == "archive"
    elif action == "restore":
        assert fresh.archived_at is None and event.action == "restore"
    elif action == "move_to_pub_b":
        field = PARENT_FIELD[resource]
        assert getattr(fresh, field).code == parent_code(world, resource, "pub_b")


def test_matrix_covers_every_caller_and_action():
    for resource in KINDS:
        assert {a for (r, a, _) in MATRIX if r == resource} >= {
            "list",
            "detail",
            "create",
            "put",
            "patch",
            "delete",
            "restore",
        }
    assert len(EXPECTED) == len(MATRIX) * len(CALLERS)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("resource", list(KINDS))
def test_lists_show_exactly_what_details_show(world, caller, resource):
    response = send(world, caller, "get", f"/api/v1/{resource}/?page_size=100")
    codes = {r["code"] for r in response.json()["results"]}
    expected = {
        obj.code
        for (kind, target), obj in world.objects.items()
        if kind == resource
        and EXPECTED[caller, resource, "detail", target.removeprefix("leaf_")] == 200
    }
    assert codes == expected


@pytest.mark.parametrize("scope", ["read"])
def test_a_read_only_token_never_writes_results(world, scope):
    user = make_user("admin-reading", Role.ADMIN, None)
    token = ApiTokenFactory(user=user, name="read-only", scope=scope)
    client = APIClient()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token.plaintext}"}
    before = database()
    for resource in KINDS:
        body = body_for(resource, parent_code(world, resource, "pub_a"))
        assert_problem(client.post(f"/api/v1/{resource}/", body, format="json", **auth), 403)
    assert database() == before
