"""What the server enforces is what the schema says, one rule at a time."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework import serializers
from rest_framework.test import APIClient

from api.base import EMPTY_BY_DESIGN
from api.fields import PlainDecimalField
from api.schema import NOT_BLANK_PATTERN, AutoSchema
from api.v1 import views
from api.v1.urls import router
from tests.conftest import PROBLEM, assert_problem, make_user, token_client
from workplan.choices import Role
from workplan.models import Indicator

# Schema, examples and representation rules: the same on every database (CI runs them once).
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("no_throttling"),
    pytest.mark.backend_independent,
]


def operation(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return schema["paths"][path][method]


def parameter(op: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in op["parameters"] if p["name"] == name)


@pytest.fixture
def admin(real_plan: None) -> APIClient:
    return token_client(make_user("contract-admin", Role.ADMIN))


# -- fields and expand ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource, viewset",
    [
        ("pillars", views.PillarViewSet),
        ("goals", views.GoalViewSet),
        ("agencies", views.AgencyViewSet),
        ("projects", views.ProjectViewSet),
        ("meetings", views.MeetingViewSet),
        ("progress", views.ProgressReportViewSet),
    ],
)
def test_fields_enum_is_the_serializers_field_names(openapi_schema, resource, viewset):
    names = list(viewset.serializer_class().fields)
    for path in (f"/api/v1/{resource}/", f"/api/v1/{resource}/{{code}}/"):
        fields = parameter(operation(openapi_schema, path, "get"), "fields")
        assert fields["schema"]["type"] == "array"
        assert fields["schema"]["items"]["enum"] == names
        assert (fields["style"], fields["explode"]) == ("form", False)


def test_expand_enum_is_the_views_expand_choices(openapi_schema):
    checked = 0
    for prefix, viewset, _basename in router.registry:
        choices = sorted(getattr(viewset, "expand_choices", ()))
        for path in (f"/api/v1/{prefix}/", f"/api/v1/{prefix}/{{code}}/"):
            op = openapi_schema["paths"].get(path, {}).get("get")
            if op is None:
                continue
            expand = [p for p in op["parameters"] if p["name"] == "expand"]
            if not choices:
                assert not expand, path
                continue
            assert expand[0]["schema"]["items"]["enum"] == choices, path
            assert (expand[0]["style"], expand[0]["explode"]) == ("form", False)
            checked += 1
    assert checked


# -- request bodies ------------------------------------------------------------------------


def test_request_bodies_refuse_undeclared_properties(openapi_schema, admin):
    components = openapi_schema["components"]["schemas"]
    assert components["PillarWriteRequest"]["additionalProperties"] is False
    assert components["PatchedProjectWriteRequest"]["additionalProperties"] is False
    response = admin.patch(
        "/api/v1/pillars/P1/", {"colour": "red"}, format="json", HTTP_IF_MATCH="*"
    )
    assert_problem(response, 400, "colour")


def test_bulk_item_count_limits_are_declared_and_enforced(openapi_schema, admin):
    projects = openapi_schema["components"]["schemas"]["ProjectBulkRequest"]["properties"][
        "projects"
    ]
    limit = settings.API_BULK_MAX_ITEMS
    assert (projects["minItems"], projects["maxItems"]) == (1, limit)
    for count in (0, limit + 1):
        items = [{"code": f"HLED-2099-{n:03}", "status": "1"} for n in range(count)]
        response = admin.post("/api/v1/projects/bulk/", {"projects": items}, format="json")
        assert_problem(response, 400, "projects")


def test_if_match_has_a_pattern(openapi_schema):
    op = operation(openapi_schema, "/api/v1/projects/{code}/", "patch")
    assert parameter(op, "If-Match")["schema"]["pattern"].startswith("^")


# -- one rule for empty query values -------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/api/v1/changes/?after=", "/api/v1/projects/?updated_since=", "/api/v1/pillars/?q="],
)
def test_an_empty_query_value_is_refused_everywhere(api, real_plan, url):
    name = url.split("?")[1].rstrip("=")
    assert_problem(api.get(url), 400, name)


def test_the_schema_says_empty_query_values_are_refused(openapi_schema):
    for path_item in openapi_schema["paths"].values():
        for op in path_item.values():
            for p in op.get("parameters", []):
                if p["in"] != "query":
                    continue
                schema = p["schema"]
                if p["name"] in EMPTY_BY_DESIGN:
                    # `cursor=` (empty) asks for the first page: the one empty value that
                    # means something.
                    assert "minLength" not in schema, p
                    continue
                if schema.get("type") == "array":
                    assert schema["minItems"] == 1, p
                elif schema.get("type") == "string":
                    assert schema["minLength"] == 1 or "enum" in schema, p


# -- status codes ----------------------------------------------------------------------------


def test_a_taken_code_is_409_code_taken(admin, openapi_schema):
    body = {"code": "P1", "number": 9, "name_en": "Again", "name_es": "Otra vez"}
    response = admin.post("/api/v1/pillars/", body, format="json")
    problem = assert_problem(response, 409)
    assert problem["code"] == "code_taken"
    assert "409" in operation(openapi_schema, "/api/v1/pillars/", "post")["responses"]


@pytest.mark.parametrize(
    ("body", "problem_code", "taken"),
    [
        # The code and the number are both another pillar's: still a conflict, not bad input.
        (
            {"code": "P1", "number": 1, "name_en": "Again", "name_es": "Otra vez"},
            "code_taken",
            ["code", "number"],
        ),
        # A new code, but the number is P2's.
        (
            {"code": "P9", "number": 2, "name_en": "Again", "name_es": "Otra vez"},
            "taken",
            ["number"],
        ),
    ],
)
def test_any_taken_unique_value_is_409(admin, body, problem_code, taken):
    response = admin.post("/api/v1/pillars/", body, format="json")
    problem = assert_problem(response, 409)
    assert problem["code"] == problem_code
    assert sorted(e["field"] for e in problem["errors"]) == taken
    assert admin.get("/api/v1/pillars/P9/").status_code == 404


def test_a_taken_code_with_bad_input_beside_it_is_400(admin):
    body = {"code": "P1", "number": 1000, "name_en": "Again", "name_es": "Otra vez"}
    problem = assert_problem(admin.post("/api/v1/pillars/", body, format="json"), 400)
    assert {e["field"] for e in problem["errors"]} == {"code", "number"}


@pytest.mark.parametrize("caller", ["anonymous", "admin"])
def test_trace_is_405_with_a_problem(api, admin, caller):
    client = admin if caller == "admin" else api
    response = client.generic("TRACE", "/api/v1/pillars/P1/")
    assert_problem(response, 405)
    assert "GET" in response["Allow"]


@override_settings(DEBUG=True)
@pytest.mark.parametrize(
    "url", ["/api/", "/api/v2/pillars/", "/api/v1/pillars/P1%0A/", "/api/%E2%82%AC%00/x"]
)
def test_an_odd_api_url_is_a_json_404_even_with_debug_on(api, url):
    response = api.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 404


def test_every_operation_declares_the_statuses_every_request_can_get(openapi_schema):
    for path, path_item in openapi_schema["paths"].items():
        for method, op in path_item.items():
            assert {"411", "413", "503"} <= set(op["responses"]), (method, path)


# -- links -----------------------------------------------------------------------------------


def test_a_reads_etag_links_to_the_if_match_of_the_objects_writes(openapi_schema):
    path_item = openapi_schema["paths"]["/api/v1/projects/{code}/"]
    links = path_item["get"]["responses"]["200"]["links"]
    for name, method in (("update", "patch"), ("replace", "put"), ("archive", "delete")):
        assert links[name]["operationId"] == path_item[method]["operationId"]
        assert links[name]["parameters"]["header.If-Match"] == "$response.header.ETag"
        assert links[name]["parameters"]["path.code"] == "$request.path.code"


def test_every_create_links_to_the_created_objects_detail(openapi_schema):
    operation_ids = {
        op["operationId"]: (path, method)
        for path, path_item in openapi_schema["paths"].items()
        for method, op in path_item.items()
    }
    creates = 0
    for path, path_item in openapi_schema["paths"].items():
        create = path_item.get("post")
        detail = openapi_schema["paths"].get(path + "{code}/")
        if create is None or detail is None or "201" not in create["responses"]:
            continue
        read = create["responses"]["201"]["links"]["read"]
        assert operation_ids[read["operationId"]] == (path + "{code}/", "get")
        assert read["parameters"] == {"path.code": "$response.body#/code"}
        creates += 1
    assert creates >= 6


# -- what a value must be, said exactly --------------------------------------------------------


def test_text_that_may_not_be_blank_has_the_pattern_of_what_the_server_trims():
    never_blank = re.compile(NOT_BLANK_PATTERN)
    for point in range(1, 0x3100):  # no whitespace lies beyond U+3000
        char = chr(point)
        assert bool(never_blank.match(char)) == bool(char.strip()), hex(point)
    assert never_blank.match(" a ") and not never_blank.match("a\x00")


@pytest.mark.parametrize("value", ["", "-", ".", "-.", "1.", ".5", "-1.25", "1.234", "1e2", "12"])
def test_a_decimals_pattern_matches_what_the_server_takes(openapi_schema, value):
    field = PlainDecimalField(max_digits=17, decimal_places=2)
    pattern = re.compile(AutoSchema()._map_serializer_field(field, "request")["pattern"])
    try:
        field.run_validation(value)
        taken = True
    except serializers.ValidationError:
        taken = False
    assert bool(pattern.match(value)) == taken


def test_a_budget_amount_may_not_be_negative_and_its_pattern_says_so(openapi_schema, admin):
    budget = openapi_schema["components"]["schemas"]["BudgetWriteRequest"]["properties"]
    assert not re.match(budget["amount"]["pattern"], "-1")
    body = {"budget": {"amount": "-1", "currency": "USD"}}
    response = admin.patch("/api/v1/projects/HLED-2021-01/", body, format="json", HTTP_IF_MATCH="*")
    assert assert_problem(response, 400, "budget.amount")["errors"][0]["code"] == "min_value"


def test_countries_are_unique_items_and_the_server_says_which(openapi_schema, admin):
    request = openapi_schema["components"]["schemas"]["ProjectWriteRequest"]["properties"]
    assert request["countries"]["uniqueItems"] is True
    body = {"countries": ["MX", "US", "MX"]}
    response = admin.patch("/api/v1/projects/HLED-2021-01/", body, format="json", HTTP_IF_MATCH="*")
    error = assert_problem(response, 400, "countries")["errors"][0]
    assert error["message"] == "List each country once."


TITLES = {"title_en": "Measured", "title_es": "Medido"}


@pytest.mark.parametrize("channel", ["periods", "bulk", "progress"])
def test_a_refusal_by_the_plans_rules_has_the_code_rule(admin, channel):
    indicator = Indicator.objects.active().order_by("code").first()
    dates = {"start": "2024-05-01", "end": "2024-01-01"}
    if channel == "periods":
        response = admin.post(
            "/api/v1/periods/", {"indicator": indicator.code, **dates}, format="json"
        )
        field = "end"
    elif channel == "bulk":
        item = {
            "code": indicator.result.project.code,
            "results": [
                {
                    "code": indicator.result.code,
                    **TITLES,
                    "indicators": [{"code": indicator.code, **TITLES, "periods": [dates]}],
                }
            ],
        }
        response = admin.post("/api/v1/projects/bulk/", {"projects": [item]}, format="json")
        field = "projects.0.results.0.indicators.0.periods.0.end"
    else:
        body = {
            "project": "HLED-2021-01",
            "date": "2024-06-01",
            "narrative_en": "Progress",
            "narrative_es": "Avance",
            "source": {"kind": "entered", "title": "A note"},
            "period": dates,
        }
        response = admin.post("/api/v1/progress/", body, format="json")
        field = "period.end"
    errors = assert_problem(response, 400)["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, "rule")]


def test_a_value_the_schema_refuses_keeps_its_own_code(admin):
    indicator = Indicator.objects.active().order_by("code").first()
    body = {"indicator": indicator.code, "start": "2024-13-01"}
    errors = assert_problem(admin.post("/api/v1/periods/", body, format="json"), 400)["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("start", "invalid")]
