"""The bench's baselines answer byte for byte as the real project list and detail.

This keeps the measuring instrument honest: if the API's representation changes, the
baselines must follow, or the bench would compare different work. Two tests only, to
stay cheap in the suite.
"""

import pytest

from bench.seed import PREFIX, seed_projects
from workplan.models import Project

pytestmark = [pytest.mark.django_db, pytest.mark.urls("bench.urls")]


@pytest.fixture
def plan(real_plan):
    """The real plan and 60 synthetic projects: two pages, budgets, links, lead agencies."""
    assert seed_projects(60)
    assert not seed_projects(60)  # already there: not seeded again


def test_list_baselines_give_the_real_lists_bytes(api, plan):
    synthetic = Project.objects.filter(code__startswith=f"{PREFIX}-", is_published=True)
    assert synthetic.count() == 60
    for project in synthetic.prefetch_related("agency_roles", "countries", "links"):
        assert 2 <= len(project.agency_roles.all()) <= 3
        assert 1 <= len(project.countries.all()) <= 2
        assert len(project.links.all()) <= 2
        leads = [role.country for role in project.agency_roles.all() if role.is_lead]
        assert len(leads) == len(set(leads))
    for query in ("", "?page=2", "?page_size=7&page=3"):
        real = api.get(f"/api/v1/projects/{query}")
        assert real.status_code == 200
        assert real.json()["count"] == 71
        for baseline in ("/bench/raw/projects/", "/bench/drf/projects/"):
            assert api.get(f"{baseline}{query}").content == real.content, (baseline, query)


def test_detail_baseline_gives_the_real_details_bytes_and_etag(api, plan):
    code = Project.objects.exclude(budget_amount=None).exclude(links=None).first().code
    real = api.get(f"/api/v1/projects/{code}/")
    raw = api.get(f"/bench/raw/projects/{code}/")
    assert raw.status_code == real.status_code == 200
    assert raw.content == real.content
    # The baseline tags its answer its own (cheapest) way; it honours its own tag.
    not_modified = api.get(f"/bench/raw/projects/{code}/", HTTP_IF_NONE_MATCH=raw["ETag"])
    assert not_modified.status_code == 304
