"""The OpenAPI document's examples and overview: real, complete, valid, and up to date.

Every example is checked against the schema it illustrates, so none can drift from the
contract; the examples themselves are rendered again from the real plan and compared with
the committed api/v1/examples.json.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from api.examples import EXAMPLES_PATH, dump_examples, render_examples
from api.overview import PROBLEM_CODES, TAGS

# Schema, examples and representation rules: the same on every database (CI runs them once).
pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "api" / "v1" / "openapi.yaml"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return yaml.safe_load(COMMITTED.read_text())


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


# -- every example is valid against its own schema ---------------------------------------


def _examples(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example value) for every example anywhere in the document: media
    types of requests, responses and webhooks, headers, parameters and schema objects."""

    def media(where: str, content: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
        for media_type, item in content.items():
            if "example" in item:
                yield f"{where} {media_type}", item["schema"], item["example"]
            for name, example in item.get("examples", {}).items():
                yield f"{where} {media_type} {name}", item["schema"], example["value"]

    def with_schema(where: str, obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
        if "example" in obj:
            yield where, obj["schema"], obj["example"]
        for name, example in obj.get("examples", {}).items():
            yield f"{where} {name}", obj["schema"], example["value"]

    def operation(where: str, op: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
        for param in op.get("parameters", []):
            yield from with_schema(f"{where} parameter {param['name']}", param)
        yield from media(f"{where} request", op.get("requestBody", {}).get("content", {}))
        for status, response in op.get("responses", {}).items():
            yield from media(f"{where} {status}", response.get("content", {}))
            for name, header in response.get("headers", {}).items():
                yield from with_schema(f"{where} {status} header {name}", header)

    for section in ("paths", "webhooks"):
        for path, item in document.get(section, {}).items():
            for method, op in item.items():
                yield from operation(f"{method.upper()} {path}", op)

    def schemas(where: str, node: Any) -> Iterator[tuple[str, dict[str, Any], Any]]:
        if isinstance(node, dict):
            if "example" in node and isinstance(node.get("type"), str | list):
                yield where, node, node["example"]
            if isinstance(node.get("examples"), list) and "type" in node:
                for index, value in enumerate(node["examples"]):
                    yield f"{where} examples[{index}]", node, value
            for key, child in node.items():
                yield from schemas(f"{where}.{key}", child)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                yield from schemas(f"{where}[{index}]", child)

    yield from schemas("components.schemas", document.get("components", {}).get("schemas", {}))


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    root = {"components": document.get("components", {}), **schema}
    return jsonschema.Draft202012Validator(
        root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _errors(document: dict[str, Any]) -> list[str]:
    found = []
    for where, schema, value in _examples(document):
        for error in _validator(document, schema).iter_errors(value):
            found.append(f"{where}: {error.json_path}: {error.message[:200]}")
    return found


def test_every_example_is_valid_against_its_own_schema(schema):
    count = sum(1 for _ in _examples(schema))
    assert count > 400, count
    assert _errors(schema) == []


def test_the_example_check_catches_an_example_that_drifts(schema):
    broken = copy.deepcopy(schema)
    patch = broken["paths"]["/api/v1/projects/{code}/"]["patch"]
    patch["requestBody"]["content"]["application/json"]["examples"]["example"]["value"] = {
        "status": "9"
    }
    get = broken["paths"]["/api/v1/projects/{code}/"]["get"]
    get["responses"]["200"]["content"]["application/json"]["examples"]["example"]["value"][
        "goal"
    ] = 123
    errors = _errors(broken)
    assert any("PATCH /api/v1/projects/{code}/ request" in e for e in errors), errors
    # Neither a whole project (no goal) nor a brief one (more than its fields).
    assert any("GET /api/v1/projects/{code}/ 200" in e for e in errors), errors


# -- the examples are complete and real ---------------------------------------------------


def test_every_operation_has_an_example_for_each_response_it_declares(schema):
    for path, method, op in _operations(schema):
        where = f"{method.upper()} {path}"
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert body.get("examples"), where
        for status, response in op["responses"].items():
            for media_type, content in response.get("content", {}).items():
                examples = content.get("examples", {})
                # One each; a success may show further representations (brief, expanded).
                assert len(examples) == 1 or status.startswith("2") and examples, (
                    where,
                    status,
                    media_type,
                )
                for example in examples.values():
                    assert example["summary"] and example["value"] not in (None, "", {}), (
                        where,
                        status,
                    )
                    if status.startswith("4"):
                        assert example["value"]["status"] == int(status), (where, status)


def test_problem_examples_use_documented_codes(schema):
    seen = set()
    for path, method, op in _operations(schema):
        for status, response in op["responses"].items():
            content = response.get("content", {}).get("application/problem+json")
            if content is None:
                continue
            for example in content["examples"].values():
                code = example["value"]["code"]
                assert code in PROBLEM_CODES, (method, path, status, code)
                assert PROBLEM_CODES[code][0] == int(status), (method, path, status, code)
                seen.add(code)
    assert {"invalid", "invalid_query", "not_found", "precondition_failed", "conflict"} <= seen


def test_no_placeholder_values_anywhere(schema):
    placeholders = {"string", "additionalProp1", "2019-08-24", "user@example.com", 0, 123}

    def walk(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            yield from node
            for child in node.values():
                yield from walk(child)
        elif isinstance(node, list):
            for child in node:
                yield from walk(child)
        else:
            yield node

    for where, _, value in _examples(schema):
        found = placeholders & {v for v in walk(value) if isinstance(v, str | int)}
        assert not found - {0}, (where, found)
    text = COMMITTED.read_text()
    assert "testserver" not in text and "api.example.org" not in text


def test_examples_come_from_the_real_plan(schema):
    project = schema["paths"]["/api/v1/projects/{code}/"]["get"]["responses"]["200"]
    value = project["content"]["application/json"]["examples"]["example"]["value"]
    fixture = json.loads((ROOT / "fixtures" / "workplan-2021.json").read_text())
    real = next(p for p in fixture["projects"] if p["code"] == "HLED-2021-01")
    assert value["code"] == "HLED-2021-01"
    assert value["title"] == real["title_en"]
    assert {a["agency"]["code"] for a in value["participating_agencies"]} == {"MX-SE", "US-DOC"}
    etag = project["headers"]["ETag"]["example"]
    assert re.fullmatch(r'"1-[0-9a-f]{16}"', etag), etag


def test_the_patch_example_is_a_safe_editor_update(schema):
    patch = schema["paths"]["/api/v1/projects/{code}/"]["patch"]
    request = patch["requestBody"]["content"]["application/json"]["examples"]["example"]
    assert request["value"] == {"status": "2", "planned_start": "2022-03-01"}
    if_match = next(p for p in patch["parameters"] if p["name"] == "If-Match")
    assert if_match["required"] is True
    answer = patch["responses"]["200"]["content"]["application/json"]["examples"]["example"]
    assert answer["value"]["status"] == "2" and answer["value"]["planned_start"] == "2022-03-01"
    assert "MX-SE editor" in answer["description"]
    # The new ETag names the next version.
    assert patch["responses"]["200"]["headers"]["ETag"]["example"].startswith('"2-')


def test_exports_document_no_etag_for_if_match(schema):
    for path in ("/api/v1/projects/export/csv/", "/api/v1/projects/export/iati/"):
        ok = schema["paths"][path]["get"]["responses"]["200"]
        assert "If-Match" not in json.dumps(ok.get("headers", {})), path
        (media,) = ok["content"]
        assert isinstance(ok["content"][media]["examples"]["example"]["value"], str)


def test_bulk_items_need_only_a_code(schema):
    bulk = schema["components"]["schemas"]["ProjectBulkItemRequest"]
    assert bulk["required"] == ["code"]


def test_the_webhook_example_is_a_real_delivery(schema):
    hook = schema["webhooks"]["planChanged"]["post"]
    value = hook["requestBody"]["content"]["application/json"]["examples"]["example"]["value"]
    assert value["type"] == "project.update"
    assert value["data"]["changes"] == {"status": "2", "planned_start": "2022-03-01"}


@pytest.mark.django_db
def test_committed_examples_match_what_the_api_answers_now():
    """The examples are the API's own answers: when this fails, run `make schema` and
    review the diff of api/v1/examples.json and api/v1/openapi.yaml."""
    assert dump_examples(render_examples()) == EXAMPLES_PATH.read_text(encoding="utf-8")


@pytest.mark.django_db
def test_render_examples_refuses_a_database_with_a_plan(real_plan):
    with pytest.raises(RuntimeError, match="empty database"):
        render_examples()


# -- overview, tags, versions, security -----------------------------------------------------


def test_version_is_a_plain_version(schema):
    assert re.fullmatch(r"\d+\.\d+\.\d+", schema["info"]["version"])


def test_overview_covers_what_a_client_team_needs(schema):
    text = schema["info"]["description"]
    for topic in (
        "Authorization: Bearer",
        "create_api_token",
        "If-Match",
        "If-None-Match",
        "Idempotency-Key",
        "application/problem+json",
        "page_size",
        "Accept-Language",
        "lang=all",
        "/api/v1/changes/",
        "webhook-signature",
    ):
        assert topic in text, topic
    for code, (status, _) in PROBLEM_CODES.items():
        assert re.search(rf"\| `{code}` \| {status} \|", text), code


def test_tags_are_described_and_ordered(schema):
    names = [tag["name"] for tag in schema["tags"]]
    assert names == [tag["name"] for tag in TAGS]
    assert names[:4] == ["pillars", "goals", "agencies", "projects"]
    assert all(tag.get("description") for tag in schema["tags"])
    used = {t for _, _, op in _operations(schema) for t in op["tags"]}
    assert used == set(names)
    grouped = [t for group in schema["x-tagGroups"] for t in group["tags"]]
    assert grouped == names


def test_reads_are_open_and_writes_need_a_bearer_token(schema):
    assert set(schema["components"]["securitySchemes"]) == {"bearerAuth"}
    for path, method, op in _operations(schema):
        if method == "get" and "/webhooks/" not in path:
            assert op["security"] == [{}, {"bearerAuth": []}], (method, path)
        else:
            assert op["security"] == [{"bearerAuth": []}], (method, path)


def test_servers_are_declared(schema):
    assert schema["servers"] and schema["servers"][0]["url"] == "/"


def test_response_headers_a_client_reads_are_documented(schema):
    retrieve = schema["paths"]["/api/v1/projects/{code}/"]["get"]["responses"]
    assert "ETag" in retrieve["200"]["headers"]
    create = schema["paths"]["/api/v1/projects/"]["post"]["responses"]["201"]["headers"]
    assert {"ETag", "Location", "Idempotent-Replayed"} <= set(create)
    assert create["Location"]["example"].endswith("/api/v1/projects/HLED-2022-01/")
    plan = schema["paths"]["/api/v1/plan/"]["get"]["responses"]["200"]["headers"]
    assert "ETag" in plan
