import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
# Read-only material kept beside the checkout (facts, IATI schema); never copied in.
SHARED = ROOT.parent / "shared"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


PLAN_MODELS = [
    "workplan.Pillar",
    "workplan.Goal",
    "workplan.Agency",
    "workplan.Project",
    "workplan.ProjectAgencyRole",
    "workplan.ProjectCountry",
    "workplan.ProjectLink",
    "workplan.AuditEvent",
    "workplan.ImportBaseline",
]


@pytest.fixture(scope="session")
def real_plan_dump(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The real plan loaded once per test process with `load_workplan`, kept as a dump.

    Loading through the services (validation, snapshots, audit) takes about a second;
    replaying the dump into each test that needs the plan takes a fraction of that.
    """
    path = tmp_path_factory.mktemp("plan") / "real-plan.json"
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("load_workplan", stdout=io.StringIO())
        call_command("dumpdata", *PLAN_MODELS, output=str(path), stdout=io.StringIO())
        transaction.set_rollback(True)
    return path


@pytest.fixture
def real_plan(db: Any, real_plan_dump: Path) -> None:
    """The real 2021 plan from fixtures/, as `make run` loads it (with its audit trail)."""
    call_command("loaddata", str(real_plan_dump), verbosity=0)


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
