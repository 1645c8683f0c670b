"""The OpenAPI document: valid, warning-free, served with its docs, usable by generated clients."""

import json

import pytest
import yaml

from tests.conftest import ROOT

# Schema, examples and representation rules: the same on every database (CI runs them once).
pytestmark = [pytest.mark.django_db, pytest.mark.backend_independent]


@pytest.fixture
def schema(openapi_schema):
    return openapi_schema


def test_schema_generates_with_no_warnings_and_validates(schema):
    # The session fixture generates it with --validate and --fail-on-warn: any warning fails.
    assert schema["openapi"] == "3.1.0"
    assert schema["info"]["version"] == "1.0.0"  # a valid version: generated clients install
    assert len(schema["paths"]) >= 20


def test_schema_served_as_yaml_by_default(api, schema):
    response = api.get("/api/v1/schema/")
    assert response.status_code == 200
    assert yaml.safe_load(response.content) == schema


def test_schema_served_as_json_on_request(api, schema):
    response = api.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    assert json.loads(response.content) == schema


EXPECTED_ERRORS = {
    "get": {"400", "401", "404", "406", "429"},
    "post": {"400", "401", "403", "406", "409", "429"},
    "put": {"400", "401", "403", "404", "409", "413", "415", "429"},
    "patch": {"400", "401", "403", "404", "409", "413", "415", "429"},
    "delete": {"401", "403", "404", "409", "429"},
}
RESOURCES = ("pillars", "goals", "agencies", "projects")


def _operations(schema):
    return [
        (path, method, op) for path, item in schema["paths"].items() for method, op in item.items()
    ]


def _is_resource_operation(path: str) -> bool:
    parts = path.strip("/").split("/")  # api, v1, resource[, code[, action]]
    return parts[2] in RESOURCES and not (len(parts) > 3 and parts[3] in ("bulk", "export"))


def test_every_operation_is_documented(schema):
    operations = _operations(schema)
    assert len(operations) >= 40
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        assert op.get("description"), where
        assert op.get("operationId"), where
        assert len(op.get("tags", [])) == 1, where
        assert EXPECTED_ERRORS[method] <= set(op["responses"]), (where, set(op["responses"]))
        for status, response in op["responses"].items():
            assert response["description"], (where, status)
            if status.startswith(("4", "5")):
                content = response["content"]
                assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
        for p in op.get("parameters", []):
            assert p.get("description") or p["in"] == "path", (where, p["name"])


def test_resource_operations_document_language_conditions_and_success(schema):
    for path, method, op in _operations(schema):
        if not _is_resource_operation(path):
            continue
        where = f"{method.upper()} {path}"
        success = {"get": "200", "put": "200", "patch": "200", "delete": "204"}.get(method)
        if method == "post":
            success = "200" if path.endswith("/restore/") else "201"
        assert success in op["responses"], (where, success)
        params = {p["name"] for p in op.get("parameters", [])}
        assert {"lang", "fields", "Accept-Language"} <= params, where
        if method in ("put", "patch", "delete"):
            assert "If-Match" in params, where
            assert {"412", "428"} <= set(op["responses"]), where
        if method == "get" and "{code}" in path:
            assert "304" in op["responses"] and "If-None-Match" in params, where


def test_writes_declare_security_and_examples(schema):
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, method, op in _operations(schema):
        security = op.get("security", [])
        assert {"bearerAuth": []} in security, (method, path)
        # Reads are open to anonymous callers (except webhook administration); writes are not.
        anonymous = method == "get" and "/webhooks/" not in path
        assert ({} in security) == anonymous, (method, path)
        if method in ("post", "put", "patch") and _is_resource_operation(path):
            if path.endswith("/restore/"):
                continue
            body = op["requestBody"]["content"]["application/json"]
            assert body.get("examples"), (method, path)
            assert body["schema"]["$ref"].split("/")[-1].endswith("WriteRequest")


def test_webhook_payload_and_headers_are_documented(schema):
    hook = schema["webhooks"]["planChanged"]["post"]
    headers = {p["name"] for p in hook["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    ref = hook["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    payload = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(payload["properties"]) == {"type", "timestamp", "data"}


def test_operation_ids_are_unique_and_stable(schema):
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert {"projects_list", "projects_retrieve", "pillars_list", "agencies_retrieve"} <= set(ids)


def test_list_parameters_match_what_the_api_accepts(schema):
    params = {p["name"] for p in schema["paths"]["/api/v1/projects/"]["get"]["parameters"]}
    assert {
        "pillar",
        "goal",
        "agency",
        "country",
        "status",
        "updated_since",
        "q",
        "ordering",
        "page",
        "page_size",
    } <= params
    page_size = next(
        p
        for p in schema["paths"]["/api/v1/projects/"]["get"]["parameters"]
        if p["name"] == "page_size"
    )
    assert page_size["schema"]["maximum"] == 100


def _validate(schema, component, instance):
    """Validate a real response against a component, as a generated client would parse it."""
    import jsonschema

    root = {"components": schema["components"], **schema["components"]["schemas"][component]}

    # OpenAPI 3.0 `nullable` is not JSON Schema: translate it for the validator.
    def fix(node):
        if isinstance(node, dict):
            if node.get("nullable"):
                node = {
                    "anyOf": [{k: v for k, v in node.items() if k != "nullable"}, {"type": "null"}]
                }
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    jsonschema.Draft202012Validator(fix(root)).validate(instance)


@pytest.mark.parametrize(
    ("url", "component"),
    [
        ("/api/v1/projects/?page_size=100", "PaginatedProjectList"),
        ("/api/v1/projects/?page_size=100&lang=all", "PaginatedProjectList"),
        ("/api/v1/pillars/", "PaginatedPillarList"),
        ("/api/v1/goals/?lang=es", "PaginatedGoalList"),
        ("/api/v1/agencies/", "PaginatedAgencyList"),
        ("/api/v1/projects/HLED-2021-05/", "Project"),
        ("/api/v1/agencies/MX-EMBAMEX/", "Agency"),
        ("/api/v1/projects/NOPE/", "Problem"),
        ("/api/v1/projects/?colour=red", "Problem"),
    ],
)
def test_real_responses_match_the_schema(api, schema, real_plan, url, component):
    _validate(schema, component, api.get(url).json())


def test_project_with_budget_matches_the_schema(api, schema):
    from tests.factories import ProjectFactory, ProjectLinkFactory

    project = ProjectFactory(budget_amount="10.00", budget_currency="MXN")
    ProjectLinkFactory(project=project)
    _validate(schema, "Project", api.get(f"/api/v1/projects/{project.code}/").json())


def test_docs_and_assets_are_served_locally(api, settings):
    for path in ("/api/v1/docs/", "/api/v1/redoc/"):
        response = api.get(path)
        assert response.status_code == 200
        html = response.content.decode()
        assert "/api/v1/schema/" in html
        # Assets come from the app itself (drf-spectacular-sidecar), not a CDN.
        assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
        assert "/static/drf_spectacular_sidecar/" in html


def test_the_committed_v1_contract_matches_the_code(schema):
    """Inside a version, changes are additive and deliberate: regenerate with `make schema`
    and review the diff of api/v1/openapi.yaml when this fails."""
    committed = ROOT / "api" / "v1" / "openapi.yaml"
    assert schema == yaml.safe_load(committed.read_text(encoding="utf-8"))
