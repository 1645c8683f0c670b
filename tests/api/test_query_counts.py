"""Every list endpoint runs a fixed number of queries, whatever the page size."""

import pytest

from tests.conftest import make_user, parsed, token_headers
from tests.factories import (
    AgencyFactory,
    GoalFactory,
    IndicatorFactory,
    IndicatorPeriodFactory,
    MeetingChairFactory,
    MeetingFactory,
    MeetingProjectFactory,
    MeetingSourceFactory,
    PillarFactory,
    ProgressReportFactory,
    ProjectAgencyRoleFactory,
    ProjectCountryFactory,
    ProjectFactory,
    ResultFactory,
)
from workplan.models import ProgressReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_plan(db):
    """Enough rows that an N+1 would show: 30 of everything, projects fully related; every
    agency a project lists has a parent, which has a parent of its own."""
    parent = AgencyFactory(country="US", acronym="PARENT", parent=AgencyFactory(country="US"))
    for _ in range(30):
        pillar = PillarFactory()
        goal = GoalFactory(pillar=pillar)
        AgencyFactory(parent=parent)
        project = ProjectFactory(goal=goal, budget_amount=10, budget_currency="USD")
        ProjectCountryFactory(project=project, country="MX")
        ProjectCountryFactory(project=project, country="US")
        ProjectAgencyRoleFactory(project=project, agency__parent=parent)
        ProjectAgencyRoleFactory(project=project, agency__country="US", agency__parent=parent)
        project.links.create(url=f"https://example.org/{project.code}", label_en="a", label_es="b")


# count + page + prefetches: pillars (goals); goals (pillar joined);
# agencies (parent joined); projects (roles with agency, countries, links).
PINNED = {"pillars": 3, "goals": 2, "agencies": 2, "projects": 5}


@pytest.mark.parametrize("resource", PINNED)
@pytest.mark.parametrize("page_size", [1, 10, 30])
def test_list_query_count_is_pinned(api, big_plan, django_assert_num_queries, resource, page_size):
    with django_assert_num_queries(PINNED[resource]):
        response = api.get(f"/api/v1/{resource}/?page_size={page_size}&lang=all")
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


def test_filters_add_a_fixed_number_of_queries(api, big_plan, django_assert_num_queries):
    # Each code filter resolves all its values in one query.
    codes = ",".join(
        ProjectFactory._meta.model.objects.values_list("goal__pillar__code", flat=True)[:5]
    )
    with django_assert_num_queries(PINNED["projects"] + 1):
        response = api.get(f"/api/v1/projects/?pillar={codes}&page_size=30")
    assert response.json()["count"] == 5


@pytest.mark.parametrize("resource", PINNED)
@pytest.mark.parametrize("page_size", [1, 30])
def test_token_authenticated_list_adds_only_the_token_lookup(
    api, big_plan, django_assert_num_queries, resource, page_size
):
    from workplan.choices import Role
    from workplan.models import Agency

    api.credentials(**token_headers(make_user("partner", Role.EDITOR, Agency.objects.first())))
    api.get("/api/v1/pillars/?page_size=1")  # first use stamps last_used_at
    # One query finds the token with its user, membership and agency.
    with django_assert_num_queries(PINNED[resource] + 1):
        response = api.get(f"/api/v1/{resource}/?page_size={page_size}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


@pytest.fixture
def follow_through(db):
    """50 meetings (chairs of both countries, a source, a project) and 50 progress reports
    on one published project of MX-SE, with a meeting each: a page of 50 shows any N+1."""
    se = AgencyFactory(country="MX", acronym="SE", code="MX-SE")
    doc = AgencyFactory(country="US", acronym="DOC", code="US-DOC", parent=AgencyFactory())
    project = ProjectFactory(code="HLED-2021-01")
    ProjectAgencyRoleFactory(project=project, agency=se)
    for _ in range(50):
        meeting = MeetingFactory()
        MeetingChairFactory(meeting=meeting, agency=se)
        MeetingChairFactory(meeting=meeting, agency=doc)
        MeetingSourceFactory(meeting=meeting)
        MeetingProjectFactory(meeting=meeting, project=project)
        ProgressReportFactory(
            project=project, meeting=meeting, indicator_en="Trained", indicator_es="Capacitados"
        )
        ProgressReportFactory(project=None, goal=project.goal, period_start="2030-01-01")
    assert ProgressReport.objects.count() == 100


# meetings: count + page + prefetches (chairs with agency, sources, public project links
# with project); progress: count + page (project, goals, pillars and meeting joined);
# a project's progress: + the project it is under.
FOLLOW_THROUGH_PINNED = {
    "meetings": 5,
    "progress": 2,
    "projects/HLED-2021-01/progress": 3,
}


@pytest.mark.parametrize("resource", FOLLOW_THROUGH_PINNED)
@pytest.mark.parametrize("page_size", [1, 50])
@pytest.mark.parametrize("lang", ["en", "all"])
def test_follow_through_lists_query_count_is_pinned(
    api, follow_through, django_assert_num_queries, resource, page_size, lang
):
    with django_assert_num_queries(FOLLOW_THROUGH_PINNED[resource]):
        response = api.get(f"/api/v1/{resource}/?page_size={page_size}&lang={lang}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("page_size", [1, 50])
def test_follow_through_filters_add_one_query_each(
    api, follow_through, django_assert_num_queries, page_size
):
    pillar = ProgressReport.objects.filter(project__isnull=False)[0].project.goal.pillar.code
    with django_assert_num_queries(FOLLOW_THROUGH_PINNED["progress"] + 2):
        response = api.get(f"/api/v1/progress/?page_size={page_size}&agency=SE&pillar={pillar}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size
    with django_assert_num_queries(FOLLOW_THROUGH_PINNED["meetings"] + 1):
        response = api.get(f"/api/v1/meetings/?page_size={page_size}&agency=DOC&country=MX")
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("page_size", [1, 50])
def test_whole_plan_query_count_does_not_grow_with_follow_through(
    api, follow_through, django_assert_num_queries, page_size
):
    # the ETag's aggregates (one query) + pillars (+goals) + projects (+3 per batch of a
    # thousand) + agencies + meetings (+3) + progress + results (none: nothing to prefetch
    # under them); the body is streamed, so its queries run as it is read.
    with django_assert_num_queries(14):
        response = api.get("/api/v1/plan/")
        body = parsed(response)
    assert response.status_code == 200
    assert len(body["progress"]) == 100


# by pillar, goal, agency, country and status; latest progress per pillar (one windowed
# query); facts: reports by source kind, participations by source; indicators grouped by
# target and met (one query).
SUMMARY_QUERIES = 9


@pytest.mark.parametrize("fixture", ["big_plan", "follow_through"])
def test_summary_query_count_is_pinned(request, api, django_assert_num_queries, fixture):
    request.getfixturevalue(fixture)
    with django_assert_num_queries(SUMMARY_QUERIES):
        response = api.get("/api/v1/summary/?lang=all")
    assert response.status_code == 200
    # A code filter resolves its values in one query (a status needs none).
    pillar = response.json()["projects"]["by_pillar"][0]["code"]
    for query in (f"pillar={pillar}", f"pillar={pillar}&status=1,2"):
        with django_assert_num_queries(SUMMARY_QUERIES + 1):
            response = api.get(f"/api/v1/summary/?{query}")
        assert response.status_code == 200


# Each expansion adds at most its own prefetches: projects' goal (already joined) none;
# pillar its goals; agencies their parents. A goal's pillar adds the pillar's goals; an
# agency's parent adds the parent (and its parent).
EXPANDED_PINNED = {
    ("projects", "goal"): PINNED["projects"],
    ("projects", "pillar"): PINNED["projects"] + 1,
    ("projects", "agencies"): PINNED["projects"] + 1,
    ("projects", "labels,goal,pillar,agencies"): PINNED["projects"] + 2,
    ("goals", "pillar"): PINNED["goals"] + 1,
    ("agencies", "labels,parent"): PINNED["agencies"] + 1,
}


@pytest.mark.parametrize(("resource", "expand"), EXPANDED_PINNED)
@pytest.mark.parametrize("page_size", [1, 10, 30])
def test_expanded_list_query_count_is_pinned(
    api, big_plan, django_assert_num_queries, resource, expand, page_size
):
    with django_assert_num_queries(EXPANDED_PINNED[resource, expand]):
        response = api.get(f"/api/v1/{resource}/?page_size={page_size}&expand={expand}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


# Meetings' chairing agencies add their parents; a report's project adds the project's
# roles (with agencies), countries and links.
FOLLOW_THROUGH_EXPANDED = {
    ("meetings", "agencies"): FOLLOW_THROUGH_PINNED["meetings"] + 1,
    ("progress", "labels,project"): FOLLOW_THROUGH_PINNED["progress"] + 3,
}


@pytest.mark.parametrize(("resource", "expand"), FOLLOW_THROUGH_EXPANDED)
@pytest.mark.parametrize("page_size", [1, 50])
def test_follow_through_expanded_query_count_is_pinned(
    api, follow_through, django_assert_num_queries, resource, expand, page_size
):
    with django_assert_num_queries(FOLLOW_THROUGH_EXPANDED[resource, expand]):
        response = api.get(f"/api/v1/{resource}/?page_size={page_size}&expand={expand}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


@pytest.fixture
def results_framework(db):
    """50 results on one published project of MX-SE, each with two indicators of two
    periods each: a page of 50 shows any N+1."""
    se = AgencyFactory(country="MX", acronym="SE", code="MX-SE")
    project = ProjectFactory(code="HLED-2021-01", is_published=True)
    ProjectAgencyRoleFactory(project=project, agency=se)
    for _ in range(50):
        result = ResultFactory(project=project)
        for _ in range(2):
            indicator = IndicatorFactory(result=result)
            IndicatorPeriodFactory(indicator=indicator)
            IndicatorPeriodFactory(indicator=indicator, target_value=None)


# results: count + page (project joined) + indicators + their periods; a project's
# results: + the project it is under; indicators: count + page + periods; periods:
# count + page (indicator joined).
RESULTS_PINNED = {
    "results": 4,
    "projects/HLED-2021-01/results": 5,
    "indicators": 3,
    "periods": 2,
}


@pytest.mark.parametrize("resource", RESULTS_PINNED)
@pytest.mark.parametrize("page_size", [1, 50])
@pytest.mark.parametrize("lang", ["en", "all"])
def test_results_lists_query_count_is_pinned(
    api, results_framework, django_assert_num_queries, resource, page_size, lang
):
    with django_assert_num_queries(RESULTS_PINNED[resource]):
        response = api.get(f"/api/v1/{resource}/?page_size={page_size}&lang={lang}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("resource", [*PINNED, *FOLLOW_THROUGH_PINNED])
@pytest.mark.parametrize("page_size", [1, 30])
def test_brief_lists_are_a_count_and_a_page(
    api, big_plan, follow_through, django_assert_num_queries, resource, page_size
):
    with django_assert_num_queries(2 if "/" not in resource else 3):
        response = api.get(f"/api/v1/{resource}/?page_size={page_size}&brief=true&lang=all")
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("page_size", [1, 50])
def test_results_filters_add_one_query_each(
    api, results_framework, django_assert_num_queries, page_size
):
    with django_assert_num_queries(RESULTS_PINNED["periods"] + 2):
        response = api.get(f"/api/v1/periods/?page_size={page_size}&agency=SE&project=HLED-2021-01")
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("page_size", [1, 50])
def test_whole_plan_query_count_does_not_grow_with_results(
    api, results_framework, django_assert_num_queries, page_size
):
    # projects (+3) + pillars (+goals) + agencies + meetings + progress + results (+
    # indicators + periods); no meetings: nothing to prefetch under them
    with django_assert_num_queries(13):
        response = api.get("/api/v1/plan/")
        results = parsed(response)["results"]
    assert response.status_code == 200
    assert len(results) == 50
    assert {len(r["indicators"]) for r in results} == {2}
