"""Every list endpoint runs a fixed number of queries, whatever the page size."""

import pytest

from tests.conftest import make_user, token_headers
from tests.factories import (
    AgencyFactory,
    GoalFactory,
    PillarFactory,
    ProjectAgencyRoleFactory,
    ProjectCountryFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_plan(db):
    """Enough rows that an N+1 would show: 30 of everything, projects fully related."""
    parent = AgencyFactory(country="US", acronym="PARENT")
    for _ in range(30):
        pillar = PillarFactory()
        goal = GoalFactory(pillar=pillar)
        AgencyFactory(parent=parent)
        project = ProjectFactory(goal=goal, budget_amount=10, budget_currency="USD")
        ProjectCountryFactory(project=project, country="MX")
        ProjectCountryFactory(project=project, country="US")
        ProjectAgencyRoleFactory(project=project)
        ProjectAgencyRoleFactory(project=project, agency__country="US")
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
