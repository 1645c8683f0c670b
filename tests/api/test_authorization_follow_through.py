"""The authorization matrix of meetings and progress reports (`/meetings/`, `/progress/`,
`/projects/{code}/progress/`): who may call what, on which object.

As in test_authorization.py, `MATRIX` is the specification, one expected status per
caller, and a refused write must leave the database exactly as it was (the rows, their
versions and related rows, and the audit trail).

The world:

- agency A is MX-SE, agency B is US-DOC;
- projects `pub_a` and `draft_a` (unpublished) of A, `pub_b` and `draft_b` of B;
- a progress report on each (`report_pub_a` ...), one on goal P1-G1 (`report_goal`) and
  an archived one on `pub_a` (`report_archived`);
- an active and an archived meeting.

Partner roles use real bearer tokens, all write-scoped, so refusals come from the role.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import assert_problem, make_user, parsed
from tests.factories import (
    AgencyFactory,
    ApiTokenFactory,
    GoalFactory,
    MeetingChairFactory,
    MeetingFactory,
    MeetingProjectFactory,
    MeetingSourceFactory,
    PillarFactory,
    ProgressReportFactory,
    ProjectAgencyRoleFactory,
    ProjectFactory,
)
from workplan.choices import Role
from workplan.models import (
    AuditEvent,
    Meeting,
    MeetingChair,
    MeetingProject,
    MeetingSource,
    ProgressReport,
)

pytestmark = pytest.mark.django_db

A = "MX-SE"
B = "US-DOC"
CALLERS = ("anonymous", "reader_a", "editor_a", "editor_b", "admin")

# fmt: off
MATRIX: dict[tuple[str, str, str], tuple[int, int, int, int, int]] = {
    # resource    action     target                anon  rdA  edA  edB  adm
    ("meetings", "list",    "all"):               (200, 200, 200, 200, 200),
    ("meetings", "detail",  "meeting"):           (200, 200, 200, 200, 200),
    ("meetings", "detail",  "meeting_archived"):  (404, 404, 404, 404, 404),
    ("meetings", "create",  "new"):               (401, 403, 403, 403, 201),
    ("meetings", "put",     "meeting"):           (401, 403, 403, 403, 200),
    ("meetings", "patch",   "meeting"):           (401, 403, 403, 403, 200),
    ("meetings", "patch",   "meeting_archived"):  (401, 403, 403, 403, 404),
    ("meetings", "delete",  "meeting"):           (401, 403, 403, 403, 204),
    ("meetings", "delete",  "meeting_archived"):  (401, 403, 403, 403, 404),
    ("meetings", "restore", "meeting_archived"):  (401, 403, 403, 403, 200),
    ("meetings", "restore", "meeting"):           (401, 403, 403, 403, 404),

    ("progress", "list",    "all"):               (200, 200, 200, 200, 200),
    ("progress", "detail",  "report_pub_a"):      (200, 200, 200, 200, 200),
    ("progress", "detail",  "report_draft_a"):    (404, 200, 200, 404, 200),
    ("progress", "detail",  "report_pub_b"):      (200, 200, 200, 200, 200),
    ("progress", "detail",  "report_draft_b"):    (404, 404, 404, 200, 200),
    ("progress", "detail",  "report_goal"):       (200, 200, 200, 200, 200),
    ("progress", "detail",  "report_archived"):   (404, 404, 404, 404, 404),
    # A project the caller cannot see is unknown to it (400 naming `project`), one it
    # sees but its agency does not take part in is forbidden (403).
    ("progress", "create",  "pub_a"):             (401, 403, 201, 403, 201),
    ("progress", "create",  "draft_a"):           (401, 403, 201, 400, 201),
    ("progress", "create",  "pub_b"):             (401, 403, 403, 201, 201),
    ("progress", "create",  "draft_b"):           (401, 403, 400, 201, 201),
    ("progress", "create",  "goal"):              (401, 403, 403, 403, 201),
    ("progress", "put",     "report_pub_a"):      (401, 403, 200, 403, 200),
    ("progress", "put",     "report_goal"):       (401, 403, 403, 403, 200),
    ("progress", "patch",   "report_pub_a"):      (401, 403, 200, 403, 200),
    ("progress", "patch",   "report_draft_a"):    (401, 403, 200, 404, 200),
    ("progress", "patch",   "report_pub_b"):      (401, 403, 403, 200, 200),
    ("progress", "patch",   "report_draft_b"):    (401, 403, 404, 200, 200),
    ("progress", "patch",   "report_goal"):       (401, 403, 403, 403, 200),
    ("progress", "patch",   "report_archived"):   (401, 403, 404, 404, 404),
    # Moving A's report to B's project, or onto a goal: the new place decides too.
    ("progress", "move_to_pub_b", "report_pub_a"): (401, 403, 403, 403, 200),
    ("progress", "move_to_goal", "report_pub_a"): (401, 403, 403, 403, 200),
    ("progress", "delete",  "report_pub_a"):      (401, 403, 204, 403, 204),
    ("progress", "delete",  "report_draft_b"):    (401, 403, 404, 204, 204),
    ("progress", "delete",  "report_goal"):       (401, 403, 403, 403, 204),
    ("progress", "delete",  "report_archived"):   (401, 403, 404, 404, 404),
    ("progress", "restore", "report_archived"):   (401, 403, 403, 403, 200),
    ("progress", "restore", "report_pub_a"):      (401, 403, 403, 403, 404),

    # /projects/{code}/progress/: the project in the URL must be visible (else 404).
    ("project_progress", "list",   "pub_a"):      (200, 200, 200, 200, 200),
    ("project_progress", "list",   "draft_a"):    (404, 200, 200, 404, 200),
    ("project_progress", "list",   "pub_b"):      (200, 200, 200, 200, 200),
    ("project_progress", "list",   "draft_b"):    (404, 404, 404, 200, 200),
    ("project_progress", "create", "pub_a"):      (401, 403, 201, 403, 201),
    ("project_progress", "create", "draft_a"):    (401, 403, 201, 404, 201),
    ("project_progress", "create", "pub_b"):      (401, 403, 403, 201, 201),
    ("project_progress", "create", "draft_b"):    (401, 403, 404, 201, 201),
}
# fmt: on

EXPECTED: dict[tuple[str, str, str, str], int] = {
    (caller, resource, action, target): status
    for (resource, action, target), row in MATRIX.items()
    for caller, status in zip(CALLERS, row, strict=True)
}
WRITES = {"create", "put", "patch", "delete", "restore", "move_to_pub_b", "move_to_goal"}
PROJECT_OF_REPORT = {
    "report_pub_a": "pub_a",
    "report_draft_a": "draft_a",
    "report_pub_b": "pub_b",
    "report_draft_b": "draft_b",
    "report_archived": "pub_a",
}


class World:
    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.tokens: dict[str, Any] = {}


def build_world() -> World:
    w = World()
    archived = timezone.now() - timedelta(days=1)
    goal = GoalFactory(pillar=PillarFactory(number=1, code="P1"), number=1, code="P1-G1")
    w.objects["goal"] = goal
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
        w.objects[target] = project
        w.objects[f"report_{target}"] = ProgressReportFactory(
            code=f"REPORT-{project.code}", project=project
        )
    w.objects["report_goal"] = ProgressReportFactory(code="REPORT-GOAL", project=None, goal=goal)
    w.objects["report_archived"] = ProgressReportFactory(
        code="REPORT-GONE", project=w.objects["pub_a"], archived_at=archived
    )
    meeting = MeetingFactory(code="HLED-M-2030-01-01", date=date(2030, 1, 1))
    MeetingChairFactory(meeting=meeting, agency=se, person_name="Chair of A")
    MeetingSourceFactory(meeting=meeting)
    MeetingProjectFactory(meeting=meeting, project=w.objects["pub_a"])
    w.objects["meeting"] = meeting
    w.objects["meeting_archived"] = MeetingFactory(
        code="HLED-M-2030-01-02", date=date(2030, 1, 2), archived_at=archived
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
    """Built once per module in a transaction rolled back at the end; each test runs in a
    savepoint inside it (see test_authorization.py)."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture
def world(db, _module_world) -> World:
    return _module_world


# -- helpers ---------------------------------------------------------------------------------


def send(w: World, caller: str, method: str, url: str, body: Any = None, **extra: Any) -> Any:
    if caller != "anonymous":
        extra["HTTP_AUTHORIZATION"] = f"Bearer {w.tokens[caller].plaintext}"
    client = APIClient()
    if method == "get":
        return client.get(url, **extra)
    return getattr(client, method)(url, body, format="json", **extra)


def database() -> dict[str, Any]:
    """Everything a write to meetings or progress could change."""
    return {
        "reports": list(ProgressReport.objects.order_by("pk").values()),
        "meetings": list(Meeting.objects.order_by("pk").values()),
        "chairs": list(MeetingChair.objects.order_by("pk").values()),
        "sources": list(MeetingSource.objects.order_by("pk").values()),
        "links": list(MeetingProject.objects.order_by("pk").values()),
        "audit": AuditEvent.objects.count(),
    }


def report_body(**extra: Any) -> dict[str, Any]:
    return {
        "date": "2030-02-01",
        "narrative_en": "Workshops held.",
        "narrative_es": "Se realizaron talleres.",
        "source": {"kind": "entered", "title": "Quarterly report", "publisher": "SE"},
        **extra,
    }


MEETING_BODY = {
    "code": "HLED-M-2030-03-01",
    "date": "2030-03-01",
    "kind": "review",
    "place_en": "Virtual",
    "place_es": "Virtual",
    "chairs": [{"agency": A, "person_name": "Chair"}],
    "projects": [{"project": "PUB-A", "kind": "reviewed"}],
}


def put_body(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Meeting):
        return {
            "code": obj.code,
            "date": obj.date.isoformat(),
            "kind": "review",
            "place_en": "Replaced",
            "place_es": "Reemplazado",
            "summary_en": "",
            "summary_es": "",
            "chairs": [{"agency": A, "person_name": "Chair of A"}],
            "sources": [],
            "projects": [],
        }
    target = {"project": obj.project.code} if obj.project else {"goal": obj.goal.code}
    return report_body(**target, narrative_en="Replaced.")


def request_for(w: World, caller: str, resource: str, action: str, target: str) -> Any:
    obj = w.objects.get(target)
    if resource == "project_progress":
        url = f"/api/v1/projects/{obj.code}/progress/"
        if action == "list":
            return send(w, caller, "get", url)
        return send(w, caller, "post", url, report_body())
    if action == "list":
        return send(w, caller, "get", f"/api/v1/{resource}/?page_size=100")
    if action == "create":
        if resource == "meetings":
            return send(w, caller, "post", "/api/v1/meetings/", MEETING_BODY)
        place = {"goal": "P1-G1"} if target == "goal" else {"project": obj.code}
        return send(w, caller, "post", "/api/v1/progress/", report_body(**place))
    url = f"/api/v1/{resource}/{obj.code}/"
    if action == "detail":
        return send(w, caller, "get", url)
    if action == "restore":
        return send(w, caller, "post", f"{url}restore/")
    if_match = {"HTTP_IF_MATCH": f'"{obj.version}"'}
    if action == "delete":
        return send(w, caller, "delete", url, None, **if_match)
    if action == "put":
        return send(w, caller, "put", url, put_body(obj), **if_match)
    body: dict[str, Any]
    if action == "move_to_pub_b":
        body = {"project": "PUB-B"}
    elif action == "move_to_goal":
        body = {"project": None, "goal": "P1-G1"}
    else:
        body = (
            {"summary_en": "Changed."} if resource == "meetings" else {"narrative_en": "Changed."}
        )
    return send(w, caller, "patch", url, body, **if_match)


# -- the matrix ------------------------------------------------------------------------------


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
            assert "project" in {e["field"] for e in body["errors"]}, body
        # A refusal changes nothing at all.
        assert database() == before
        return
    assert response.status_code == expected, response.content[:500]
    if action not in WRITES:
        assert database() == before
        return
    after = database()
    event = AuditEvent.objects.order_by("id").last()
    assert after["audit"] == before["audit"] + 1
    assert event.token_id == world.tokens[caller].pk
    assert event.object_type == ("meeting" if resource == "meetings" else "progress")
    if action == "create":
        code = response.json()["code"]
        assert event.object_code == code and event.action == "create"
        assert response["Location"].endswith(
            f"/api/v1/{'meetings' if resource == 'meetings' else 'progress'}/{code}/"
        )
        if resource != "meetings":
            report = ProgressReport.objects.get(code=code)
            assert report.code.startswith("PR-")
            placed = report.goal if target == "goal" else report.project
            assert placed == world.objects[target]
        return
    obj = world.objects[target]
    fresh = type(obj).objects.get(pk=obj.pk)
    assert event.object_code == obj.code
    assert fresh.version == obj.version + 1
    if action == "delete":
        assert fresh.archived_at is not None and event.action == "archive"
    elif action == "restore":
        assert fresh.archived_at is None and event.action == "restore"
    elif action == "move_to_pub_b":
        assert fresh.project == world.objects["pub_b"]
    elif action == "move_to_goal":
        assert fresh.project is None and fresh.goal == world.objects["goal"]


def test_matrix_covers_every_caller_and_action():
    for resource in ("meetings", "progress"):
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


# -- lists show exactly what details show ----------------------------------------------------


REPORTS = ("report_pub_a", "report_draft_a", "report_pub_b", "report_draft_b", "report_goal")


@pytest.mark.parametrize("caller", CALLERS)
def test_progress_list_shows_exactly_what_detail_shows(world, caller):
    response = send(world, caller, "get", "/api/v1/progress/?page_size=100")
    codes = {r["code"] for r in response.json()["results"]}
    expected = {
        world.objects[t].code for t in REPORTS if EXPECTED[caller, "progress", "detail", t] == 200
    }
    assert codes == expected


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("project", ["pub_a", "draft_a", "pub_b", "draft_b"])
def test_project_filter_never_tells_an_unseen_project_exists(world, caller, project):
    code = world.objects[project].code
    response = send(world, caller, "get", f"/api/v1/progress/?project={code}")
    sees = EXPECTED[caller, "project_progress", "list", project] == 200
    if sees:
        assert response.status_code == 200
        assert [r["code"] for r in response.json()["results"]] == [f"REPORT-{code}"]
    else:
        # The same answer as for a code that does not exist at all.
        assert_problem(response, 400, "project")
        unknown = send(world, caller, "get", "/api/v1/progress/?project=NO-SUCH-PROJECT")
        assert_problem(unknown, 400, "project")


@pytest.mark.parametrize("caller", CALLERS)
def test_csv_export_shows_what_the_list_shows(world, caller):
    response = send(world, caller, "get", "/api/v1/progress/export/csv/")
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()[1:]
    codes = {line.split(",")[0] for line in lines}
    listed = send(world, caller, "get", "/api/v1/progress/?page_size=100").json()["results"]
    assert codes == {r["code"] for r in listed}


@pytest.mark.parametrize("caller", CALLERS)
def test_whole_plan_shows_what_the_lists_show(world, caller):
    plan = parsed(send(world, caller, "get", "/api/v1/plan/"))
    for resource in ("meetings", "progress"):
        listed = send(world, caller, "get", f"/api/v1/{resource}/?page_size=100").json()
        assert [item["code"] for item in plan[resource]] == [
            item["code"] for item in listed["results"]
        ]
