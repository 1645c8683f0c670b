"""The OpenAPI document: valid, warning-free, served with its docs, usable by generated clients."""

import io
import json

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_generates_with_no_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    # --fail-on-warn turns any warning into an error; --validate checks against the OpenAPI spec.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=io.StringIO()
    )
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")


@pytest.fixture
def schema(api):
    response = api.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_served_as_yaml_by_default(api):
    response = api.get("/api/v1/schema/")
    assert response.status_code == 200
    assert yaml.safe_load(response.content)["info"]["title"]


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
    from tests.factories import ProjectFactory

    project = ProjectFactory(budget_amount="10.00", budget_currency="MXN")
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


def test_the_committed_v1_contract_matches_the_code(tmp_path):
    """Inside a version, changes are additive and deliberate: regenerate with `make schema`
    and review the diff of api/v1/openapi.yaml when this fails."""
    from pathlib import Path

    out = tmp_path / "v1.yaml"
    call_command("spectacular", "--api-version", "v1", "--file", str(out), stdout=io.StringIO())
    committed = Path(__file__).resolve().parents[2] / "api" / "v1" / "openapi.yaml"
    assert yaml.safe_load(out.read_text()) == yaml.safe_load(committed.read_text())
