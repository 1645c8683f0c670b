"""What the server enforces is what the schema says, one rule at a time."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from api.base import EMPTY_BY_DESIGN
from api.v1 import views
from api.v1.urls import router
from tests.conftest import PROBLEM, assert_problem, make_user, token_client
from workplan.choices import Role

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
