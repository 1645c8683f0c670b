"""List, detail, filters, ordering, pagination and field selection of every v1 resource."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import (
    AgencyFactory,
    GoalFactory,
    MeetingFactory,
    PillarFactory,
    ProgressReportFactory,
    ProjectAgencyRoleFactory,
    ProjectCountryFactory,
    ProjectFactory,
)
from workplan.models import Agency, Goal, Meeting, Pillar, ProgressReport, Project

pytestmark = pytest.mark.django_db

RESOURCES = {
    "pillars": Pillar,
    "goals": Goal,
    "agencies": Agency,
    "projects": Project,
    "meetings": Meeting,
    "progress": ProgressReport,
}


def codes(body: dict) -> list[str]:
    return [item["code"] for item in body["results"]]


def test_root_lists_every_resource(get_json, real_plan):
    body = get_json("/api/v1/")
    assert set(body) == set(RESOURCES) | {"webhooks", "changes", "plan", "summary", "codelists"}
    assert body["changes"] == "http://testserver/api/v1/changes/"
    assert body["plan"] == "http://testserver/api/v1/plan/"
    for name, url in body.items():
        if name not in RESOURCES:
            continue
        assert url == f"http://testserver/api/v1/{name}/"
        assert get_json(url)["count"] == RESOURCES[name].objects.count()


@pytest.mark.parametrize("resource", RESOURCES)
def test_list_returns_every_object_with_its_url(get_json, real_plan, resource):
    model = RESOURCES[resource]
    body = get_json(f"/api/v1/{resource}/?page_size=100")
    assert body["count"] == model.objects.count() > 0
    assert sorted(codes(body)) == sorted(model.objects.values_list("code", flat=True))
    assert body["next"] is None and body["previous"] is None
    for item in body["results"]:
        assert item["url"] == f"http://testserver/api/v1/{resource}/{item['code']}/"
        assert item["created_at"] and item["updated_at"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_detail_by_code_any_case(get_json, real_plan, resource):
    obj = RESOURCES[resource].objects.order_by("code").last()
    body = get_json(f"/api/v1/{resource}/{obj.code}/")
    assert body["code"] == obj.code
    assert get_json(f"/api/v1/{resource}/{obj.code.lower()}/")["code"] == obj.code


@pytest.mark.parametrize("resource", RESOURCES)
def test_unknown_code_is_404_problem(api, real_plan, resource):
    response = api.get(f"/api/v1/{resource}/NOPE-999/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_pillar_detail_lists_its_goals_in_order(get_json, real_plan):
    body = get_json("/api/v1/pillars/P1/")
    expected = list(
        Goal.objects.filter(pillar__code="P1").order_by("number").values_list("code", flat=True)
    )
    assert [g["code"] for g in body["goals"]] == expected
    assert all(set(g) == {"code", "url", "title"} for g in body["goals"])


def test_goal_shows_its_pillar(get_json, real_plan):
    goal = Goal.objects.select_related("pillar").first()
    body = get_json(f"/api/v1/goals/{goal.code}/")
    assert body["pillar"]["code"] == goal.pillar.code
    assert body["pillar"]["url"].endswith(f"/api/v1/pillars/{goal.pillar.code}/")


def test_project_shows_goal_pillar_countries_and_agencies(get_json, real_plan):
    project = Project.objects.get(code="HLED-2021-05")
    body = get_json(f"/api/v1/projects/{project.code}/")
    assert body["goal"]["code"] == project.goal.code
    assert body["pillar"]["code"] == project.goal.pillar.code == "P2"
    assert sorted(body["countries"]) == ["GT", "HN", "MX", "SV"]
    agencies = {p["agency"]["code"]: p for p in body["participating_agencies"]}
    assert set(agencies) == set(project.agency_roles.values_list("agency__code", flat=True))
    for entry in agencies.values():
        assert entry["role"] == "4"
        assert entry["source"] == "inferred"
        assert entry["is_lead"] is False
        assert entry["agency"]["country"] in {"MX", "US"}
    assert body["budget"] is None
    assert body["status"] == "1"


def test_project_budget_and_dates(get_json):
    project = ProjectFactory(
        budget_amount="1250000.50",
        budget_currency="USD",
        planned_start="2022-01-01",
        planned_end="2023-12-31",
    )
    body = get_json(f"/api/v1/projects/{project.code}/")
    assert body["budget"] == {"amount": "1250000.50", "currency": "USD"}
    assert body["planned_start"] == "2022-01-01"
    assert body["planned_end"] == "2023-12-31"
    assert body["actual_start"] is None


def test_agency_parent_is_a_brief_reference(get_json, real_plan):
    body = get_json("/api/v1/agencies/MX-EMBAMEX/")
    assert body["parent"]["code"] == "MX-SRE"
    assert body["organisation_type"] == "10"
    assert get_json("/api/v1/agencies/MX-SRE/")["parent"] is None


# -- filters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pillar=P2", lambda: Project.objects.filter(goal__pillar__code="P2")),
        ("pillar=p1,P2", lambda: Project.objects.filter(goal__pillar__code__in=["P1", "P2"])),
        (
            "pillar=P1&pillar=P3",
            lambda: Project.objects.filter(goal__pillar__code__in=["P1", "P3"]),
        ),
        ("goal=P1-G2", lambda: Project.objects.filter(goal__code="P1-G2")),
        ("agency=USAID", lambda: Project.objects.filter(agencies__acronym="USAID")),
        ("agency=us-dhs", lambda: Project.objects.filter(agencies__code="US-DHS")),
        ("country=sv", lambda: Project.objects.filter(countries__country="SV")),
        ("country=US", lambda: Project.objects.filter(countries__country="US")),
        ("status=1", lambda: Project.objects.filter(status="1")),
        ("status=2", lambda: Project.objects.filter(status="2")),
        ("q=cybersecurity", lambda: Project.objects.filter(title_en__icontains="cybersecurity")),
        ("q=ciberseguridad", lambda: Project.objects.filter(title_es__icontains="ciberseguridad")),
        (
            "pillar=P1&agency=DHS",
            lambda: Project.objects.filter(goal__pillar__code="P1", agencies__acronym="DHS"),
        ),
    ],
)
def test_project_filters(get_json, real_plan, query, expected):
    body = get_json(f"/api/v1/projects/?{query}&page_size=100")
    want = sorted(set(expected().values_list("code", flat=True)))
    assert sorted(codes(body)) == want
    assert body["count"] == len(want)


def test_filters_select_something_real(real_plan):
    # Guards the table above against passing only because everything is empty.
    assert Project.objects.filter(agencies__acronym="USAID").exists()
    assert Project.objects.filter(title_en__icontains="cybersecurity").exists()
    assert Project.objects.filter(countries__country="SV").count() == 1


def test_search_requires_every_term(get_json):
    ProjectFactory(code="A-1", title_en="Border trade", description_es="comercio")
    ProjectFactory(code="A-2", title_en="Border health")
    assert codes(get_json("/api/v1/projects/?q=border trade")) == ["A-1"]
    assert codes(get_json("/api/v1/projects/?q=BORDER")) == ["A-1", "A-2"]
    assert codes(get_json("/api/v1/projects/?q=comercio")) == ["A-1"]


def test_goal_agency_and_pillar_filters(get_json, real_plan):
    assert sorted(codes(get_json("/api/v1/goals/?pillar=P3"))) == sorted(
        Goal.objects.filter(pillar__code="P3").values_list("code", flat=True)
    )
    assert {a["country"] for a in get_json("/api/v1/agencies/?country=us")["results"]} == {"US"}
    assert codes(get_json("/api/v1/agencies/?q=USAID")) == ["US-USAID"]
    assert codes(get_json("/api/v1/pillars/?q=prosperidad")) == ["P3"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_updated_since_on_every_list(get_json, resource):
    factory = {
        "pillars": PillarFactory,
        "goals": GoalFactory,
        "agencies": AgencyFactory,
        "projects": ProjectFactory,
        "meetings": MeetingFactory,
        "progress": ProgressReportFactory,
    }[resource]
    old, new = factory(), factory()
    model = RESOURCES[resource]
    long_ago = timezone.now() - timedelta(days=30)
    model.objects.filter(pk=old.pk).update(updated_at=long_ago)
    since = (long_ago + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = get_json(f"/api/v1/{resource}/?updated_since={since}&page_size=100")
    assert new.code in codes(body)
    assert old.code not in codes(body)


def test_ordering(get_json, real_plan):
    ascending = codes(get_json("/api/v1/projects/?ordering=code&page_size=100"))
    assert ascending == sorted(ascending)
    assert codes(get_json("/api/v1/projects/?ordering=-code&page_size=100")) == ascending[::-1]
    assert [p["number"] for p in get_json("/api/v1/pillars/?ordering=-number")["results"]] == [
        4,
        3,
        2,
        1,
    ]


# -- pagination ----------------------------------------------------------------


def test_pagination_walks_every_object_once(get_json, real_plan):
    seen, url = [], "/api/v1/projects/?page_size=4"
    while url:
        body = get_json(url)
        assert len(body["results"]) <= 4
        seen += codes(body)
        url = body["next"]
    assert sorted(seen) == sorted(Project.objects.values_list("code", flat=True))
    assert len(seen) == len(set(seen)) == 11


def test_page_past_the_end_is_404(api, real_plan):
    response = api.get("/api/v1/projects/?page=99")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_default_and_maximum_page_size(get_json, settings):
    ProjectFactory.create_batch(7)
    settings.API_DEFAULT_PAGE_SIZE = 3
    settings.API_MAX_PAGE_SIZE = 5
    assert len(get_json("/api/v1/projects/")["results"]) == 3
    assert len(get_json("/api/v1/projects/?page_size=5")["results"]) == 5
    body = get_json("/api/v1/projects/?page_size=6", status=400)
    assert body["errors"][0]["field"] == "page_size"


# -- field selection -----------------------------------------------------------


def test_fields_selects_top_level_fields(get_json, real_plan):
    body = get_json("/api/v1/projects/?fields=code,title,countries")
    assert all(set(item) == {"code", "title", "countries"} for item in body["results"])
    detail = get_json("/api/v1/agencies/MX-SE/?fields=acronym")
    assert detail == {"acronym": "SE"}


def test_unknown_field_is_refused(get_json, real_plan):
    body = get_json("/api/v1/projects/?fields=code,budgett", status=400)
    assert body["errors"][0]["field"] == "fields"
    assert "budgett" in body["errors"][0]["message"]


def test_lead_agency_is_shown(get_json):
    role = ProjectAgencyRoleFactory(is_lead=True)
    ProjectCountryFactory(project=role.project, country="US")
    body = get_json(f"/api/v1/projects/{role.project.code}/")
    assert body["participating_agencies"][0]["is_lead"] is True
    assert body["countries"] == ["US"]
