"""Bad input gets a clear 4xx problem document that names the parameter; never a 500."""

import pytest

from tests.conftest import assert_problem, client_for

pytestmark = pytest.mark.django_db

LISTS = ["pillars", "goals", "agencies", "projects"]


@pytest.mark.parametrize("resource", LISTS)
def test_unknown_query_parameter_on_list(api, real_plan, resource):
    assert_problem(api.get(f"/api/v1/{resource}/?colour=red"), 400, "colour")


@pytest.mark.parametrize(
    "resource", ["pillars/P1", "goals/P1-G1", "agencies/MX-SE", "projects/HLED-2021-01"]
)
def test_unknown_query_parameter_on_detail(api, real_plan, resource):
    # List-only parameters are unknown to a detail operation.
    assert_problem(api.get(f"/api/v1/{resource}/?page=2"), 400, "page")


def test_every_unknown_parameter_is_named(api, real_plan):
    body = assert_problem(api.get("/api/v1/projects/?foo=1&bar=2&pillar=P1"), 400)
    assert {e["field"] for e in body["errors"]} == {"foo", "bar"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("pillar=P9", "pillar"),
        ("goal=NOPE", "goal"),
        ("agency=XYZ", "agency"),
        ("agency=SE,NOPE", "agency"),
        ("country=ZZ", "country"),
        ("country=Mexico", "country"),
        ("status=9", "status"),
        ("status=implementation", "status"),
        ("updated_since=yesterday", "updated_since"),
        ("updated_since=2021-13-45", "updated_since"),
        ("ordering=title_fr", "ordering"),
        ("ordering=-nope", "ordering"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=-1", "page"),
        ("page_size=0", "page_size"),
        ("page_size=abc", "page_size"),
        ("page_size=1000", "page_size"),
        ("lang=xx", "lang"),
        ("fields=nope", "fields"),
        ("fields=", "fields"),
    ],
)
def test_invalid_values_are_400_naming_the_parameter(api, real_plan, query, field):
    assert_problem(api.get(f"/api/v1/projects/?{query}"), 400, field)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing/",
        "/api/v1/projects/HLED-2021-01/extra/",
        "/api/v1/projects/%00/",
        "/api/v1/projects/bad code/",
        "/api/v2/projects/",
    ],
)
def test_unknown_urls_are_json_404(api, path):
    assert_problem(api.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/projects/HLED-2021-01/"),
        ("put", "/api/v1/projects/"),
        ("patch", "/api/v1/pillars/"),
        ("delete", "/api/v1/agencies/"),
        ("get", "/api/v1/projects/HLED-2021-01/restore/"),
    ],
)
def test_method_not_allowed_is_405(real_plan, admin_user, method, path):
    body = assert_problem(getattr(client_for(admin_user), method)(path, {}, format="json"), 405)
    assert body["code"] == "method_not_allowed"


def test_unacceptable_accept_header_is_406(api, real_plan):
    assert_problem(api.get("/api/v1/projects/", HTTP_ACCEPT="application/xml"), 406)


@pytest.mark.parametrize(
    "query",
    [
        "q=%00",
        "q=" + "a" * 5000,
        "q=%25%5F%27%22%5C",
        "agency=%00",
        "pillar=" + ",".join(["P1"] * 500),
        "updated_since=9999-12-31T23:59:59Z",
        "updated_since=0001-01-01",
        "ordering=code,code,-code",
    ],
)
def test_odd_but_harmless_input_never_500(api, real_plan, query):
    response = api.get(f"/api/v1/projects/?{query}")
    assert response.status_code in (200, 400), response.content[:300]
    assert response["Content-Type"] in ("application/json", "application/problem+json")


def test_null_byte_in_code_is_404(api, real_plan):
    assert api.get("/api/v1/projects/HLED%002021/").status_code == 404


def test_health_endpoint(api, db):
    response = api.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
