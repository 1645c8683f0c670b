"""Clients generated from the committed contract (api/v1/openapi.yaml) work unchanged.

- Python: openapi-python-client generates a package, pip installs it, and it reads
  anonymously and makes a safe PATCH (If-Match) against a live server with the real plan.
- TypeScript: openapi-typescript generates types; `tsc --strict` compiles a usage file and
  every JSON example of the document typed with them.
- Spectral (`spectral:oas`, .spectral.yaml) finds no error and no warning.

The Node tools come from tools/package.json (`npm ci --prefix tools`). Without them these
tests are skipped on a developer's machine and fail in CI (CI=true), so CI cannot pass
without running them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.liveserver import live_server

# Runs its own servers and tools, whatever the database: CI runs it once.
pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "api" / "v1" / "openapi.yaml"
TOOLS = ROOT / "tools"


def node_tool(name: str) -> Path:
    """A binary of tools/node_modules, or skip (fail in CI) when it is not installed."""
    path = TOOLS / "node_modules" / ".bin" / name
    if shutil.which("node") and path.exists():
        return path
    message = f"{name} is missing: install Node.js and run `npm ci --prefix tools`."
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs
    )
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_python_client_reads_anonymously_and_updates_safely(tmp_path):
    generator = Path(sys.executable).parent / "openapi-python-client"
    generated = run(
        generator,
        "generate",
        "--path",
        SCHEMA,
        "--meta",
        "setup",
        "--config",
        TOOLS / "openapi-python-client.yaml",
        "--output-path",
        tmp_path / "client",
    )
    # A warning means part of the API is missing from the client.
    assert "warning" not in (generated.stdout + generated.stderr).lower(), generated.stdout
    run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--target",
        tmp_path / "site",
        tmp_path / "client",
    )
    with live_server(tmp_path) as server:
        token = server.manage("create_api_token", "se-sync", "--agency", "SE", "--role", "editor")
        checked = run(
            sys.executable,
            TOOLS / "python_client_check.py",
            server.url,
            token,
            env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        )
    assert checked.stdout.strip() == "python client: ok"


def generate_types(openapi_typescript: Path, out: Path) -> None:
    # A field with a default may be left out of a request: not required (the tool's
    # default makes it required, which is right only for responses).
    run(openapi_typescript, SCHEMA, "--default-non-nullable", "false", "--output", out)


def _typed_examples(schema: dict[str, Any]) -> str:
    """Every JSON example of the document as a TypeScript constant of its declared type."""
    lines = ['import type { paths } from "./openapi";', ""]
    count = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            op = f'paths["{path}"]["{method}"]'
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            for example in (body or {}).get("examples", {}).values():
                lines.append(
                    f"export const example{count}: NonNullable<{op}"
                    f'["requestBody"]>["content"]["application/json"] = '
                    f"{json.dumps(example['value'], ensure_ascii=False)};"
                )
                count += 1
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    if "json" not in media:
                        continue
                    for example in content.get("examples", {}).values():
                        lines.append(
                            f'export const example{count}: {op}["responses"][{status}]'
                            f'["content"]["{media}"] = '
                            f"{json.dumps(example['value'], ensure_ascii=False)};"
                        )
                        count += 1
    assert count > 300, count  # every operation's success and problem examples
    return "\n".join(lines) + "\n"


def test_typescript_types_compile_with_the_examples(tmp_path):
    openapi_typescript = node_tool("openapi-typescript")
    tsc = node_tool("tsc")
    (tmp_path / "build").mkdir()
    shutil.copytree(TOOLS / "ts", tmp_path / "ts")
    shutil.copy(TOOLS / "tsconfig.json", tmp_path / "tsconfig.json")
    generate_types(openapi_typescript, tmp_path / "build" / "openapi.d.ts")
    schema = yaml.safe_load(SCHEMA.read_text())
    (tmp_path / "build" / "examples.ts").write_text(_typed_examples(schema))
    run(tsc, "--project", tmp_path / "tsconfig.json")


def test_typescript_check_catches_a_wrong_example(tmp_path):
    """The compile step above can fail: an example with a misspelt field does not compile."""
    openapi_typescript = node_tool("openapi-typescript")
    tsc = node_tool("tsc")
    (tmp_path / "build").mkdir()
    shutil.copy(TOOLS / "tsconfig.json", tmp_path / "tsconfig.json")
    generate_types(openapi_typescript, tmp_path / "build" / "openapi.d.ts")
    (tmp_path / "build" / "examples.ts").write_text(
        'import type { components } from "./openapi";\n'
        'export const wrong: components["schemas"]["PatchedProjectWriteRequest"] = '
        '{"stauts": "2"};\n'
    )
    result = subprocess.run(
        [str(tsc), "--project", str(tmp_path / "tsconfig.json")], capture_output=True, text=True
    )
    assert result.returncode != 0 and "stauts" in result.stdout, result.stdout


def test_spectral_finds_no_error_or_warning():
    spectral = node_tool("spectral")
    result = run(
        spectral,
        "lint",
        SCHEMA,
        "--ruleset",
        ROOT / ".spectral.yaml",
        "--fail-severity",
        "warn",
        "--format",
        "json",
        "--quiet",
        cwd=ROOT,
    )
    findings = json.loads(result.stdout or "[]")
    assert [f for f in findings if f["severity"] <= 1] == [], findings
