"""`?expand=labels`: each coded field keeps its code and gains a `<field>_label` sibling."""

import pytest

from tests.conftest import assert_problem, get_ok
from tests.factories import (
    AgencyFactory,
    MeetingChairFactory,
    MeetingFactory,
    MeetingProjectFactory,
    ProgressReportFactory,
    ProjectAgencyRoleFactory,
    ProjectFactory,
)
from workplan.choices import AssignmentSource, MeetingKind, OrganisationRole, SourceKind

# Schema, examples and representation rules: the same on every database (CI runs them once).
pytestmark = [pytest.mark.django_db, pytest.mark.backend_independent]


@pytest.fixture
def plan(db):
    project = ProjectFactory(code="TEST-LBL", status="2", budget_amount=100, budget_currency="USD")
    agency = AgencyFactory(country="US", acronym="LBL", organisation_type="10")
    ProjectAgencyRoleFactory(
        project=project,
        agency=agency,
        role=OrganisationRole.FUNDING,
        source=AssignmentSource.INFERRED,
    )
    meeting = MeetingFactory(kind=MeetingKind.REVIEW)
    MeetingChairFactory(meeting=meeting, agency=agency, country="US")
    MeetingProjectFactory(meeting=meeting, project=project)
    report = ProgressReportFactory(project=project, source_kind=SourceKind.STATED)
    return project, agency, meeting, report


def test_project_labels_in_english_and_spanish(api, plan):
    body = get_ok(api, "/api/v1/projects/TEST-LBL/?expand=labels")
    assert body["status"] == "2"
    assert body["status_label"] == "Implementation"
    (role,) = body["participating_agencies"]
    assert (role["role"], role["role_label"]) == ("1", "Funding")
    assert (role["source"], role["source_label"]) == (
        "inferred",
        "Inferred from the agency's remit",
    )
    assert body["budget"] == {"amount": "100.00", "currency": "USD", "currency_label": "US Dollar"}
    spanish = get_ok(api, "/api/v1/projects/?expand=labels&lang=es")["results"][0]
    assert spanish["status_label"] == "Ejecución"
    assert spanish["participating_agencies"][0]["role_label"] == "Financiadora"
    assert spanish["budget"]["currency_label"] == "Dólar estadounidense"
    # lang=all keeps English in the text fields, and so in the labels.
    every = get_ok(api, "/api/v1/projects/TEST-LBL/?expand=labels&lang=all")
    assert every["status_label"] == "Implementation"


def test_without_expand_there_are_no_labels(api, plan):
    body = get_ok(api, "/api/v1/projects/TEST-LBL/")
    assert not [key for key in body if key.endswith("_label")]
    assert "role_label" not in body["participating_agencies"][0]
    assert "currency_label" not in body["budget"]
    meeting = get_ok(api, "/api/v1/meetings/")["results"][0]
    assert "kind_label" not in meeting


def test_meeting_progress_and_agency_labels(api, plan):
    _, agency, meeting, report = plan
    body = get_ok(api, f"/api/v1/meetings/{meeting.code}/?expand=labels&lang=es")
    assert (body["kind"], body["kind_label"]) == ("review", "Revisión de avances")
    assert body["chairs"][0]["country_label"] == "Estados Unidos"
    assert body["projects"][0]["kind_label"] == "Revisado en la reunión"
    listed = get_ok(api, "/api/v1/meetings/?expand=labels")["results"][0]
    assert listed["kind_label"] == "Progress review"
    progress = get_ok(api, f"/api/v1/progress/{report.code}/?expand=labels")
    assert progress["source"]["kind_label"] == "Stated by a government in a published statement"
    nested = get_ok(api, "/api/v1/projects/TEST-LBL/progress/?expand=labels&lang=es")
    assert nested["results"][0]["source"]["kind_label"].startswith("Declarado por un gobierno")
    agency_body = get_ok(api, f"/api/v1/agencies/{agency.code}/?expand=labels&lang=es")
    assert agency_body["country_label"] == "Estados Unidos"
    assert agency_body["organisation_type_label"] == "Gobierno"


def test_fields_selection_can_pick_a_label(api, plan):
    body = get_ok(api, "/api/v1/projects/TEST-LBL/?expand=labels&fields=code,status_label")
    assert body == {"code": "TEST-LBL", "status_label": "Implementation"}


@pytest.mark.parametrize("query", ["expand=colours", "expand=labels,colours"])
def test_unknown_expand_values_are_a_400_naming_expand(api, plan, query):
    body = assert_problem(api.get(f"/api/v1/projects/?{query}"), 400, "expand")
    assert "available: agencies, goal, labels, pillar." in body["errors"][0]["message"]


def test_an_empty_expand_is_refused_like_any_empty_value(api, plan):
    body = assert_problem(api.get("/api/v1/projects/?expand="), 400, "expand")
    assert "empty value" in body["errors"][0]["message"]


def test_expand_is_refused_where_there_is_nothing_to_label(api, plan):
    assert_problem(api.get("/api/v1/pillars/?expand=labels"), 400, "expand")
    assert_problem(api.get("/api/v1/projects/export/csv/?expand=labels"), 400, "expand")


def test_labels_change_the_etag(api, plan):
    plain = api.get("/api/v1/projects/TEST-LBL/")
    labelled = api.get("/api/v1/projects/TEST-LBL/?expand=labels", HTTP_IF_NONE_MATCH=plain["ETag"])
    assert labelled.status_code == 200
    assert labelled["ETag"] != plain["ETag"]
