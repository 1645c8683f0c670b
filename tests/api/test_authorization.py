"""The authorization matrix of API v1: who may call what, on which object.

In the manner of NetBox's generic API test mixins, every endpoint proves its
401/403/404 cases. `MATRIX` below is the specification: one row per
(resource, action, target object), one expected status per caller. Every cell is
a test, and a refused write must leave the database (row, version, updated_at,
children, audit trail) exactly as it was.

The world is small and built with factories so that the matrix stays fast:

- agency A is MX-SE, agency B is US-DOC;
- `published_of_a` / `unpublished_of_a`: MX-SE, MX-SRE and US-DOS take part, B does not;
- `published_of_b` / `unpublished_of_b`: US-DOC, US-DOS and MX-SRE take part, A does not;
- `archived_of_a`: an archived project of A;
- for pillars, goals and agencies: an `active` object that can be archived (no
  children, no projects) and an `archived` one that can be restored.

Partner roles authenticate with real bearer tokens (issued by the token service), so
every request goes through the token path: `editor_a_read` and `admin_read` are read-scope
tokens of the editor of A and of the plan admin (an AgencyMembership with role
admin, not a superuser); every other partner token is write-scoped, so a refusal
comes from the role, never from the scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import assert_problem, auth_header, client_for, make_user
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
from workplan.models import (
    Agency,
    AuditEvent,
    Goal,
    Pillar,
    PlanObject,
    Project,
    ProjectAgencyRole,
)
from workplan.policy import SYSTEM
from workplan.services import api_token_revoke

pytestmark = pytest.mark.django_db

A = "MX-SE"
B = "US-DOC"

CALLERS = (
    "anonymous",
    "reader_a",
    "editor_a",
    "editor_a_read",
    "editor_b",
    "admin",
    "admin_read",
)

# The specification. Columns follow CALLERS:
#   anonymous, reader of A, editor of A (write token), editor of A (read token),
#   editor of B, plan admin (write token), plan admin (read token).
# fmt: off
MATRIX: dict[tuple[str, str, str], tuple[int, int, int, int, int, int, int]] = {
    # resource    action     target                anon  rdA  edA edAr  edB  adm admr
    ("pillars",  "list",    "all"):               (200, 200, 200, 200, 200, 200, 200),
    ("pillars",  "detail",  "active"):            (200, 200, 200, 200, 200, 200, 200),
    ("pillars",  "detail",  "archived"):          (404, 404, 404, 404, 404, 404, 404),
    ("pillars",  "create",  "new"):               (401, 403, 403, 403, 403, 201, 403),
    ("pillars",  "put",     "active"):            (401, 403, 403, 403, 403, 200, 403),
    ("pillars",  "put",     "archived"):          (401, 403, 403, 403, 403, 404, 403),
    ("pillars",  "patch",   "active"):            (401, 403, 403, 403, 403, 200, 403),
    ("pillars",  "patch",   "archived"):          (401, 403, 403, 403, 403, 404, 403),
    ("pillars",  "delete",  "active"):            (401, 403, 403, 403, 403, 204, 403),
    ("pillars",  "delete",  "archived"):          (401, 403, 403, 403, 403, 404, 403),
    ("pillars",  "restore", "archived"):          (401, 403, 403, 403, 403, 200, 403),
    ("pillars",  "restore", "active"):            (401, 403, 403, 403, 403, 404, 403),

    ("goals",    "list",    "all"):               (200, 200, 200, 200, 200, 200, 200),
    ("goals",    "detail",  "active"):            (200, 200, 200, 200, 200, 200, 200),
    ("goals",    "detail",  "archived"):          (404, 404, 404, 404, 404, 404, 404),
    ("goals",    "create",  "new"):               (401, 403, 403, 403, 403, 201, 403),
    ("goals",    "put",     "active"):            (401, 403, 403, 403, 403, 200, 403),
    ("goals",    "put",     "archived"):          (401, 403, 403, 403, 403, 404, 403),
    ("goals",    "patch",   "active"):            (401, 403, 403, 403, 403, 200, 403),
    ("goals",    "patch",   "archived"):          (401, 403, 403, 403, 403, 404, 403),
    ("goals",    "delete",  "active"):            (401, 403, 403, 403, 403, 204, 403),
    ("goals",    "delete",  "archived"):          (401, 403, 403, 403, 403, 404, 403),
    ("goals",    "restore", "archived"):          (401, 403, 403, 403, 403, 200, 403),
    ("goals",    "restore", "active"):            (401, 403, 403, 403, 403, 404, 403),

    ("agencies", "list",    "all"):               (200, 200, 200, 200, 200, 200, 200),
    ("agencies", "detail",  "active"):            (200, 200, 200, 200, 200, 200, 200),
    ("agencies", "detail",  "archived"):          (404, 404, 404, 404, 404, 404, 404),
    ("agencies", "create",  "new"):               (401, 403, 403, 403, 403, 201, 403),
    ("agencies", "put",     "active"):            (401, 403, 403, 403, 403, 200, 403),
    ("agencies", "put",     "archived"):          (401, 403, 403, 403, 403, 404, 403),
    ("agencies", "patch",   "active"):            (401, 403, 403, 403, 403, 200, 403),
    ("agencies", "patch",   "archived"):          (401, 403, 403, 403, 403, 404, 403),
    ("agencies", "delete",  "active"):            (401, 403, 403, 403, 403, 204, 403),
    ("agencies", "delete",  "archived"):          (401, 403, 403, 403, 403, 404, 403),
    ("agencies", "restore", "archived"):          (401, 403, 403, 403, 403, 200, 403),
    ("agencies", "restore", "active"):            (401, 403, 403, 403, 403, 404, 403),

    ("projects", "list",    "all"):               (200, 200, 200, 200, 200, 200, 200),
    ("projects", "detail",  "published_of_a"):    (200, 200, 200, 200, 200, 200, 200),
    ("projects", "detail",  "unpublished_of_a"):  (404, 200, 200, 200, 404, 200, 200),
    ("projects", "detail",  "published_of_b"):    (200, 200, 200, 200, 200, 200, 200),
    ("projects", "detail",  "unpublished_of_b"):  (404, 404, 404, 404, 200, 200, 200),
    ("projects", "detail",  "archived_of_a"):     (404, 404, 404, 404, 404, 404, 404),
    # An editor creates projects its own agency takes part in (else 400 naming
    # participating_agencies); a create body naming only its agency is `with_a`/`with_b`.
    ("projects", "create",  "with_a"):            (401, 403, 201, 403, 400, 201, 403),
    ("projects", "create",  "with_b"):            (401, 403, 400, 403, 201, 201, 403),
    ("projects", "put",     "published_of_a"):    (401, 403, 200, 403, 403, 200, 403),
    ("projects", "put",     "unpublished_of_a"):  (401, 403, 200, 403, 404, 200, 403),
    ("projects", "put",     "published_of_b"):    (401, 403, 403, 403, 200, 200, 403),
    ("projects", "put",     "unpublished_of_b"):  (401, 403, 404, 403, 200, 200, 403),
    ("projects", "put",     "archived_of_a"):     (401, 403, 404, 403, 404, 404, 403),
    ("projects", "patch",   "published_of_a"):    (401, 403, 200, 403, 403, 200, 403),
    ("projects", "patch",   "unpublished_of_a"):  (401, 403, 200, 403, 404, 200, 403),
    ("projects", "patch",   "published_of_b"):    (401, 403, 403, 403, 200, 200, 403),
    ("projects", "patch",   "unpublished_of_b"):  (401, 403, 404, 403, 200, 200, 403),
    ("projects", "patch",   "archived_of_a"):     (401, 403, 404, 403, 404, 404, 403),
    ("projects", "delete",  "published_of_a"):    (401, 403, 204, 403, 403, 204, 403),
    ("projects", "delete",  "unpublished_of_a"):  (401, 403, 204, 403, 404, 204, 403),
    ("projects", "delete",  "published_of_b"):    (401, 403, 403, 403, 204, 204, 403),
    ("projects", "delete",  "unpublished_of_b"):  (401, 403, 404, 403, 204, 204, 403),
    ("projects", "delete",  "archived_of_a"):     (401, 403, 404, 403, 404, 404, 403),
    ("projects", "restore", "archived_of_a"):     (401, 403, 403, 403, 403, 200, 403),
    ("projects", "restore", "published_of_a"):    (401, 403, 403, 403, 403, 404, 403),
}
# fmt: on

# The same table, one cell per key: (caller, resource, action, target) -> status.
EXPECTED: dict[tuple[str, str, str, str], int] = {
    (caller, resource, action, target): status
    for (resource, action, target), row in MATRIX.items()
    for caller, status in zip(CALLERS, row, strict=True)
}

PROJECT_TARGETS = (
    "published_of_a",
    "unpublished_of_a",
    "published_of_b",
    "unpublished_of_b",
    "archived_of_a",
)
# A word found only in each project's title, for `?q=`.
SEARCH_WORD = {
    "published_of_a": "Quetzal",
    "unpublished_of_a": "Jaguar",
    "published_of_b": "Bison",
    "unpublished_of_b": "Condor",
    "archived_of_a": "Marmot",
}
RESOURCES = {"pillars": Pillar, "goals": Goal, "agencies": Agency, "projects": Project}
WRITE_ACTIONS = {"create", "put", "patch", "delete", "restore"}
AUDIT_ACTION = {
    "create": "create",
    "put": "update",
    "patch": "update",
    "delete": "archive",
    "restore": "restore",
}
PATCH_BODY = {
    "pillars": {"name_en": "Renamed pillar"},
    "goals": {"title_en": "Renamed goal"},
    "agencies": {"name_en": "Renamed agency"},
    "projects": {"title_en": "Renamed project"},
}
CREATE_BODY: dict[tuple[str, str], dict[str, Any]] = {
    ("pillars", "new"): {
        "code": "P9",
        "number": 9,
        "name_en": "Energy Cooperation",
        "name_es": "Cooperación energética",
        "description_en": "",
        "description_es": "",
    },
    ("goals", "new"): {
        "code": "P1-G9",
        "pillar": "P1",
        "number": 9,
        "title_en": "Customs modernisation",
        "title_es": "Modernización aduanera",
        "description_en": "",
        "description_es": "",
    },
    ("agencies", "new"): {
        "code": "MX-ANAM",
        "acronym": "ANAM",
        "name_en": "National Customs Agency of Mexico",
        "name_es": "Agencia Nacional de Aduanas de México",
        "country": "MX",
        "organisation_type": "10",
        "parent": None,
        "website": "https://www.gob.mx/anam",
    },
}


def project_create_body(code: str, agency: str) -> dict[str, Any]:
    return {
        "code": code,
        "goal": "P1-G1",
        "title_en": "Supply-chain mapping pilot",
        "title_es": "Piloto de mapeo de cadenas de suministro",
        "description_en": "",
        "description_es": "",
        "status": "2",
        "countries": ["MX", "US"],
        "participating_agencies": [
            {"agency": agency, "role": "4", "is_lead": True, "source": "stated"}
        ],
    }


CREATE_BODY[("projects", "with_a")] = project_create_body("NEW-WITH-A", A)
CREATE_BODY[("projects", "with_b")] = project_create_body("NEW-WITH-B", B)


# -- the world ---------------------------------------------------------------------


@dataclass
class Partner:
    user: Any
    token: Any
    plaintext: str

    @property
    def authorization(self) -> str:
        return f"Bearer {self.plaintext}"


@dataclass
class World:
    objects: dict[tuple[str, str], PlanObject] = field(default_factory=dict)
    partners: dict[str, Partner] = field(default_factory=dict)
    admin_user: Any = None
    # ETags as the admin last read them; every test starts from the same versions.
    etags: dict[tuple[str, str], str] = field(default_factory=dict)


def project_of(code: str, word: str, roles: list[tuple[Agency, str, bool, str]], **kw: Any):
    project = ProjectFactory(
        code=code,
        goal=Goal.objects.get(code="P1-G1"),
        title_en=f"{word} project",
        title_es=f"Proyecto {word}",
        **kw,
    )
    for agency, role, is_lead, source in roles:
        ProjectAgencyRoleFactory(
            project=project, agency=agency, role=role, is_lead=is_lead, source=source
        )
    for country in ("MX", "US"):
        ProjectCountryFactory(project=project, country=country)
    return project


@pytest.fixture(scope="module")
def _module_world(django_db_setup, django_db_blocker):
    """The world, built once per module inside a transaction that is rolled back at the end.

    Each test runs in a savepoint inside it (pytest-django's `db`), as Django's
    TestCase.setUpTestData does, so the matrix does not rebuild the world for every cell.
    Tests must not mutate the Python objects of the world; they re-read the database.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture
def world(db, _module_world) -> World:
    return _module_world


def build_world() -> World:
    w = World()
    archived = timezone.now() - timedelta(days=1)

    p1 = PillarFactory(number=1, code="P1")
    w.objects["pillars", "active"] = PillarFactory(number=7, code="P7")
    w.objects["pillars", "archived"] = PillarFactory(number=8, code="P8", archived_at=archived)
    GoalFactory(pillar=p1, number=1, code="P1-G1")
    w.objects["goals", "active"] = GoalFactory(pillar=p1, number=2, code="P1-G2")
    w.objects["goals", "archived"] = GoalFactory(
        pillar=p1, number=3, code="P1-G3", archived_at=archived
    )

    se = AgencyFactory(country="MX", acronym="SE", code=A)
    sre = AgencyFactory(country="MX", acronym="SRE", code="MX-SRE")
    doc = AgencyFactory(country="US", acronym="DOC", code=B)
    dos = AgencyFactory(country="US", acronym="DOS", code="US-DOS")
    w.objects["agencies", "active"] = AgencyFactory(country="MX", acronym="SHCP", code="MX-SHCP")
    w.objects["agencies", "archived"] = AgencyFactory(
        country="US", acronym="USTR", code="US-USTR", archived_at=archived
    )

    roles_a = [
        (se, "4", True, "stated"),
        (sre, "1", False, "inferred"),
        (dos, "4", True, "stated"),
    ]
    roles_b = [
        (doc, "4", True, "stated"),
        (dos, "2", False, "inferred"),
        (sre, "4", True, "stated"),
    ]
    w.objects["projects", "published_of_a"] = project_of(
        "PUB-A", SEARCH_WORD["published_of_a"], roles_a, is_published=True
    )
    w.objects["projects", "unpublished_of_a"] = project_of(
        "DRAFT-A", SEARCH_WORD["unpublished_of_a"], roles_a, is_published=False
    )
    w.objects["projects", "published_of_b"] = project_of(
        "PUB-B", SEARCH_WORD["published_of_b"], roles_b, is_published=True
    )
    w.objects["projects", "unpublished_of_b"] = project_of(
        "DRAFT-B", SEARCH_WORD["unpublished_of_b"], roles_b, is_published=False
    )
    w.objects["projects", "archived_of_a"] = project_of(
        "GONE-A", SEARCH_WORD["archived_of_a"], roles_a, is_published=True, archived_at=archived
    )

    users = {
        "reader_a": make_user("reader-a", Role.READER, se),
        "editor_a": make_user("editor-a", Role.EDITOR, se),
        "editor_b": make_user("editor-b", Role.EDITOR, doc),
        "admin": make_user("plan-admin", Role.ADMIN, None),
    }
    w.admin_user = users["admin"]
    for caller, user, scope in [
        ("reader_a", users["reader_a"], "write"),
        ("editor_a", users["editor_a"], "write"),
        ("editor_a_read", users["editor_a"], "read"),
        ("editor_b", users["editor_b"], "write"),
        ("admin", users["admin"], "write"),
        ("admin_read", users["admin"], "read"),
    ]:
        token = ApiTokenFactory(user=user, scope=scope, name=caller)
        w.partners[caller] = Partner(user, token, token.plaintext)
    assert not w.admin_user.is_superuser and not w.admin_user.is_staff
    return w


# -- helpers ---------------------------------------------------------------------------


def headers_for(world: World, caller: str) -> dict[str, str]:
    if caller == "anonymous":
        return {}
    return {"HTTP_AUTHORIZATION": world.partners[caller].authorization}


def detail_url(resource: str, code: str) -> str:
    return f"/api/v1/{resource}/{code}/"


def fresh(obj: PlanObject) -> PlanObject:
    return type(obj)._default_manager.get(pk=obj.pk)


def state(obj: PlanObject) -> dict[str, Any]:
    """Everything a write could change: the row (version, updated_at...) and its children."""
    model = type(obj)
    row: dict[str, Any] = model._default_manager.filter(pk=obj.pk).values().get()
    if model is Project:
        row["agency_roles"] = list(
            ProjectAgencyRole.objects.filter(project_id=obj.pk)
            .order_by("agency__code")
            .values("agency__code", "role", "is_lead", "source", "country", "updated_at")
        )
        row["countries"] = sorted(
            Project.objects.get(pk=obj.pk).countries.values_list("country", flat=True)
        )
        row["links"] = list(Project.objects.get(pk=obj.pk).links.values())
    return row


def etag_of(world: World, resource: str, obj: PlanObject) -> str:
    """The ETag a client would hold: read as the admin; archived objects have none to read."""
    if obj.archived_at is not None:
        return f'"{obj.version}"'
    key = (resource, obj.code)
    if key not in world.etags:
        response = client_for(world.admin_user).get(detail_url(resource, obj.code))
        assert response.status_code == 200, response.content[:300]
        world.etags[key] = response["ETag"]
    # Each test starts from the world as built, so the object is at the version read then.
    assert type(obj)._default_manager.get(pk=obj.pk).version == obj.version
    return world.etags[key]


def put_body(resource: str, obj: PlanObject) -> dict[str, Any]:
    """A full, valid representation of `obj` for PUT, with one text field changed.

    It leaves out `is_published` and repeats every participation exactly, so an
    agency editor may send it.
    """
    if isinstance(obj, Pillar):
        return {
            "code": obj.code,
            "number": obj.number,
            "name_en": "Renamed pillar",
            "name_es": obj.name_es,
            "description_en": obj.description_en,
            "description_es": obj.description_es,
        }
    if isinstance(obj, Goal):
        return {
            "code": obj.code,
            "pillar": obj.pillar.code,
            "number": obj.number,
            "title_en": "Renamed goal",
            "title_es": obj.title_es,
            "description_en": obj.description_en,
            "description_es": obj.description_es,
        }
    if isinstance(obj, Agency):
        return {
            "code": obj.code,
            "acronym": obj.acronym,
            "name_en": "Renamed agency",
            "name_es": obj.name_es,
            "country": obj.country,
            "organisation_type": obj.organisation_type,
            "parent": obj.parent.code if obj.parent else None,
            "website": obj.website,
        }
    assert isinstance(obj, Project)
    return {
        "code": obj.code,
        "goal": obj.goal.code,
        "title_en": "Renamed project",
        "title_es": obj.title_es,
        "description_en": obj.description_en,
        "description_es": obj.description_es,
        "status": obj.status,
        "planned_start": None,
        "planned_end": None,
        "actual_start": None,
        "actual_end": None,
        "countries": sorted(obj.countries.values_list("country", flat=True)),
        "participating_agencies": participations(obj),
        "budget": None,
        "links": [],
    }


def participations(project: PlanObject) -> list[dict[str, Any]]:
    return [
        {"agency": code, "role": role, "is_lead": is_lead, "source": source}
        for code, role, is_lead, source in ProjectAgencyRole.objects.filter(project_id=project.pk)
        .order_by("agency__code")
        .values_list("agency__code", "role", "is_lead", "source")
    ]


def send(
    world: World,
    caller: str,
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    if_match: str | None = None,
) -> Any:
    extra = headers_for(world, caller)
    if if_match is not None:
        extra["HTTP_IF_MATCH"] = if_match
    client = APIClient()
    if method == "get":
        return client.get(url, **extra)
    return getattr(client, method)(url, body, format="json", **extra)


def listed(world: World, caller: str, url: str) -> list[str]:
    response = send(world, caller, "get", url)
    assert response.status_code == 200, response.content[:500]
    return [item["code"] for item in response.json()["results"]]


# -- the matrix --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "resource", "action", "target"),
    list(EXPECTED),
    ids=["-".join(key) for key in EXPECTED],
)
def test_matrix(world, caller, resource, action, target):
    expected = EXPECTED[caller, resource, action, target]
    model = RESOURCES[resource]
    obj = world.objects.get((resource, target))
    audit_before = AuditEvent.objects.count()
    before = state(obj) if obj is not None else None

    if action == "list":
        response = send(world, caller, "get", f"/api/v1/{resource}/?page_size=100")
    elif action == "detail":
        response = send(world, caller, "get", detail_url(resource, obj.code))
    elif action == "create":
        body = CREATE_BODY[resource, target]
        response = send(world, caller, "post", f"/api/v1/{resource}/", body)
    elif action == "put":
        etag = etag_of(world, resource, obj)
        response = send(
            world, caller, "put", detail_url(resource, obj.code), put_body(resource, obj), etag
        )
    elif action == "patch":
        etag = etag_of(world, resource, obj)
        response = send(
            world, caller, "patch", detail_url(resource, obj.code), PATCH_BODY[resource], etag
        )
    elif action == "delete":
        etag = etag_of(world, resource, obj)
        response = send(world, caller, "delete", detail_url(resource, obj.code), None, etag)
    else:
        assert action == "restore"
        response = send(world, caller, "post", f"{detail_url(resource, obj.code)}restore/")

    if expected >= 400:
        assert_problem(response, expected)
    else:
        assert response.status_code == expected, response.content[:500]

    if action == "detail" and expected == 200:
        assert response.json()["code"] == obj.code
    if action not in WRITE_ACTIONS:
        assert AuditEvent.objects.count() == audit_before
        return

    if expected >= 400:
        # A refusal changes nothing: not the row, not its version, not the audit trail.
        assert AuditEvent.objects.count() == audit_before
        if action == "create":
            code = CREATE_BODY[resource, target]["code"]
            assert not model._default_manager.filter(code=code).exists()
        else:
            assert state(obj) == before
        return

    event = AuditEvent.objects.order_by("id").last()
    assert AuditEvent.objects.count() == audit_before + 1
    assert event.action == AUDIT_ACTION[action]
    # The write went through the bearer token, and the audit trail says which.
    assert event.token_id == world.partners[caller].token.pk
    assert event.user_id == world.partners[caller].user.pk
    if action == "create":
        created = model._default_manager.get(code=CREATE_BODY[resource, target]["code"])
        assert event.object_code == created.code
        assert response["Location"].endswith(detail_url(resource, created.code))
        return
    assert event.object_code == obj.code
    after = fresh(obj)
    assert after.version == before["version"] + 1
    if action == "delete":
        assert after.archived_at is not None
    elif action == "restore":
        assert after.archived_at is None
    else:
        changed = "name_en" if resource in ("pillars", "agencies") else "title_en"
        assert getattr(after, changed) == PATCH_BODY[resource][changed]


def test_matrix_covers_every_endpoint_caller_and_action():
    actions = {"list", "detail", "create", "put", "patch", "delete", "restore"}
    for resource in RESOURCES:
        assert {a for (r, a, _) in MATRIX if r == resource} == actions
    assert len(EXPECTED) == len(MATRIX) * len(CALLERS)
    project_actions = {(a, t) for (r, a, t) in MATRIX if r == "projects"}
    for action in ("detail", "put", "patch", "delete"):
        assert {t for (a, t) in project_actions if a == action} == set(PROJECT_TARGETS)


# -- object-level visibility in lists, search and filters -----------------------------------


def visible(caller: str, target: str) -> bool:
    return EXPECTED[caller, "projects", "detail", target] == 200


@pytest.mark.parametrize("caller", CALLERS)
def test_project_list_shows_exactly_what_detail_shows(world, caller):
    codes = listed(world, caller, "/api/v1/projects/?page_size=100")
    expected = {world.objects["projects", t].code for t in PROJECT_TARGETS if visible(caller, t)}
    assert sorted(codes) == sorted(expected)
    response = send(world, caller, "get", "/api/v1/projects/?page_size=100")
    assert response.json()["count"] == len(expected)


@pytest.mark.parametrize("target", PROJECT_TARGETS)
@pytest.mark.parametrize("caller", CALLERS)
def test_search_finds_only_visible_projects(world, caller, target):
    code = world.objects["projects", target].code
    codes = listed(world, caller, f"/api/v1/projects/?q={SEARCH_WORD[target].lower()}")
    assert codes == ([code] if visible(caller, target) else [])


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("agency", [A, "SE", B, "DOC", "US-DOS", "MX-SRE"])
def test_agency_filter_lists_only_visible_projects(world, caller, agency):
    agency_code = Agency.objects.get(Q(code=agency) | Q(acronym=agency)).code
    takes_part = {
        t
        for t in PROJECT_TARGETS
        if ProjectAgencyRole.objects.filter(
            project=world.objects["projects", t], agency__code=agency_code
        ).exists()
    }
    assert takes_part  # every filter value has projects, visible or not
    codes = listed(world, caller, f"/api/v1/projects/?agency={agency}&page_size=100")
    expected = {world.objects["projects", t].code for t in takes_part if visible(caller, t)}
    assert sorted(codes) == sorted(expected)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("resource", ["pillars", "goals", "agencies"])
def test_archived_objects_are_absent_from_lists_and_search(world, caller, resource):
    archived = world.objects[resource, "archived"]
    active = world.objects[resource, "active"]
    codes = listed(world, caller, f"/api/v1/{resource}/?page_size=100")
    assert active.code in codes
    assert archived.code not in codes
    assert archived.code not in listed(world, caller, f"/api/v1/{resource}/?q={archived.code}")


@pytest.mark.parametrize("caller", ["anonymous", "admin"])
def test_archived_goal_is_not_listed_under_its_pillar(world, caller):
    response = send(world, caller, "get", "/api/v1/pillars/P1/")
    assert response.status_code == 200
    goals = [g["code"] for g in response.json()["goals"]]
    assert "P1-G1" in goals and "P1-G2" in goals
    assert world.objects["goals", "archived"].code not in goals


@pytest.mark.parametrize("caller", ["anonymous", "editor_b"])
def test_hidden_project_is_404_whatever_the_case_and_representation(world, caller):
    code = world.objects["projects", "unpublished_of_a"].code
    for url in (
        detail_url("projects", code),
        detail_url("projects", code.lower()),
        f"{detail_url('projects', code)}?lang=all",
        f"{detail_url('projects', code)}?fields=code",
    ):
        body = assert_problem(send(world, caller, "get", url), 404)
        assert code not in body["detail"]


@pytest.mark.parametrize(
    ("caller", "hidden"),
    [
        ("anonymous", "DRAFT-A"),
        ("anonymous", "GONE-A"),
        ("reader_a", "DRAFT-B"),
        ("reader_a", "GONE-A"),
        ("editor_a_read", "DRAFT-B"),
        ("editor_a", "DRAFT-B"),
        ("editor_a", "GONE-A"),
        ("editor_b", "DRAFT-A"),
        ("admin_read", "GONE-A"),
    ],
)
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_hidden_and_missing_objects_answer_alike(world, caller, hidden, method):
    # No existence oracle: what a caller cannot see answers exactly as a code that never was.
    url = detail_url("projects", hidden)
    missing = detail_url("projects", "NEVER-1")
    body = PATCH_BODY["projects"] if method == "patch" else None
    answers = [
        send(world, caller, method, u, body, None if method == "get" else "*")
        for u in (url, missing)
    ]
    assert answers[0].status_code == answers[1].status_code >= 400
    assert answers[0].json()["detail"] == answers[1].json()["detail"]


def test_reader_sees_unpublished_project_of_its_agency_but_cannot_write(world):
    project = world.objects["projects", "unpublished_of_a"]
    response = send(world, "reader_a", "get", detail_url("projects", project.code))
    assert response.status_code == 200
    assert response.json()["is_published"] is False
    before, audit = state(project), AuditEvent.objects.count()
    etag = response["ETag"]
    url = detail_url("projects", project.code)
    assert_problem(send(world, "reader_a", "patch", url, PATCH_BODY["projects"], etag), 403)
    assert_problem(send(world, "reader_a", "put", url, put_body("projects", project), etag), 403)
    assert_problem(send(world, "reader_a", "delete", url, None, etag), 403)
    assert state(project) == before
    assert AuditEvent.objects.count() == audit


def test_editor_b_cannot_change_published_project_of_a(world):
    project = world.objects["projects", "published_of_a"]
    url = detail_url("projects", project.code)
    response = send(world, "editor_b", "get", url)
    assert response.status_code == 200
    etag = response["ETag"]
    before, audit = state(project), AuditEvent.objects.count()
    for method, body in (
        ("patch", PATCH_BODY["projects"]),
        ("put", put_body("projects", project)),
        ("delete", None),
    ):
        assert_problem(send(world, "editor_b", method, url, body, etag), 403)
    assert state(project) == before
    assert AuditEvent.objects.count() == audit


# -- mass assignment ------------------------------------------------------------------------


def refused_without_trace(
    world: World,
    caller: str,
    method: str,
    obj: PlanObject,
    body: dict[str, Any],
    field: str,
    resource: str = "projects",
) -> dict[str, Any]:
    """Send a write that must be a 400 naming `field`, and prove nothing changed."""
    before, audit = state(obj), AuditEvent.objects.count()
    etag = etag_of(world, resource, obj)
    response = send(world, caller, method, detail_url(resource, obj.code), body, etag)
    problem = assert_problem(response, 400, field)
    assert state(obj) == before
    assert AuditEvent.objects.count() == audit
    return problem


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize(
    ("target", "value"), [("published_of_a", False), ("unpublished_of_a", True)]
)
def test_editor_cannot_set_is_published(world, method, target, value):
    project = world.objects["projects", target]
    body = (
        {"is_published": value}
        if method == "patch"
        else {**put_body("projects", project), "is_published": value}
    )
    refused_without_trace(world, "editor_a", method, project, body, "is_published")


def test_editor_cannot_create_a_published_project(world):
    body = {**CREATE_BODY["projects", "with_a"], "is_published": True}
    audit = AuditEvent.objects.count()
    response = send(world, "editor_a", "post", "/api/v1/projects/", body)
    assert_problem(response, 400, "is_published")
    assert not Project.objects.filter(code=body["code"]).exists()
    assert AuditEvent.objects.count() == audit


def test_admin_may_publish_what_the_editor_may_not(world):
    project = world.objects["projects", "unpublished_of_a"]
    etag = etag_of(world, "projects", project)
    url = detail_url("projects", project.code)
    response = send(world, "admin", "patch", url, {"is_published": True}, etag)
    assert response.status_code == 200, response.content[:300]
    assert fresh(project).is_published is True
    # Now everyone sees it.
    assert send(world, "anonymous", "get", url).status_code == 200


def _with(parts: list[dict[str, Any]], code: str, **changes: Any) -> list[dict[str, Any]]:
    return [{**p, **changes} if p["agency"] == code else p for p in parts]


PARTICIPATION_CHANGES = {
    "add_other_agency": lambda parts: [
        *parts,
        {"agency": B, "role": "4", "is_lead": False, "source": "stated"},
    ],
    "remove_other_agency": lambda parts: [p for p in parts if p["agency"] != "MX-SRE"],
    "change_other_role": lambda parts: _with(parts, "MX-SRE", role="2"),
    "change_other_lead": lambda parts: _with(parts, "US-DOS", is_lead=False),
    "change_other_source": lambda parts: _with(parts, "MX-SRE", source="stated"),
    "replace_other_agency": lambda parts: _with(parts, "MX-SRE", agency="MX-SHCP"),
    "drop_own_agency": lambda parts: [p for p in parts if p["agency"] != A],
    "only_own_agency": lambda parts: [p for p in parts if p["agency"] == A],
}


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("target", ["published_of_a", "unpublished_of_a"])
@pytest.mark.parametrize("change", PARTICIPATION_CHANGES)
def test_editor_cannot_change_other_agencies_participation(world, change, target, method):
    project = world.objects["projects", target]
    parts = PARTICIPATION_CHANGES[change](participations(project))
    body = (
        {"participating_agencies": parts}
        if method == "patch"
        else {**put_body("projects", project), "participating_agencies": parts}
    )
    refused_without_trace(world, "editor_a", method, project, body, "participating_agencies")


def test_editor_may_change_its_own_participation(world):
    # The control for the refusals above: only other agencies' entries are out of bounds.
    project = world.objects["projects", "published_of_a"]
    parts = _with(participations(project), A, role="2", is_lead=False)
    etag = etag_of(world, "projects", project)
    url = detail_url("projects", project.code)
    response = send(world, "editor_a", "patch", url, {"participating_agencies": parts}, etag)
    assert response.status_code == 200, response.content[:500]
    assert participations(project) == parts


def test_editor_cannot_create_a_project_naming_another_agency(world):
    body = CREATE_BODY["projects", "with_a"]
    body = {
        **body,
        "participating_agencies": [
            *body["participating_agencies"],
            {"agency": "MX-SRE", "role": "4", "is_lead": False, "source": "stated"},
        ],
    }
    audit = AuditEvent.objects.count()
    response = send(world, "editor_a", "post", "/api/v1/projects/", body)
    assert_problem(response, 400, "participating_agencies")
    assert not Project.objects.filter(code=body["code"]).exists()
    assert AuditEvent.objects.count() == audit


@pytest.mark.parametrize(
    "participants",
    [
        "missing",
        [],
        [{"agency": B, "role": "4", "is_lead": True, "source": "stated"}],
        [{"agency": "MX-SRE", "role": "4", "is_lead": True, "source": "stated"}],
    ],
    ids=["no-participants-field", "empty-list", "agency-b-only", "other-mx-agency-only"],
)
def test_editor_cannot_create_a_project_without_its_own_agency(world, participants):
    body = dict(CREATE_BODY["projects", "with_a"])
    if participants == "missing":
        del body["participating_agencies"]
    else:
        body["participating_agencies"] = participants
    projects, audit = Project.objects.count(), AuditEvent.objects.count()
    response = send(world, "editor_a", "post", "/api/v1/projects/", body)
    assert_problem(response, 400, "participating_agencies")
    assert Project.objects.count() == projects
    assert AuditEvent.objects.count() == audit


CODE_CHANGES = [
    ("admin", "pillars", "active"),
    ("admin", "goals", "active"),
    ("admin", "agencies", "active"),
    ("admin", "projects", "published_of_a"),
    ("admin", "projects", "unpublished_of_b"),
    ("editor_a", "projects", "published_of_a"),
    ("editor_a", "projects", "unpublished_of_a"),
    ("editor_b", "projects", "published_of_b"),
]


@pytest.mark.parametrize(("caller", "resource", "target"), CODE_CHANGES)
def test_code_cannot_change(world, caller, resource, target):
    obj = world.objects[resource, target]
    new_code = f"{obj.code}-X"
    refused_without_trace(
        world, caller, "patch", obj, {"code": new_code}, "code", resource=resource
    )
    refused_without_trace(
        world,
        caller,
        "put",
        obj,
        {**put_body(resource, obj), "code": new_code},
        "code",
        resource=resource,
    )
    assert not RESOURCES[resource]._default_manager.filter(code=new_code).exists()


@pytest.mark.parametrize(("caller", "resource", "target"), CODE_CHANGES)
def test_sending_the_same_code_is_not_a_change(world, caller, resource, target):
    obj = world.objects[resource, target]
    etag = etag_of(world, resource, obj)
    body = {"code": obj.code, **PATCH_BODY[resource]}
    response = send(world, caller, "patch", detail_url(resource, obj.code), body, etag)
    assert response.status_code == 200, response.content[:500]
    assert fresh(obj).code == obj.code


FORBIDDEN_FIELDS = {
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "url": "http://testserver/api/v1/elsewhere/",
    "version": 99,
    "archived_at": None,
    "id": 1,
    "owner": "someone",
}


@pytest.mark.parametrize("name", FORBIDDEN_FIELDS)
@pytest.mark.parametrize(
    ("caller", "resource", "target"),
    [
        ("admin", "pillars", "active"),
        ("admin", "goals", "active"),
        ("admin", "agencies", "active"),
        ("admin", "projects", "published_of_a"),
        ("editor_a", "projects", "unpublished_of_a"),
    ],
)
def test_read_only_and_unknown_fields_are_refused_on_update(world, caller, resource, target, name):
    obj = world.objects[resource, target]
    extra = {name: FORBIDDEN_FIELDS[name]}
    refused_without_trace(
        world, caller, "patch", obj, {**PATCH_BODY[resource], **extra}, name, resource=resource
    )


@pytest.mark.parametrize("name", FORBIDDEN_FIELDS)
@pytest.mark.parametrize(
    ("caller", "resource", "target"),
    [("admin", "agencies", "active"), ("editor_a", "projects", "published_of_a")],
)
def test_read_only_and_unknown_fields_are_refused_on_put(world, caller, resource, target, name):
    obj = world.objects[resource, target]
    body = {**put_body(resource, obj), name: FORBIDDEN_FIELDS[name]}
    refused_without_trace(world, caller, "put", obj, body, name, resource=resource)


@pytest.mark.parametrize("name", FORBIDDEN_FIELDS)
@pytest.mark.parametrize(
    ("caller", "resource", "target"),
    [
        ("admin", "pillars", "new"),
        ("admin", "goals", "new"),
        ("admin", "agencies", "new"),
        ("admin", "projects", "with_a"),
        ("editor_a", "projects", "with_a"),
    ],
)
def test_read_only_and_unknown_fields_are_refused_on_create(world, caller, resource, target, name):
    body = {**CREATE_BODY[resource, target], name: FORBIDDEN_FIELDS[name]}
    model = RESOURCES[resource]
    count, audit = model._default_manager.count(), AuditEvent.objects.count()
    response = send(world, caller, "post", f"/api/v1/{resource}/", body)
    assert_problem(response, 400, name)
    assert model._default_manager.count() == count
    assert AuditEvent.objects.count() == audit


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/pillars/",
        "/api/v1/pillars/P1/",
        "/api/v1/goals/",
        "/api/v1/goals/P1-G1/",
        "/api/v1/agencies/",
        f"/api/v1/agencies/{A}/",
        "/api/v1/projects/",
        "/api/v1/projects/PUB-A/",
    ],
)
def test_anonymous_reads_are_401_when_anonymous_reading_is_off(world, settings, path):
    settings.API_ANONYMOUS_READ = False
    response = send(world, "anonymous", "get", path)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    # A partner with a token still reads, even with a read-only token.
    assert send(world, "reader_a", "get", path).status_code == 200
    assert send(world, "editor_a_read", "get", path).status_code == 200


def test_anonymous_reading_off_does_not_reveal_what_exists(world, settings):
    settings.API_ANONYMOUS_READ = False
    for path in ("/api/v1/projects/DRAFT-A/", "/api/v1/projects/NOPE-1/", "/api/v1/pillars/P8/"):
        assert_problem(send(world, "anonymous", "get", path), 401)


def _expired(world: World) -> str:
    user = world.partners["editor_a"].user
    token = ApiTokenFactory(user=user, expires_at=timezone.now() - timedelta(seconds=1))
    return f"Bearer {token.plaintext}"


def _revoked(world: World) -> str:
    token = ApiTokenFactory(user=world.partners["editor_a"].user)
    api_token_revoke(actor=SYSTEM, token=token)
    return f"Bearer {token.plaintext}"


def _inactive_user(world: World) -> str:
    get_user_model().objects.filter(pk=world.partners["editor_b"].user.pk).update(is_active=False)
    return world.partners["editor_b"].authorization


def _wrong_secret(world: World) -> str:
    return world.partners["editor_a"].authorization[:-4] + "AAAA"


def _unknown_prefix(world: World) -> str:
    _, prefix, _ = world.partners["editor_a"].plaintext.split("_", 2)
    return world.partners["editor_a"].authorization.replace(prefix, "00000000")


BAD_CREDENTIALS = {
    "expired": _expired,
    "revoked": _revoked,
    "inactive_user": _inactive_user,
    "wrong_secret": _wrong_secret,
    "unknown_prefix": _unknown_prefix,
    "bearer_without_token": lambda world: "Bearer",
    "bearer_with_two_tokens": lambda world: f"{world.partners['admin'].authorization} extra",
    "not_a_token": lambda world: "Bearer not-a-token",
    "missing_secret": lambda world: "Bearer wpt_abcdef12",
    "wrong_token_prefix": lambda world: "Bearer xyz_abcdef12_secret",
    "non_ascii": lambda world: "Bearer wpt_abcdef12_s\xe9cret",
}


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
def test_bad_credentials_are_401_never_anonymous(world, credentials):
    authorization = BAD_CREDENTIALS[credentials](world)
    project = world.objects["projects", "published_of_b"]
    url = detail_url("projects", project.code)
    etag = etag_of(world, "projects", project)
    before, audit = state(project), AuditEvent.objects.count()
    client = APIClient()
    # Reads are open to anonymous callers, but bad credentials must not fall back to that.
    for response in (
        client.get("/api/v1/projects/", HTTP_AUTHORIZATION=authorization),
        client.get(url, HTTP_AUTHORIZATION=authorization),
        client.patch(
            url,
            PATCH_BODY["projects"],
            format="json",
            HTTP_AUTHORIZATION=authorization,
            HTTP_IF_MATCH=etag,
        ),
        client.post(
            "/api/v1/projects/",
            CREATE_BODY["projects", "with_b"],
            format="json",
            HTTP_AUTHORIZATION=authorization,
        ),
    ):
        assert_problem(response, 401)
    assert state(project) == before
    assert AuditEvent.objects.count() == audit
    assert not Project.objects.filter(code=CREATE_BODY["projects", "with_b"]["code"]).exists()


def test_unexpired_token_works_and_records_its_use(world):
    user = world.partners["editor_a"].user
    token = ApiTokenFactory(user=user, scope="read", expires_at=timezone.now() + timedelta(hours=1))
    response = APIClient().get("/api/v1/projects/DRAFT-A/", **auth_header(token.plaintext))
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize("caller", ["admin_read", "editor_a_read"])
@pytest.mark.parametrize(
    ("method", "resource", "target"),
    [
        ("post", "pillars", "new"),
        ("post", "projects", "with_a"),
        ("patch", "pillars", "active"),
        ("patch", "projects", "published_of_a"),
        ("put", "agencies", "active"),
        ("delete", "goals", "active"),
        ("delete", "projects", "unpublished_of_a"),
        ("restore", "projects", "archived_of_a"),
    ],
)
def test_read_scope_token_cannot_write(world, caller, method, resource, target):
    model = RESOURCES[resource]
    count, audit = model._default_manager.count(), AuditEvent.objects.count()
    if method == "post":
        body = CREATE_BODY[resource, target]
        response = send(world, caller, "post", f"/api/v1/{resource}/", body)
    elif method == "restore":
        obj = world.objects[resource, target]
        before = state(obj)
        response = send(world, caller, "post", f"{detail_url(resource, obj.code)}restore/")
    else:
        obj = world.objects[resource, target]
        before = state(obj)
        body = put_body(resource, obj) if method == "put" else PATCH_BODY.get(resource)
        etag = etag_of(world, resource, obj)
        response = send(world, caller, method, detail_url(resource, obj.code), body, etag)
    problem = assert_problem(response, 403)
    assert "read-only" in problem["detail"]
    assert model._default_manager.count() == count
    assert AuditEvent.objects.count() == audit
    if method != "post":
        assert state(obj) == before


def test_same_user_with_a_write_token_may_write(world):
    # The control for the read-scope refusals: it is the scope, not the role, that refused.
    obj = world.objects["pillars", "active"]
    etag = etag_of(world, "pillars", obj)
    url = detail_url("pillars", obj.code)
    assert send(world, "admin_read", "patch", url, PATCH_BODY["pillars"], etag).status_code == 403
    assert send(world, "admin", "patch", url, PATCH_BODY["pillars"], etag).status_code == 200
