"""Page numbers without a count on every page, and keyset cursors on every list."""

from datetime import date, timedelta

import pytest
from django.db.models import F

from tests.conftest import assert_problem
from tests.factories import ProjectFactory
from workplan.models import Project

pytestmark = pytest.mark.django_db


def codes(body: dict) -> list[str]:
    return [item["code"] for item in body["results"]]


@pytest.fixture
def projects(db):
    """Thirteen projects, some sharing a planned start, some without one."""
    start = date(2024, 1, 1)
    for number in range(13):
        planned = None if number % 4 == 0 else start + timedelta(days=number % 3)
        ProjectFactory(planned_start=planned)


def walk(get_json, url: str, key: str = "next") -> list[dict]:
    pages = []
    while url:
        body = get_json(url)
        assert "count" not in body
        pages.append(body)
        url = body[key]
    return pages


# -- page numbers -----------------------------------------------------------------------


def test_count_is_exact_on_the_first_page_and_on_request(get_json, projects):
    total = Project.objects.count()
    assert get_json("/api/v1/projects/?page_size=5")["count"] == total
    second = get_json("/api/v1/projects/?page_size=5&page=2")
    assert second["count"] == total
    assert len(second["results"]) == 5
    assert second["next"].endswith("page=3&page_size=5") or "page=3" in second["next"]
    counted = get_json("/api/v1/projects/?page_size=5&page=3&count=true")
    assert counted["count"] == total
    assert counted["next"] is None
    assert len(counted["results"]) == total - 10
    # With a filter, the count is the filtered list's.
    goal = Project.objects.first().goal
    assert get_json(f"/api/v1/projects/?goal={goal.code}")["count"] == (
        Project.objects.filter(goal=goal).count()
    )


def test_pages_without_count_link_exactly_to_the_last_one(get_json, projects):
    total = Project.objects.count()
    seen, url = [], "/api/v1/projects/?page_size=4"
    while url:
        body = get_json(url)
        seen += codes(body)
        url = body["next"]
    assert len(seen) == len(set(seen)) == total
    assert get_json("/api/v1/projects/?page_size=13")["next"] is None


def test_later_pages_take_the_count_of_the_first(api, projects, django_assert_num_queries):
    assert api.get("/api/v1/projects/?page_size=5").json()["count"] == 13
    # A project added since: page 2 gives the count page 1 took (no COUNT(*): page +
    # prefetches of roles with agency, countries, links); page 1 and count=true count anew.
    ProjectFactory()
    with django_assert_num_queries(4):
        assert api.get("/api/v1/projects/?page=2&page_size=5").json()["count"] == 13
    assert api.get("/api/v1/projects/?page=2&page_size=5&count=true").json()["count"] == 14
    assert api.get("/api/v1/projects/?page=2&page_size=5").json()["count"] == 14
    assert api.get("/api/v1/projects/?page_size=5").json()["count"] == 14


def test_cached_counts_are_per_filter_and_per_caller(api, projects):
    from tests.conftest import make_user, token_client
    from workplan.choices import Role

    goal = Project.objects.first().goal
    hidden = ProjectFactory(goal=goal, is_published=False)
    admin = token_client(make_user("count-admin", Role.ADMIN))
    mine = Project.objects.filter(goal=goal)
    assert api.get(f"/api/v1/projects/?goal={goal.code}").json()["count"] == mine.count() - 1
    assert admin.get(f"/api/v1/projects/?goal={goal.code}").json()["count"] == mine.count()
    # Later pages of each take each one's own count, not the other's or the unfiltered one.
    assert api.get("/api/v1/projects/?page_size=1").json()["count"] == 13
    assert (
        admin.get(f"/api/v1/projects/?goal={goal.code}&page_size=1&page=2").json()["count"]
        == mine.count()
    )
    assert hidden.pk


def test_bad_count_is_refused(api, projects):
    assert_problem(api.get("/api/v1/projects/?count=yes"), 400, "count")


# -- cursors ----------------------------------------------------------------------------


ORDERS = {
    "": [F("code").asc()],
    "&ordering=-code": [F("code").desc()],
    # Ties broken by the key; no planned start sorts last going forwards.
    "&ordering=planned_start": [F("planned_start").asc(nulls_last=True), F("pk").asc()],
    "&ordering=-planned_start": [F("planned_start").desc(nulls_first=True), F("pk").asc()],
}


@pytest.mark.parametrize("ordering", ORDERS)
def test_cursor_walks_every_object_once_both_ways(get_json, projects, ordering):
    expected = list(Project.objects.order_by(*ORDERS[ordering]).values_list("code", flat=True))
    pages = walk(get_json, f"/api/v1/projects/?cursor=&page_size=3{ordering}")
    assert [code for page in pages for code in codes(page)] == expected
    assert pages[0]["previous"] is None
    assert pages[-1]["next"] is None
    assert all(len(page["results"]) == 3 for page in pages[:-1])
    # Back from the last page to the first, by `previous`.
    back = walk(get_json, pages[-1]["previous"], "previous")
    assert [code for page in reversed(back) for code in codes(page)] == expected[
        : -len(pages[-1]["results"])
    ]


def test_cursor_neither_skips_nor_repeats_when_rows_change(get_json, projects):
    first = get_json("/api/v1/projects/?cursor=&page_size=5")
    # A project sorting before the position appears; one after it goes.
    ProjectFactory(code="AAA-0001")
    gone = Project.objects.exclude(code__in=codes(first)).order_by("code").last()
    gone.delete()
    rest = walk(get_json, first["next"])
    later = [code for page in rest for code in codes(page)]
    expected = list(
        Project.objects.filter(code__gt=codes(first)[-1])
        .order_by("code")
        .values_list("code", flat=True)
    )
    assert later == expected


def test_cursor_works_on_every_list(get_json, real_plan):
    for resource in ("pillars", "goals", "agencies", "meetings", "progress"):
        everything = get_json(f"/api/v1/{resource}/?page_size=100")
        pages = walk(get_json, f"/api/v1/{resource}/?cursor=&page_size=2")
        assert [c for page in pages for c in codes(page)] == codes(everything), resource


def test_cursor_list_runs_no_count(api, projects, django_assert_num_queries):
    with django_assert_num_queries(4):
        first = api.get("/api/v1/projects/?cursor=&page_size=5").json()
    with django_assert_num_queries(4):
        assert api.get(first["next"]).status_code == 200


@pytest.mark.parametrize(
    "cursor",
    ["%%%", "bm90IGpzb24", "eyJvIjpbImNvZGUiXX0", "e30", "WzFd"],
)
def test_bad_cursor_is_a_400(api, projects, cursor):
    assert_problem(api.get(f"/api/v1/projects/?cursor={cursor}"), 400, "cursor")


def test_cursor_with_a_value_of_the_wrong_kind_is_a_400(api, get_json, projects):
    import base64
    import json

    body = {"o": ["planned_start", "pk"], "p": ["not a date", 1], "b": False}
    raw = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    response = api.get(f"/api/v1/projects/?ordering=planned_start&cursor={raw}")
    assert_problem(response, 400, "cursor")


def test_cursor_of_another_ordering_is_a_400(api, get_json, projects):
    next_link = get_json("/api/v1/projects/?cursor=&page_size=2")["next"]
    response = api.get(next_link + "&ordering=-code")
    assert_problem(response, 400, "cursor")


def test_cursor_with_page_or_count_is_a_400(api, projects):
    assert_problem(api.get("/api/v1/projects/?cursor=&page=2"), 400, "cursor")
    assert_problem(api.get("/api/v1/projects/?cursor=&count=true"), 400, "count")


def test_cursor_refuses_a_search_ranked_by_relevance(api, get_json, projects):
    assert_problem(api.get("/api/v1/projects/?cursor=&q=project"), 400, "cursor")
    # With an ordering, search results walk by cursor.
    response = api.get("/api/v1/projects/?cursor=&q=project&ordering=code")
    assert response.status_code == 200


def test_cursor_page_size_is_capped(api, projects, settings):
    settings.API_MAX_PAGE_SIZE = 5
    assert_problem(api.get("/api/v1/projects/?cursor=&page_size=6"), 400, "page_size")
