"""The compose stack: its shape, and `docker-compose config` where the tool is installed."""

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# Runs its own servers and tools, whatever the database: CI runs it once.
pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parent.parent


def test_compose_runs_every_component_with_health_checks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "redis", "migrate", "web", "worker", "proxy"}
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("db", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    assert "/health/" in " ".join(services["web"]["healthcheck"]["test"])
    assert "run_worker" in services["worker"]["command"]
    assert "load_workplan" in " ".join(services["migrate"]["command"])
    for name in ("migrate", "web", "worker"):
        env = services[name]["environment"]
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")
    assert services["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_only_the_buffering_proxy_is_published():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert proxy["environment"]["WORKPLAN_UPSTREAM"] == "web:8000"
    assert "/health/" in " ".join(proxy["healthcheck"]["test"])


def _compose_env() -> dict[str, str]:
    """The app's environment as docker-compose.yml gives it, with ${VAR:-default} resolved."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    env = {}
    for name, value in services["web"]["environment"].items():
        value = str(value)
        if value.startswith("${") and ":?" in value:
            value = "compose-check-" + secrets.token_urlsafe(40)
        value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
        env[name] = value
    return env


def test_check_deploy_is_clean_with_the_compose_settings(tmp_path):
    """The compose file's own settings pass `check --deploy` (no silenced warnings)."""
    env = {**os.environ, **_compose_env(), "DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite3'}"}
    env.pop("REDIS_URL")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def render_nginx(upstream: str, listen: str) -> str:
    """deploy/nginx/workplan.conf.template as the nginx image's envsubst renders it."""
    text = (ROOT / "deploy/nginx/workplan.conf.template").read_text()
    return text.replace("${WORKPLAN_UPSTREAM}", upstream).replace("${WORKPLAN_LISTEN}", listen)


def test_nginx_template_names_only_its_two_variables():
    text = (ROOT / "deploy/nginx/workplan.conf.template").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == {"WORKPLAN_UPSTREAM", "WORKPLAN_LISTEN"}


def test_nginx_limits_match_the_app():
    from django.conf import settings

    text = (ROOT / "deploy/nginx/workplan.conf.template").read_text()
    assert "client_max_body_size 1m;" in text
    assert settings.API_MAX_BODY_BYTES == 1024 * 1024
    for status in ("413", "414", "431", "503", "504"):
        assert f"/_problem/{status}.json" in text


@pytest.mark.skipif(
    shutil.which("nginx") is None and not os.environ.get("CI"), reason="nginx not installed"
)
def test_nginx_accepts_the_proxy_configuration(tmp_path):
    conf = tmp_path / "nginx.conf"
    (tmp_path / "workplan.conf").write_text(render_nginx("127.0.0.1:9", "127.0.0.1:9"))
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\n access_log off;\n client_body_temp_path {tmp_path};\n"
        f" proxy_temp_path {tmp_path};\n include {tmp_path}/workplan.conf;\n}}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-c", str(conf), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(
    shutil.which("docker-compose") is None and not os.environ.get("CI"),
    reason="docker-compose not installed (CI installs it)",
)
def test_docker_compose_config_validates():
    env = {**os.environ, "DJANGO_SECRET_KEY": "compose-check"}
    result = subprocess.run(
        ["docker-compose", "config", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_make_run_and_make_worker_start_the_worker_that_outlives_outages():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "worker"):
        recipe = makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
        assert "manage.py run_worker" in recipe, target
        assert "db_worker" not in recipe, target


@pytest.mark.skipif(
    shutil.which("nginx") is None and not os.environ.get("CI"), reason="nginx not installed"
)
def test_the_proxy_answers_its_own_refusals_as_problem_documents(tmp_path):
    """Over-long request lines and headers never reach gunicorn (whose own answers are HTML):
    nginx refuses them with the app's JSON problem documents, and a dead upstream is a 503."""
    import http.client
    import json
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = tmp_path / "nginx.conf"
    # Port 9 (discard) on loopback: nothing listens, so the upstream is down.
    (tmp_path / "workplan.conf").write_text(render_nginx("127.0.0.1:9", f"127.0.0.1:{port}"))
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\n access_log off;\n client_body_temp_path {tmp_path};\n"
        f" proxy_temp_path {tmp_path};\n include {tmp_path}/workplan.conf;\n}}\n"
    )
    proxy = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)

        def get(path: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            return response.status, response.getheader("Content-Type", ""), json.loads(body)

        for status, path, headers in [
            (414, "/api/v1/projects/?q=" + "x" * 9000, None),
            (431, "/api/v1/projects/", {"X-Big": "y" * 9000}),
            (503, "/api/v1/projects/", None),
        ]:
            got, content_type, body = get(path, headers)
            assert got == status, (status, got)
            assert content_type.startswith("application/problem+json")
            assert body["status"] == status and body["code"]
    finally:
        proxy.terminate()
        proxy.wait(10)
