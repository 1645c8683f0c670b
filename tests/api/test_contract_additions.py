"""The v1 contract only grows by additions.

tests/data/openapi-v1-baseline.yaml is the contract as it stood before meetings and
progress reports were added. Every operation it has must still exist, with every
parameter still accepted, every response status still declared, and every property of
a request or response body still present with the same type. Constraints (enum,
pattern, bounds, additionalProperties) may be tightened to what the server enforces,
so names and types are compared, not every keyword.
"""

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

# Schema, examples and representation rules: the same on every database (CI runs them once).
pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "tests" / "data" / "openapi-v1-baseline.yaml"
CURRENT = ROOT / "api" / "v1" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def resolve(doc: dict[str, Any], schema: Any) -> dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        target: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema if isinstance(schema, dict) else {}


def types(doc: dict[str, Any], schema: Any, seen: frozenset[str] = frozenset()) -> frozenset:
    """The JSON types a schema allows (null included), through $ref, allOf and anyOf/oneOf."""
    schema = resolve(doc, schema)
    declared = schema.get("type")
    if declared is not None:
        found = set([declared] if isinstance(declared, str) else declared)
    else:
        found = set()
        for key in ("anyOf", "oneOf"):
            for branch in schema.get(key, ()):
                found |= types(doc, branch, seen)
        for branch in schema.get("allOf", ()):
            found |= types(doc, branch, seen)
        if not found and "properties" in schema:
            found = {"object"}
        if not found and "enum" in schema:
            found = {type(v).__name__.replace("str", "string") for v in schema["enum"]}
    if schema.get("nullable"):
        found.add("null")
    # An integer is a number too; the contract may say either for the same field.
    return frozenset("number" if t == "integer" else t for t in found)


def flatten(doc: dict[str, Any], schema: Any, path: str = "", depth: int = 0) -> dict[str, Any]:
    """Every property path of a body (`results[].goal.code`) with its types."""
    out: dict[str, Any] = {}
    schema = resolve(doc, schema)
    if depth > 8 or not schema:
        return out
    if path:
        out[path] = types(doc, schema)
    branches = [
        schema,
        *schema.get("allOf", ()),
        *schema.get("anyOf", ()),
        *schema.get("oneOf", ()),
    ]
    for branch in branches:
        branch = resolve(doc, branch)
        for name, sub in branch.get("properties", {}).items():
            out.update(flatten(doc, sub, f"{path}.{name}" if path else name, depth + 1))
        if "items" in branch:
            out.update(flatten(doc, branch["items"], f"{path}[]", depth + 1))
    return out


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    ops = {}
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                op = dict(item[method])
                op["parameters"] = [*item.get("parameters", ()), *op.get("parameters", ())]
                ops[(path, method)] = op
    return ops


def bodies(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Property paths of the request body and of each response, by where they are."""
    out = {}
    request = resolve(doc, op.get("requestBody", {}))
    for media, content in request.get("content", {}).items():
        out[f"request {media}"] = flatten(doc, content.get("schema"))
    for status, response in op.get("responses", {}).items():
        for media, content in resolve(doc, response).get("content", {}).items():
            out[f"{status} {media}"] = flatten(doc, content.get("schema"))
    return out


def removals(baseline: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What the baseline promised that the current contract no longer does."""
    problems = []
    now = operations(current)
    for key, before in operations(baseline).items():
        where = f"{key[1].upper()} {key[0]}"
        after = now.get(key)
        if after is None:
            problems.append(f"{where}: the operation is gone")
            continue
        params = {(p["name"], p["in"]) for p in (resolve(current, p) for p in after["parameters"])}
        for param in (resolve(baseline, p) for p in before["parameters"]):
            if (param["name"], param["in"]) not in params:
                problems.append(f"{where}: parameter {param['name']} ({param['in']}) is gone")
        for status in before.get("responses", {}):
            if status not in after.get("responses", {}):
                problems.append(f"{where}: response {status} is no longer declared")
        bodies_after = bodies(current, after)
        for part, props in bodies(baseline, before).items():
            props_after = bodies_after.get(part)
            if props_after is None:
                problems.append(f"{where}: {part} body is gone")
                continue
            for prop, kinds in props.items():
                if prop not in props_after:
                    problems.append(f"{where}: {part} property {prop} is gone")
                elif kinds and props_after[prop] and kinds != props_after[prop]:
                    problems.append(
                        f"{where}: {part} property {prop} was {sorted(kinds)}, "
                        f"is {sorted(props_after[prop])}"
                    )
    return problems


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    return load(BASELINE)


@pytest.fixture(scope="module")
def current() -> dict[str, Any]:
    return load(CURRENT)


def test_the_contract_only_grew_by_additions(baseline, current):
    assert removals(baseline, current) == []


def test_the_baseline_is_compared_in_depth(baseline):
    # Guard against a comparison that silently sees nothing.
    ops = operations(baseline)
    assert len(ops) > 20
    compared = sum(len(props) for op in ops.values() for props in bodies(baseline, op).values())
    assert compared > 1000
    detail = bodies(baseline, ops[("/api/v1/projects/{code}/", "get")])
    props = detail["200 application/json"]
    assert props["participating_agencies[].agency.code"] == {"string"}
    assert "null" in props["budget"]


def _schema_of(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]


def test_a_renamed_response_field_is_caught(baseline):
    mutated = copy.deepcopy(baseline)
    props = _schema_of(mutated, "Project")["properties"]
    props["name"] = props.pop("title")
    assert any("property title is gone" in p for p in removals(baseline, mutated))


def test_a_retyped_nested_field_is_caught(baseline):
    mutated = copy.deepcopy(baseline)
    brief = _schema_of(mutated, "GoalBrief")["properties"]
    brief["code"] = {"type": "integer"}
    problems = removals(baseline, mutated)
    assert any("goal.code was ['string'], is ['number']" in p for p in problems)


def test_a_dropped_parameter_status_or_operation_is_caught(baseline):
    mutated = copy.deepcopy(baseline)
    listing = mutated["paths"]["/api/v1/projects/"]["get"]
    listing["parameters"] = [p for p in listing["parameters"] if p.get("name") != "pillar"]
    del mutated["paths"]["/api/v1/projects/{code}/"]["get"]["responses"]["404"]
    del mutated["paths"]["/api/v1/goals/{code}/"]["delete"]
    problems = removals(baseline, mutated)
    assert "GET /api/v1/projects/: parameter pillar (query) is gone" in problems
    assert "GET /api/v1/projects/{code}/: response 404 is no longer declared" in problems
    assert "DELETE /api/v1/goals/{code}/: the operation is gone" in problems


def test_a_renamed_request_field_is_caught(baseline):
    mutated = copy.deepcopy(baseline)
    props = _schema_of(mutated, "ProjectWriteRequest")["properties"]
    props["title_english"] = props.pop("title_en")
    problems = removals(baseline, mutated)
    assert any("request application/json property title_en is gone" in p for p in problems)


def test_additions_and_tightening_pass(baseline):
    mutated = copy.deepcopy(baseline)
    project = _schema_of(mutated, "Project")
    project["properties"]["summary"] = {"type": "string"}
    project["additionalProperties"] = False
    project["properties"]["code"]["pattern"] = "^[A-Z0-9-]+$"
    mutated["paths"]["/api/v1/projects/"]["get"]["parameters"].append(
        {"name": "new_filter", "in": "query", "schema": {"type": "string"}}
    )
    assert removals(baseline, mutated) == []
