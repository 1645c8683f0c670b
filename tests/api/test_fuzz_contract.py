"""The contract says exactly what the server does: schemathesis fuzzes every operation.

Every check schemathesis has runs on every operation of api/v1/openapi.yaml, as an
anonymous caller and as a plan admin, against the WSGI app with the real plan loaded:
valid requests must be accepted, invalid ones refused with a 4xx, every status and body
must be the ones declared, undeclared methods must answer 405. A fixed seed and a bounded
number of examples per operation keep the run repeatable.

Each caller takes about two minutes on one core; `make test` runs them on two workers
beside the rest of the suite, and `make fuzz` runs them alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from django.urls import resolve
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.errors import RULE
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
from workplan.models import (
    Agency,
    Goal,
    Indicator,
    Meeting,
    Pillar,
    Project,
    Result,
)

SEED = 20211213
MAX_EXAMPLES = 3
# Stateful scenarios (chains of linked operations) and the steps in each.
STATEFUL_SCENARIOS = 60
STATEFUL_STEPS = 8
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

SETTINGS: dict[str, Any] = {
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
CONFIG = schemathesis.Config.from_dict(SETTINGS)
# Chains are checked as the operations are, but for one check.
STATEFUL_SETTINGS = {
    **SETTINGS,
    "checks": {
        **SETTINGS["checks"],
        # Made-up and missing tokens are fuzzed per operation above; a chain is the plan
        # admin's throughout (its token is set on every step, which this check would
        # mistake for one the fuzzer made up).
        "ignored_auth": {"enabled": False},
    },
}


# The contract is the same whatever the database: CI fuzzes it once, on SQLite.
pytestmark = pytest.mark.backend_independent


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


# -- what OpenAPI 3.0 cannot say ---------------------------------------------------------
# The schema cannot name the objects that exist, nor state a rule between two query
# parameters or two body fields. Each such rule is documented in the parameter's or the
# field's description and tested on its own (tests/api/test_pagination.py,
# test_brief_and_expand.py, test_meetings_and_progress.py, test_bulk_and_exports.py).
# So that the fuzzer tests everything else, a case generated as valid is made to follow
# them before it is sent; a case generated as invalid is sent as it is.

# Body fields that name another object by its code, and the model whose codes they take.
REFERENCES = {
    "pillar": Pillar,
    "goal": Goal,
    "project": Project,
    "result": Result,
    "indicator": Indicator,
    "meeting": Meeting,
    "agency": Agency,
    "parent": Agency,
}


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v for v in str(value).split(",") if v]


def follow_query_rules(case: Any) -> None:
    query = case.query
    if not query:
        return
    if "cursor" in query:
        # Cursors are made by the server (`next`, `previous`); the empty one starts a walk.
        query["cursor"] = ""
        # A cursor walks the list on its own: no page number, no count, and no search
        # ranked by relevance (without `ordering`).
        query.pop("page", None)
        query.pop("count", None)
        if "ordering" not in query:
            query.pop("q", None)
    if str(query.get("brief", "")).lower() == "true":
        # A brief representation embeds nothing but labels and has only its own fields.
        view = resolve(re.sub(r"\{\w+\}", "1", case.operation.path)).func.cls  # type: ignore[attr-defined]
        for name, allowed in (("expand", {"labels"}), ("fields", set(view.brief_fields))):
            if name in query:
                kept = [v for v in _as_list(query[name]) if v in allowed]
                if kept:
                    query[name] = kept if isinstance(query[name], list) else ",".join(kept)
                else:
                    del query[name]


def follow_body_rules(case: Any, codes: dict[str, list[str]]) -> None:
    own_code = case.path_parameters.get("code")

    def fit(node: Any) -> None:
        if isinstance(node, list):
            taken: dict[str, set[str]] = {}
            # An item that would name an object already listed, when none is left, goes.
            node[:] = [item for item in node if fit_object(item, taken)]
        else:
            fit_object(node, {})

    def fit_object(node: Any, taken: dict[str, set[str]]) -> bool:
        if not isinstance(node, dict):
            return True
        for key, value in node.items():
            if key in REFERENCES and isinstance(value, str):
                # The code of an object that exists, not this object's, and (in a list)
                # each object once: a project is listed once, an agency takes part once.
                used = taken.setdefault(key, set())
                choices = [c for c in codes[key] if c != own_code and c not in used]
                if not choices:
                    return False
                node[key] = choices[sum(map(ord, value)) % len(choices)]
                used.add(node[key])
            elif isinstance(value, (list, dict)):
                fit(value)
        return True

    body = case.body
    if not isinstance(body, dict):
        return
    fit(body)
    path, method = case.operation.path, case.operation.method.lower()
    if own_code and "code" in body:
        # An update leaves the code as it is.
        body["code"] = own_code
    if path == "/api/v1/progress/" or (path.startswith("/api/v1/progress/") and method == "put"):
        # A progress report is on a project or on a goal: exactly one of them.
        if body.get("project"):
            body.pop("goal", None)
        elif not body.get("goal"):
            body["project"] = codes["project"][0]
    if path.endswith("/bulk/"):
        for item in body.get("projects", []):
            # A bulk item with a new code creates a project, which needs a goal and titles.
            if isinstance(item, dict) and item.get("code") not in codes["project"]:
                item.setdefault("goal", codes["goal"][0])
                item.setdefault("title_en", "New project")
                item.setdefault("title_es", "Proyecto nuevo")


def follow_rules(case: Any) -> None:
    negative = case.meta.is_negative_at if case.meta is not None else lambda _: False
    if not negative(ParameterLocation.QUERY):
        follow_query_rules(case)
    if case.body is not None and not negative(ParameterLocation.BODY):
        codes = {
            # Active objects only: an archived one is no object to refer to.
            key: list(model.objects.active().order_by("code").values_list("code", flat=True))
            for key, model in REFERENCES.items()
        }
        follow_body_rules(case, codes)


def refused_by_a_rule(response: Any) -> bool:
    """A 400 whose every error is the plan's rule (`rule`: a period ends after it starts,
    a baseline value needs its year, one lead agency per country). Such rules bind the
    fields of one body together, which OpenAPI 3.0 cannot state; each is tested on its
    own. A valid case that breaks one is not the schema promising too much."""
    if response.status_code != 400:
        return False
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return False
    return bool(errors) and all(error.get("code") == RULE for error in errors)


def checks_skipped(response: Any) -> list[Any] | None:
    return [positive_data_acceptance] if refused_by_a_rule(response) else None


def call(case: Any, headers: dict[str, str] | None = None) -> None:
    follow_rules(case)
    response = case.call(headers=headers)
    case.validate_response(
        response,
        headers=headers,
        excluded_checks=checks_skipped(response),
        transport_kwargs={"headers": dict(headers)} if headers else None,
    )


@schema.parametrize()
@FUZZ
def test_contract_as_anonymous(case: Any) -> None:
    call(case)


@schema.parametrize()
@FUZZ
def test_contract_as_plan_admin(case: Any, admin_token: str) -> None:
    call(case, headers={"Authorization": f"Bearer {admin_token}"})


def test_linked_operations_chain_as_a_plan_admin(
    real_plan: None, no_throttling: None, no_bad_token_brake: None, admin_token: str
) -> None:
    """The document's links (a read's ETag to the object's writes, a create to its detail)
    drive schemathesis's stateful scenarios: each chain must behave as declared."""
    linked = schemathesis.openapi.from_dict(
        CONTRACT, config=schemathesis.Config.from_dict(STATEFUL_SETTINGS)
    )
    linked.app = get_wsgi_application()

    class PlanAdmin(linked.as_state_machine()):  # type: ignore[misc]
        # Each scenario starts from the real plan: what one wrote is rolled back.
        def setup(self) -> None:
            self.savepoint = transaction.savepoint_create()

        def teardown(self) -> None:
            transaction.savepoint_rollback(self.savepoint)

        def before_call(self, case: Any) -> None:
            follow_rules(case)
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {admin_token}"}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=checks_skipped(response),
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            # An ETag (not `*`) that matched can only come from a read's link.
            if response.status_code < 300 and (case.headers or {}).get("If-Match", "*") != "*":
                chained_writes.append(f"{case.method} {case.formatted_path}")

    chained_writes: list[str] = []
    PlanAdmin.run(
        settings=hypothesis_settings(
            FUZZ, max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS
        )
    )
    # Writes that took the If-Match a linked read gave them were accepted.
    assert chained_writes
