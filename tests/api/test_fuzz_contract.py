"""The contract says exactly what the server does: schemathesis fuzzes every operation.

Every check schemathesis has runs on every operation of api/v1/openapi.yaml, as an
anonymous caller and as a plan admin, against the WSGI app with the real plan loaded:
valid requests must be accepted, invalid ones refused with a 4xx, every status and body
must be the ones declared, undeclared methods must answer 405. A fixed seed and a bounded
number of examples per operation keep the run repeatable.

It takes several minutes on two cores, so it runs with `make fuzz` (FUZZ=1), not in
`make test`; without FUZZ=1 these tests are skipped and say so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from api.filters import (
    CodeFilter,
    GoalFilterSet,
    MeetingFilterSet,
    ProgressReportFilterSet,
    ProjectFilterSet,
    ProjectProgressFilterSet,
)
from api.throttling import BadTokenBrake
from tests.conftest import make_user
from tests.factories import ApiTokenFactory
from workplan.choices import Role

SEED = 20211213
MAX_EXAMPLES = 3
CONTRACT = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "api" / "v1" / "openapi.yaml").read_text()
)

# Filters by the code of another object: a code that names no object is a 400 (never an
# empty page that looks like "nothing"). Which codes exist is state the schema cannot
# list, so on these operations a schema-valid request may be refused with 400.
CODE_FILTERS = {
    name
    for filterset in (
        GoalFilterSet,
        ProjectFilterSet,
        MeetingFilterSet,
        ProjectProgressFilterSet,
        ProgressReportFilterSet,
    )
    for name, flt in filterset.base_filters.items()
    if isinstance(flt, CodeFilter)
}
CODE_FILTERED = sorted(
    operation["operationId"]
    for path_item in CONTRACT["paths"].values()
    for operation in path_item.values()
    if any(
        p["in"] == "query" and p["name"] in CODE_FILTERS for p in operation.get("parameters", [])
    )
)

POSITIVE_EXPECTED: list[str | int] = [
    "2xx",
    "3xx",
    401,
    403,
    404,
    # A write the plan's state refuses (archiving a pillar that still has goals) or a
    # code already taken (`code_taken`): the schema cannot say which objects exist.
    409,
    # A well-formed If-Match naming a version the object no longer has (stale ETag).
    412,
    # An Idempotency-Key sent again with another body (reused key).
    422,
    429,
]
NEGATIVE_EXPECTED: list[str | int] = [
    400,
    401,
    403,
    404,
    406,
    # A malformed If-Match names no current ETag: RFC 9110 makes that a 412.
    412,
    413,
    415,
    422,
    # If-Match left out: 428 (RFC 6585).
    428,
]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES},
        "checks": {
            "enabled": True,
            "positive_data_acceptance": {"expected-statuses": POSITIVE_EXPECTED},
            "negative_data_rejection": {"expected-statuses": NEGATIVE_EXPECTED},
            # A write without If-Match is refused with 428 (RFC 6585), without a token 401.
            "missing_required_header": {"expected-statuses": [400, 401, 403, 406, 415, 422, 428]},
        },
        "operations": [
            {
                "include-operation-id": CODE_FILTERED,
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*POSITIVE_EXPECTED, 400]},
                },
            },
            {
                # A webhook target must resolve to a public address (checked when it is
                # registered): the DNS answer is state the schema cannot express.
                "include-operation-id": [
                    "webhooks_create",
                    "webhooks_update",
                    "webhooks_partial_update",
                ],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*POSITIVE_EXPECTED, 400]},
                },
            },
        ],
    }
)


pytestmark = pytest.mark.skipif(
    not os.environ.get("FUZZ"), reason="the contract fuzzer runs with `make fuzz` (FUZZ=1)"
)


@pytest.fixture(autouse=True)
def _node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis' lazy schemas rename the test per operation through `_nodeid`, which
    # pytest 9.2 no longer sets.
    request.node._nodeid = request.node.nodeid


@pytest.fixture
def no_bad_token_brake(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzzer sends many made-up tokens; the brake on guessing has tests of its own."""
    monkeypatch.setattr(
        BadTokenBrake, "THROTTLE_RATES", {**BadTokenBrake.THROTTLE_RATES, "bad_token": None}
    )


@pytest.fixture
def api_schema(real_plan: None, no_throttling: None, no_bad_token_brake: None) -> Any:
    schema = schemathesis.openapi.from_dict(CONTRACT, config=CONFIG)
    schema.app = get_wsgi_application()
    return schema


@pytest.fixture
def admin_token(db: Any) -> str:
    user = make_user("fuzz-admin", role=Role.ADMIN)
    return ApiTokenFactory(user=user).plaintext


schema = schemathesis.pytest.from_fixture("api_schema")
FUZZ = hypothesis_settings(
    deadline=None,
    derandomize=True,
    database=None,
    # The plan is loaded once per caller, not once per example, on purpose.
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@FUZZ
def test_contract_as_anonymous(case: Any) -> None:
    case.call_and_validate()


@schema.parametrize()
@FUZZ
def test_contract_as_plan_admin(case: Any, admin_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"})
