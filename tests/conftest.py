import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
# Read-only material kept beside the checkout (facts, IATI schema); never copied in.
SHARED = ROOT.parent / "shared"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def real_plan(db: Any) -> None:
    """The real 2021 plan from fixtures/, loaded the way `make run` loads it."""
    call_command("load_workplan", stdout=io.StringIO())


@pytest.fixture
def get_json(api: APIClient) -> Callable[..., Any]:
    """GET a URL and return (response, parsed body)."""

    def _get(url: str, status: int = 200, **kwargs: Any) -> Any:
        response = api.get(url, **kwargs)
        assert response.status_code == status, (response.status_code, response.content[:500])
        return response.json()

    return _get


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle counters and other cached state never leak from one test to the next."""
    from django.core.cache import cache

    cache.clear()
