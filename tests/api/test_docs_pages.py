"""The documentation pages and the favicon are served by the app, with nothing from outside."""

import io
import re

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

# Schema, examples and representation rules: the same on every database (CI runs them once).
pytestmark = [pytest.mark.django_db, pytest.mark.backend_independent]

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_reference_nothing_outside_the_app(api, path):
    response = api.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "fonts.googleapis" not in html and "cdn.redoc.ly" not in html
    assert "/static/drf_spectacular_sidecar/" in html
    # The browser is told to fetch nothing from another origin.
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert "img-src 'self' data:" in csp


def test_redoc_swaps_its_cdn_logo_for_the_apps_icon(api):
    html = api.get("/api/v1/redoc/").content.decode()
    assert "Element.prototype.setAttribute" in html
    assert "/static/api/favicon.png" in html


def test_swagger_ui_has_no_online_validator_and_the_apps_icon(api):
    html = api.get("/api/v1/docs/").content.decode()
    assert '"validatorUrl": null' in html
    assert 'rel="icon" href="/favicon.ico"' in html


def test_favicon_is_served(api):
    response = api.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_a_new_webhook_subscription_is_located_at_its_own_url(api: APIClient):
    out = io.StringIO()
    call_command("create_api_token", "plan-admin", "--role", "admin", stdout=out)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["project.*"]}
    response = api.post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 201, response.content
    assert response["Location"] == f"http://testserver/api/v1/webhooks/{response.json()['id']}/"
