"""Meetings (`/meetings/`) and progress reports (`/progress/`, `/projects/{code}/progress/`):
what they show, what a write may say, issued codes, filters, exports, and how they follow
the projects they are about. Rights are in test_authorization_follow_through.py."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from tests.conftest import assert_problem, client_for, make_user, parsed
from tests.factories import (
    AgencyFactory,
    GoalFactory,
    PillarFactory,
    ProgressReportFactory,
    ProjectAgencyRoleFactory,
    ProjectFactory,
)
from workplan.choices import Role
from workplan.models import AuditEvent, Meeting, MeetingChair, ProgressReport, Project
from workplan.policy import SYSTEM
from workplan.services import plan_object_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_throttling")]

MEETINGS = "/api/v1/meetings/"
PROGRESS = "/api/v1/progress/"


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    """P1 (goal P1-G1) and P2 (goal P2-G1); MX-SE and US-DOC; a published project of SE
    under P1-G1 and an unpublished one of DOC under P2-G1."""
    p1 = PillarFactory(number=1, code="P1")
    p2 = PillarFactory(number=2, code="P2")
    g1 = GoalFactory(pillar=p1, number=1, code="P1-G1")
    g2 = GoalFactory(pillar=p2, number=1, code="P2-G1")
    se = AgencyFactory(country="MX", acronym="SE", code="MX-SE")
    doc = AgencyFactory(country="US", acronym="DOC", code="US-DOC")
    published = ProjectFactory(code="HLED-2021-01", goal=g1, is_published=True)
    ProjectAgencyRoleFactory(project=published, agency=se)
    draft = ProjectFactory(code="HLED-2026-09", goal=g2, is_published=False)
    ProjectAgencyRoleFactory(project=draft, agency=doc)
    return {"g1": g1, "g2": g2, "se": se, "doc": doc, "published": published, "draft": draft}


@pytest.fixture
def admin(db: Any) -> APIClient:
    return client_for(make_user("plan-admin", Role.ADMIN))


@pytest.fixture
def editor(world: dict[str, Any]) -> APIClient:
    return client_for(make_user("se-editor", Role.EDITOR, world["se"]))


def report_body(**extra: Any) -> dict[str, Any]:
    return {
        "date": "2026-03-31",
        "narrative_en": "Supplier workshops were held.",
        "narrative_es": "Se realizaron talleres para proveedores.",
        "source": {
            "kind": "entered",
            "title": "Quarterly report",
            "publisher": "Secretaría de Economía",
            "date": "2026-04-02",
            "url": "https://www.gob.mx/se",
        },
        **extra,
    }


def meeting_body(**extra: Any) -> dict[str, Any]:
    return {
        "code": "HLED-M-2026-09-14",
        "date": "2026-09-14",
        "kind": "ministerial",
        "place_en": "Mexico City",
        "place_es": "Ciudad de México",
        "summary_en": "Fourth ministerial meeting.",
        "summary_es": "Cuarta reunión ministerial.",
        "chairs": [
            {
                "agency": "MX-SE",
                "person_name": "Chair of SE",
                "position_en": "Secretary of Economy",
                "position_es": "Secretaria de Economía",
            },
            {"agency": "US-DOC", "person_name": "Chair of DOC"},
        ],
        "sources": [
            {
                "title": "Joint statement",
                "publisher": "Office of the U.S. Trade Representative",
                "date": "2026-09-14",
                "url": "https://ustr.gov/",
            }
        ],
        "projects": [{"project": "HLED-2021-01", "kind": "launched"}],
        **extra,
    }


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.content[:800]
    return response.json()


# -- meetings ---------------------------------------------------------------------------------


def test_a_meeting_as_written_and_read_in_both_languages(world, admin, api):
    body = created(admin.post(MEETINGS, meeting_body(), format="json"))
    assert body["url"] == "http://testserver/api/v1/meetings/HLED-M-2026-09-14/"
    read = api.get(f"{MEETINGS}HLED-M-2026-09-14/?lang=all").json()
    for name in ("code", "date", "kind", "place", "summary", "created_at", "updated_at"):
        assert read[name] == body[name], name
    assert read["translations"] == {
        "en": {"place": "Mexico City", "summary": "Fourth ministerial meeting."},
        "es": {"place": "Ciudad de México", "summary": "Cuarta reunión ministerial."},
    }
    assert [(c["agency"]["code"], c["country"], c["person_name"]) for c in read["chairs"]] == [
        ("MX-SE", "MX", "Chair of SE"),
        ("US-DOC", "US", "Chair of DOC"),
    ]
    assert read["chairs"][0]["translations"]["es"] == {"position": "Secretaria de Economía"}
    assert read["sources"] == [meeting_body()["sources"][0]]
    assert [(p["project"]["code"], p["kind"]) for p in read["projects"]] == [
        ("HLED-2021-01", "launched")
    ]
    spanish = api.get(f"{MEETINGS}HLED-M-2026-09-14/", HTTP_ACCEPT_LANGUAGE="es-MX")
    assert spanish["Content-Language"] == "es"
    assert spanish.json()["place"] == "Ciudad de México"
    assert spanish.json()["chairs"][0]["position"] == "Secretaria de Economía"
    # The chair's country comes from its agency, whatever the request says.
    assert MeetingChair.objects.get(person_name="Chair of DOC").country == "US"


def test_lists_sent_replace_the_meetings_rows(world, admin):
    created(admin.post(MEETINGS, meeting_body(), format="json"))
    url = f"{MEETINGS}HLED-M-2026-09-14/"
    response = admin.patch(
        url,
        {"chairs": [{"agency": "US-DOC", "person_name": "Chair of DOC"}], "sources": []},
        format="json",
        HTTP_IF_MATCH="*",
    )
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert [c["person_name"] for c in body["chairs"]] == ["Chair of DOC"]
    assert body["sources"] == []
    assert len(body["projects"]) == 1  # not sent: left as it was
    event = AuditEvent.objects.filter(object_code="HLED-M-2026-09-14").latest("id")
    assert set(event.changes) == {"chairs", "sources"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"chairs": [{"agency": "MX-SE", "person_name": "X"}] * 2}, "chairs"),
        ({"chairs": [{"agency": "MX-NOPE", "person_name": "X"}]}, "chairs"),
        ({"chairs": [{"agency": "MX-SE"}]}, "chairs"),
        ({"sources": [{"title": "Same"}, {"title": "Same"}]}, "sources"),
        ({"sources": [{"title": "T", "url": "not a url"}]}, "sources"),
        ({"projects": [{"project": "HLED-2021-01"}] * 2}, "projects"),
        ({"projects": [{"project": "HLED-2021-01", "kind": "finished"}]}, "projects"),
        ({"kind": "summit"}, "kind"),
        ({"date": "2026-02-30"}, "date"),
        ({"code": "hled m"}, "code"),
        ({"place": "Anywhere"}, "place"),
    ],
)
def test_invalid_meetings_are_400_naming_the_field(world, admin, change, field):
    count = Meeting.objects.count()
    response = admin.post(MEETINGS, meeting_body(**change), format="json")
    assert_problem(response, 400, field)
    assert Meeting.objects.count() == count


def test_a_meeting_shows_only_published_projects(world, admin, api):
    body = meeting_body(
        projects=[
            {"project": "HLED-2021-01", "kind": "reviewed"},
            {"project": "HLED-2026-09", "kind": "launched"},
        ]
    )
    created(admin.post(MEETINGS, body, format="json"))
    url = f"{MEETINGS}HLED-M-2026-09-14/"
    for client in (api, admin):  # the admins too: a meeting is public
        codes = [p["project"]["code"] for p in client.get(url).json()["projects"]]
        assert codes == ["HLED-2021-01"]
    # Once published, the project appears in the meeting, and the feed says so.
    response = admin.patch(
        "/api/v1/projects/HLED-2026-09/", {"is_published": True}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200
    codes = [p["project"]["code"] for p in api.get(url).json()["projects"]]
    assert codes == ["HLED-2021-01", "HLED-2026-09"]
    event = AuditEvent.objects.filter(object_type="meeting").latest("id")
    assert event.changes["projects"]["after"] == [
        {"project": "HLED-2021-01", "kind": "reviewed"},
        {"project": "HLED-2026-09", "kind": "launched"},
    ]


def test_meeting_filters(world, admin, api):
    created(admin.post(MEETINGS, meeting_body(), format="json"))
    created(
        admin.post(
            MEETINGS,
            meeting_body(
                code="HLED-M-2027-04-19",
                date="2027-04-19",
                kind="review",
                place_en="Virtual",
                place_es="Virtual",
                chairs=[{"agency": "US-DOC", "person_name": "Reviewer"}],
                projects=[],
            ),
            format="json",
        )
    )

    def codes(query: str) -> list[str]:
        response = api.get(f"{MEETINGS}?{query}")
        assert response.status_code == 200, response.content[:500]
        return [m["code"] for m in response.json()["results"]]

    both = ["HLED-M-2026-09-14", "HLED-M-2027-04-19"]
    assert codes("") == both
    assert codes("kind=REVIEW") == ["HLED-M-2027-04-19"]
    assert codes("kind=review,ministerial") == both
    assert codes("date_from=2027-01-01") == ["HLED-M-2027-04-19"]
    assert codes("date_to=2026-09-14") == ["HLED-M-2026-09-14"]
    assert codes("country=mx") == ["HLED-M-2026-09-14"]
    assert codes("country=US") == both
    assert codes("agency=SE") == ["HLED-M-2026-09-14"]
    assert codes("agency=US-DOC") == both
    assert codes("project=hled-2021-01") == ["HLED-M-2026-09-14"]
    assert codes("q=ciudad") == ["HLED-M-2026-09-14"]
    assert codes("ordering=-date") == both[::-1]
    for query, field in [
        ("kind=summit", "kind"),
        ("country=XX", "country"),
        ("agency=NOPE", "agency"),
        ("project=HLED-2026-09", "project"),  # unpublished: unknown to anonymous callers
        ("date_from=yesterday", "date_from"),
        ("held_on=2026-09-14", "held_on"),
    ]:
        assert_problem(api.get(f"{MEETINGS}?{query}"), 400, field)


def test_a_meeting_named_by_reports_cannot_be_archived(world, admin):
    created(admin.post(MEETINGS, meeting_body(), format="json"))
    report = created(
        admin.post(
            PROGRESS,
            report_body(project="HLED-2021-01", meeting="HLED-M-2026-09-14"),
            format="json",
        )
    )
    url = f"{MEETINGS}HLED-M-2026-09-14/"
    body = assert_problem(admin.delete(url, HTTP_IF_MATCH="*"), 409)
    assert report["code"] in body["detail"]
    assert admin.delete(f"{PROGRESS}{report['code']}/", HTTP_IF_MATCH="*").status_code == 204
    assert admin.delete(url, HTTP_IF_MATCH="*").status_code == 204
    # Now the report cannot come back before its meeting.
    body = assert_problem(admin.post(f"{PROGRESS}{report['code']}/restore/"), 409)
    assert "HLED-M-2026-09-14" in body["detail"]


# -- progress reports: writing ---------------------------------------------------------------


def test_codes_are_issued_in_sequence_and_never_reused(world, admin, editor):
    first = created(editor.post(PROGRESS, report_body(project="HLED-2021-01"), format="json"))
    second = created(
        editor.post("/api/v1/projects/hled-2021-01/progress/", report_body(), format="json")
    )
    assert (first["code"], second["code"]) == ("PR-000001", "PR-000002")
    assert admin.delete(f"{PROGRESS}PR-000002/", HTTP_IF_MATCH="*").status_code == 204
    # Codes of other shapes (the real plan's) leave the sequence alone.
    plan_object_create(
        model=ProgressReport,
        data={"code": "HLED-2021-01-PR9", **ProgressReportFactory.build().__dict__}
        | {"project": world["published"], "goal": None, "meeting": None},
        actor=SYSTEM,
    )
    third = created(admin.post(PROGRESS, report_body(goal="P1-G1"), format="json"))
    assert third["code"] == "PR-000003"


def test_a_report_reads_back_with_its_place_in_the_plan_and_its_source(world, admin, api):
    body = report_body(
        project="HLED-2021-01",
        period={"start": "2026-01-01", "end": "2026-03-31"},
        measure={
            "indicator_en": "Suppliers trained",
            "indicator_es": "Proveedores capacitados",
            "unit": "suppliers",
            "baseline": "0",
            "target": "200",
            "value": "45.5",
        },
    )
    response = admin.post(PROGRESS, body, format="json", HTTP_IDEMPOTENCY_KEY="report-1")
    report = created(response)
    code = report["code"]
    assert response["Location"] == f"http://testserver/api/v1/progress/{code}/"
    assert response["ETag"] == api.get(response["Location"])["ETag"]
    read = api.get(f"{PROGRESS}{code}/?lang=all").json()
    assert read["project"]["code"] == "HLED-2021-01"
    assert (read["goal"]["code"], read["pillar"]["code"]) == ("P1-G1", "P1")
    assert read["meeting"] is None
    assert read["source"] == {**body["source"]}
    assert read["period"] == {"start": "2026-01-01", "end": "2026-03-31"}
    assert read["measure"] == {
        "indicator": "Suppliers trained",
        "translations": {
            "en": {"indicator": "Suppliers trained"},
            "es": {"indicator": "Proveedores capacitados"},
        },
        "unit": "suppliers",
        "baseline": "0.00",
        "target": "200.00",
        "value": "45.50",
    }
    assert read["translations"]["es"] == {"narrative": body["narrative_es"]}
    # null clears a period or a measure.
    response = admin.patch(
        f"{PROGRESS}{code}/", {"period": None, "measure": None}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200
    assert (response.json()["period"], response.json()["measure"]) == (None, None)
    assert api.get(f"{PROGRESS}{code}/?fields=code,period").json() == {"code": code, "period": None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (report_body(project="HLED-2021-01", goal="P1-G1"), "project"),
        (report_body(), "project"),
        (report_body(project="HLED-2021-01", code="PR-000001"), "code"),
        (report_body(project="HLED-2021-01", source=None), "source"),
        (report_body(project="HLED-2021-01", source={"kind": "rumour", "title": "x"}), "source"),
        (report_body(project="HLED-2021-01", source={"publisher": "x"}), "source"),
        (report_body(project="HLED-2021-01", narrative_es=""), "narrative_es"),
        (report_body(project="HLED-2021-01", meeting="HLED-M-1999-01-01"), "meeting"),
        (
            report_body(
                project="HLED-2021-01", period={"start": "2026-02-01", "end": "2026-01-01"}
            ),
            "period",
        ),
        (
            report_body(project="HLED-2021-01", measure={"indicator_en": "x", "value": "1"}),
            "measure",
        ),
        (
            report_body(
                project="HLED-2021-01",
                measure={"indicator_en": "x", "indicator_es": "x", "value": "1e20"},
            ),
            "measure",
        ),
        (report_body(project="HLED-2021-01", narrative="x"), "narrative"),
        (report_body(project="HLED-2021-01", pillar="P1"), "pillar"),
    ],
)
def test_invalid_reports_are_400_naming_the_field(world, admin, body, field):
    count, events = ProgressReport.objects.count(), AuditEvent.objects.count()
    assert_problem(admin.post(PROGRESS, body, format="json"), 400, field)
    assert (ProgressReport.objects.count(), AuditEvent.objects.count()) == (count, events)


def test_a_projects_progress_takes_the_project_from_the_url(world, editor):
    url = "/api/v1/projects/HLED-2021-01/progress/"
    for extra, field in [({"project": "HLED-2026-09"}, "project"), ({"goal": "P1-G1"}, "goal")]:
        response = editor.post(url, report_body(**extra), format="json")
        assert_problem(response, 400, field)
    assert not ProgressReport.objects.exists()
    report = created(editor.post(url, report_body(), format="json"))
    assert report["project"]["code"] == "HLED-2021-01"
    assert ProgressReport.objects.get(code=report["code"]).project == world["published"]


def test_idempotent_creation_on_a_projects_progress(world, editor):
    url = "/api/v1/projects/HLED-2021-01/progress/"
    first = editor.post(url, report_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    created(first)
    events = AuditEvent.objects.count()
    replay = editor.post(url, report_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json() and replay["Location"] == first["Location"]
    other = editor.post(
        url, report_body(narrative_en="Else."), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert_problem(other, 422)
    assert ProgressReport.objects.count() == 1
    assert AuditEvent.objects.count() == events


def test_a_partial_update_of_the_source_keeps_the_rest(world, admin):
    code = created(admin.post(PROGRESS, report_body(project="HLED-2021-01"), format="json"))["code"]
    response = admin.patch(
        f"{PROGRESS}{code}/",
        {"source": {"url": "https://www.gob.mx/se/prensa"}},
        format="json",
        HTTP_IF_MATCH="*",
    )
    assert response.status_code == 200, response.content[:500]
    assert response.json()["source"] == {
        **report_body()["source"],
        "url": "https://www.gob.mx/se/prensa",
    }


def test_the_database_refuses_a_report_on_both_or_neither(world):
    for project, goal in [(world["published"], world["g1"]), (None, None)]:
        with pytest.raises(IntegrityError), transaction.atomic():
            ProgressReportFactory(project=project, goal=goal)


# -- progress reports follow their project -------------------------------------------------------


def test_a_project_or_goal_with_reports_cannot_be_archived(world, admin):
    report = created(admin.post(PROGRESS, report_body(project="HLED-2021-01"), format="json"))
    goal_report = created(admin.post(PROGRESS, report_body(goal="P2-G1"), format="json"))
    admin.delete("/api/v1/projects/HLED-2026-09/", HTTP_IF_MATCH="*")  # P2-G1's only project
    for url, reason in [
        ("/api/v1/projects/HLED-2021-01/", "progress reports"),
        ("/api/v1/goals/P2-G1/", "progress reports"),
    ]:
        body = assert_problem(admin.delete(url, HTTP_IF_MATCH="*"), 409)
        assert reason in body["detail"]
    for code in (report["code"], goal_report["code"]):
        assert admin.delete(f"{PROGRESS}{code}/", HTTP_IF_MATCH="*").status_code == 204
    assert admin.delete("/api/v1/projects/HLED-2021-01/", HTTP_IF_MATCH="*").status_code == 204
    body = assert_problem(admin.post(f"{PROGRESS}{report['code']}/restore/"), 409)
    assert "HLED-2021-01" in body["detail"]


def test_reports_are_seen_as_their_project_is(world, admin, api):
    code = created(admin.post(PROGRESS, report_body(project="HLED-2021-01"), format="json"))["code"]
    report = ProgressReport.objects.get(code=code)
    assert api.get(f"{PROGRESS}{code}/").status_code == 200
    response = admin.patch(
        "/api/v1/projects/HLED-2021-01/",
        {"is_published": False},
        format="json",
        HTTP_IF_MATCH="*",
    )
    assert response.status_code == 200
    assert_problem(api.get(f"{PROGRESS}{code}/"), 404)
    assert_problem(api.get("/api/v1/projects/HLED-2021-01/progress/"), 404)
    assert api.get(PROGRESS).json()["count"] == 0
    # The report did not change, but who may see it did: the trail and the feed say so,
    # and its version stays (its ETag still holds for its agencies' writes).
    event = AuditEvent.objects.filter(object_code=code).latest("id")
    assert (event.action, event.public_before, event.public_after) == ("update", True, False)
    assert event.changes == {"project_is_published": {"before": True, "after": False}}
    assert event.agencies_after == ["MX-SE"]
    assert ProgressReport.objects.get(pk=report.pk).version == report.version


def test_progress_filters(world, admin, api):
    created(admin.post(MEETINGS, meeting_body(), format="json"))
    a = created(
        admin.post(
            PROGRESS,
            report_body(project="HLED-2021-01", date="2026-01-15", meeting="HLED-M-2026-09-14"),
            format="json",
        )
    )["code"]
    b = created(
        admin.post(
            PROGRESS,
            report_body(
                goal="P1-G1",
                date="2026-06-30",
                source={"kind": "stated", "title": "Joint statement"},
            ),
            format="json",
        )
    )["code"]
    c = created(
        admin.post(
            PROGRESS,
            report_body(goal="P2-G1", date="2027-01-01", narrative_en="Cybersecurity drills."),
            format="json",
        )
    )["code"]
    hidden = created(admin.post(PROGRESS, report_body(project="HLED-2026-09"), format="json"))[
        "code"
    ]

    def codes(query: str, client: APIClient = api) -> list[str]:
        response = client.get(f"{PROGRESS}?{query}")
        assert response.status_code == 200, response.content[:500]
        return [r["code"] for r in response.json()["results"]]

    assert codes("") == [a, b, c]
    assert codes("", admin) == [a, hidden, b, c]
    assert codes("project=HLED-2021-01") == [a]
    assert codes("goal=P1-G1") == [a, b]  # on the goal, and on its projects
    assert codes("pillar=p2") == [c]
    assert codes("pillar=P2", admin) == [hidden, c]
    assert codes("agency=SE") == [a]
    assert codes("agency=DOC") == []
    assert codes("agency=DOC", admin) == [hidden]
    assert codes("meeting=HLED-M-2026-09-14") == [a]
    assert codes("date_from=2026-02-01&date_to=2026-12-31") == [b]
    assert codes("source_kind=STATED") == [b]
    assert codes("q=cybersecurity") == [c]
    assert codes("q=talleres") == [a, b, c]  # the Spanish narratives
    assert codes("ordering=-date") == [c, b, a]
    assert codes("project=HLED-2026-09", admin) == [hidden]
    assert [
        r["code"]
        for r in api.get(
            "/api/v1/projects/HLED-2021-01/progress/?meeting=HLED-M-2026-09-14"
        ).json()["results"]
    ] == [a]
    for query, field in [
        ("project=HLED-2026-09", "project"),
        ("goal=P9-G9", "goal"),
        ("pillar=P9", "pillar"),
        ("agency=NOPE", "agency"),
        ("meeting=HLED-M-1999-01-01", "meeting"),
        ("source_kind=rumour", "source_kind"),
        ("reported_after=2026-01-01", "reported_after"),
        ("date_to=31/12/2026", "date_to"),
    ]:
        assert_problem(api.get(f"{PROGRESS}?{query}"), 400, field)
    # A project's progress takes no filters that place a report elsewhere.
    assert_problem(api.get("/api/v1/projects/HLED-2021-01/progress/?goal=P1-G1"), 400, "goal")


# -- exports and the whole plan -------------------------------------------------------------------


def test_csv_export_streams_the_filtered_list(world, admin, api):
    a = created(admin.post(PROGRESS, report_body(project="HLED-2021-01"), format="json"))["code"]
    created(
        admin.post(
            PROGRESS, report_body(goal="P2-G1", narrative_en='Quotes "and", commas.'), format="json"
        )
    )
    created(admin.post(PROGRESS, report_body(project="HLED-2026-09"), format="json"))
    response = api.get(f"{PROGRESS}export/csv/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="progress.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["project"], r["goal"], r["pillar"]) for r in rows] == [
        ("HLED-2021-01", "P1-G1", "P1"),
        ("", "P2-G1", "P2"),
    ]  # the unpublished project's report is not exported to anonymous callers
    first = rows[0]
    assert first["code"] == a
    assert first["url"] == f"http://testserver/api/v1/progress/{a}/"
    assert first["narrative_es"] == report_body()["narrative_es"]
    assert (first["source_kind"], first["source_title"], first["source_date"]) == (
        "entered",
        "Quarterly report",
        "2026-04-02",
    )
    assert rows[1]["narrative_en"] == 'Quotes "and", commas.'
    # Text that a spreadsheet would run as a formula is quoted; numbers are not.
    created(
        admin.post(
            PROGRESS,
            report_body(
                goal="P1-G1",
                narrative_en='=HYPERLINK("https://evil.example")',
                measure={"indicator_en": "x", "indicator_es": "x", "value": "-3"},
            ),
            format="json",
        )
    )
    rows = list(
        csv.DictReader(
            io.StringIO(b"".join(api.get(f"{PROGRESS}export/csv/").streaming_content).decode())
        )
    )
    formula = next(r for r in rows if "HYPERLINK" in r["narrative_en"])
    assert formula["narrative_en"].startswith("'=") and formula["actual_value"] == "-3.00"
    filtered = api.get(f"{PROGRESS}export/csv/?pillar=P2")
    lines = b"".join(filtered.streaming_content).decode().splitlines()
    assert len(lines) == 2
    for query, field in [("lang=es", "lang"), ("fields=code", "fields"), ("page=2", "page")]:
        assert_problem(api.get(f"{PROGRESS}export/csv/?{query}"), 400, field)


def test_the_real_plan_in_one_document_has_its_meetings_and_progress(real_plan, api):
    plan = parsed(api.get("/api/v1/plan/?lang=all"))
    assert [m["code"] for m in plan["meetings"]] == [
        "HLED-M-2021-09-09",
        "HLED-M-2022-09-12",
        "HLED-M-2023-09-29",
        "HLED-M-2024-04-19",
    ]
    assert len(plan["progress"]) == ProgressReport.objects.count() == 9
    first = plan["progress"][0]
    assert first == api.get(f"{PROGRESS}{first['code']}/?lang=all").json()
    project = Project.objects.get(code="HLED-2021-01")
    project.is_published = False
    project.save()
    plan = parsed(api.get("/api/v1/plan/"))
    assert not [
        r for r in plan["progress"] if r["project"] and r["project"]["code"] == "HLED-2021-01"
    ]
    assert len(plan["progress"]) == 5
