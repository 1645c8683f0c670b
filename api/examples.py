"""Examples in the OpenAPI document, rendered by the API itself from the real 2021 plan.

Nothing here is typed by hand except the request bodies of writes: every response
example (each 2xx and each problem document an operation declares) is what the API
answered to a real request, sent through the whole middleware and view stack by
`render_examples()` after `load_workplan` loaded `fixtures/workplan-2021.json` into a
throwaway database. `manage.py render_examples` (run by `make schema`) writes them to
`api/v1/examples.json`; `merge_examples`, a drf-spectacular postprocessing hook,
puts them into the document; a test renders them again and fails when they drift.

Determinism: the clock is frozen (the plan is loaded at LOADED_AT, every example
request is sent at EDITED_AT), random values come from a seeded generator, database
sequences are reset after each scenario (each runs in a savepoint that is rolled
back), and the throttles are switched off except for the 429 examples.
"""

from __future__ import annotations

import copy
import io
import json
import random
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest import mock

from django.apps import apps
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import override_settings

EXAMPLES_PATH = Path(__file__).resolve().parent / "v1" / "examples.json"

# The plan was presented on 13 December 2021; the example edits happen later.
LOADED_AT = datetime(2021, 12, 13, 17, 0, tzinfo=UTC)
EDITED_AT = datetime(2022, 3, 1, 16, 30, tzinfo=UTC)
HOST = "workplan.example.org"
PUBLIC_URL = f"https://{HOST}"
SEED = 2021

# Callers, as `manage.py create_api_token` creates them (README): name -> arguments.
CALLERS = {
    "admin": ["plan-admin", "--role", "admin"],
    "editor": ["se-sync", "--agency", "SE", "--role", "editor"],
    "reader": ["se-reader", "--agency", "SE", "--role", "reader"],
    "other_editor": ["dhs-sync", "--agency", "DHS", "--role", "editor"],
}
CALLER_LABELS = {
    "anonymous": "anonymous",
    "admin": "a plan admin",
    "editor": "an MX-SE editor",
    "reader": "an MX-SE read-only token",
    "other_editor": "a US-DHS editor",
    "bad_token": "a revoked token",
}
BAD_TOKEN = "wpt_0badc0de_revoked-or-mistyped-token"


@dataclass(frozen=True)
class Call:
    """One example request. `body` may be a callable that builds it from the database."""

    path: str
    query: str = ""
    caller: str = "anonymous"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    if_match: bool = False  # read the object's ETag first and send it in If-Match
    setup: Callable[[Context], None] | None = None
    summary: str = ""


class Context:
    """The state a scenario runs against: tokens and the test client."""

    def __init__(self, tokens: dict[str, str]) -> None:
        from rest_framework.test import APIClient

        self.tokens = tokens
        self.client = APIClient(HTTP_HOST=HOST)

    def auth(self, caller: str) -> dict[str, str]:
        if caller == "anonymous":
            return {}
        token = BAD_TOKEN if caller == "bad_token" else self.tokens[caller]
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def send(
        self,
        method: str,
        path: str,
        *,
        caller: str = "anonymous",
        body: Any = None,
        query: str = "",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        extra = {**self.auth(caller)}
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        url = path + (f"?{query}" if query else "")
        kwargs: dict[str, Any] = {"secure": True, **extra}
        if body is not None:
            data = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
            kwargs.update(data=data, content_type=content_type)
        response = getattr(self.client, method.lower())(url, **kwargs)
        # Read streamed bodies now, while the scenario's savepoint is still open.
        response.body_bytes = (
            b"".join(response.streaming_content) if response.streaming else response.content
        )
        return response

    def etag(self, path: str, caller: str) -> str:
        response = self.send("GET", path, caller=caller)
        assert response.status_code == 200 and response.has_header("ETag"), (path, response)
        return str(response["ETag"])


# -- request bodies ------------------------------------------------------------------


def _write_state(model_name: str, code: str, **changes: Any) -> Callable[[Context], Any]:
    """The object's current writable fields (as a PUT sends them), with some changed."""

    def build(ctx: Context) -> dict[str, Any]:
        from workplan import services

        model = apps.get_model("workplan", model_name)
        state = services.snapshot(model.objects.get(code=code))
        state.pop("archived", None)  # `code` stays: the same code is no change
        if model_name == "Project":
            amount, currency = state.pop("budget_amount"), state.pop("budget_currency")
            state["budget"] = {"amount": amount, "currency": currency} if amount else None
            state.pop("is_published")  # plan admins only; the example is an editor's
        if model_name == "ProgressReport":
            state = _progress_write_state(state)
        if model_name in RESULT_WRITE_STATES:
            state = RESULT_WRITE_STATES[model_name](state)
        return {**state, **changes}

    return build


def _progress_write_state(state: dict[str, Any]) -> dict[str, Any]:
    """A progress report's audited state as a write sends it (its code is issued, not sent)."""
    start, end = state["period_start"], state["period_end"]
    return {
        "project": state["project"],
        "goal": state["goal"],
        "meeting": state["meeting"],
        "date": state["date"],
        "narrative_en": state["narrative_en"],
        "narrative_es": state["narrative_es"],
        "source": {k: state[f"source_{k}"] for k in ("kind", "title", "publisher", "date", "url")},
        "period": {"start": start, "end": end} if start or end else None,
        "measure": {
            "indicator_en": state["indicator_en"],
            "indicator_es": state["indicator_es"],
            "unit": state["unit"],
            "baseline": state["baseline_value"],
            "target": state["target_value"],
            "value": state["actual_value"],
        }
        if state["indicator_en"]
        else None,
    }


def _result_write_state(state: dict[str, Any]) -> dict[str, Any]:
    """A result's audited state as a write sends it (its code is issued, not sent)."""
    names = ("project", "type", "aggregation_status", "title_en", "title_es")
    return {name: state[name] for name in (*names, "description_en", "description_es")}


def _indicator_write_state(state: dict[str, Any]) -> dict[str, Any]:
    names = ("result", "measure", "ascending", "title_en", "title_es")
    body = {name: state[name] for name in (*names, "description_en", "description_es")}
    has_baseline = state["baseline_year"] is not None or state["baseline_value"] is not None
    body["baseline"] = (
        {
            "year": state["baseline_year"],
            "value": state["baseline_value"],
            "comment_en": state["baseline_comment_en"],
            "comment_es": state["baseline_comment_es"],
        }
        if has_baseline
        else None
    )
    return body


def _period_write_state(state: dict[str, Any]) -> dict[str, Any]:
    def measured(kind: str) -> dict[str, Any] | None:
        value, en, es = (state[f"{kind}_{n}"] for n in ("value", "comment_en", "comment_es"))
        if value is None and not en and not es:
            return None
        return {"value": value, "comment_en": en, "comment_es": es}

    return {
        "indicator": state["indicator"],
        "start": state["period_start"],
        "end": state["period_end"],
        "target": measured("target"),
        "actual": measured("actual"),
        "source": {k: state[f"source_{k}"] for k in ("kind", "title", "publisher", "date", "url")}
        if state["source_title"]
        else None,
    }


RESULT_WRITE_STATES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "Result": _result_write_state,
    "Indicator": _indicator_write_state,
    "IndicatorPeriod": _period_write_state,
}


NEW_PILLAR = {
    "code": "P5",
    "number": 5,
    "name_en": "Energy Cooperation",
    "name_es": "Cooperación energética",
    "description_en": "Joint work on energy security and the energy transition.",
    "description_es": "Trabajo conjunto en seguridad energética y transición energética.",
}
NEW_GOAL = {
    "code": "P1-G4",
    "pillar": "P1",
    "number": 4,
    "title_en": "Customs modernisation",
    "title_es": "Modernización aduanera",
    "description_en": "",
    "description_es": "",
}
NEW_AGENCY = {
    "code": "MX-ANAM",
    "acronym": "ANAM",
    "name_en": "National Customs Agency of Mexico",
    "name_es": "Agencia Nacional de Aduanas de México",
    "country": "MX",
    "organisation_type": "10",
    "parent": "MX-SHCP",
    "website": "https://www.gob.mx/anam",
}
NEW_PROJECT = {
    "code": "HLED-2022-01",
    "goal": "P1-G1",
    "title_en": "Supply-chain mapping pilot",
    "title_es": "Piloto de mapeo de cadenas de suministro",
    "description_en": "Maps critical supply chains between both countries.",
    "description_es": "Mapea cadenas de suministro críticas entre ambos países.",
    "status": "1",
    "planned_start": "2022-06-01",
    "planned_end": "2023-06-30",
    "countries": ["MX", "US"],
    "participating_agencies": [{"agency": "MX-SE", "role": "4", "is_lead": True}],
    "budget": {"amount": "250000.00", "currency": "USD"},
}
NEW_MEETING = {
    "code": "HLED-M-2022-03-01",
    "date": "2022-03-01",
    "kind": "review",
    "place_en": "Virtual",
    "place_es": "Virtual",
    "summary_en": "Review of progress on supply chains.",
    "summary_es": "Revisión de los avances en cadenas de suministro.",
    "projects": [{"project": "HLED-2021-01", "kind": "reviewed"}],
}
# An agency's own account of progress on a project it takes part in; the code is issued.
NEW_PROGRESS = {
    "project": "HLED-2021-01",
    "date": "2022-03-01",
    "narrative_en": "Supplier development workshops were held with chambers of industry.",
    "narrative_es": "Se realizaron talleres de desarrollo de proveedores con cámaras industriales.",
    "source": {
        "kind": "entered",
        "title": "Report of the Ministry of Economy to the dialogue",
        "publisher": "Secretaría de Economía",
        "date": "2022-03-01",
    },
}
# A result an agency sets for a project it takes part in, an indicator of a result and a
# period of an indicator of the real plan; codes are issued.
NEW_RESULT = {
    "project": "HLED-2021-01",
    "type": "2",
    "title_en": "Regional suppliers integrated into semiconductor supply chains",
    "title_es": "Proveedores regionales integrados en cadenas de suministro de semiconductores",
}
NEW_INDICATOR = {
    "result": "HLED-2021-10-R1",
    "measure": "1",
    "ascending": True,
    "title_en": "Women-led businesses formalised",
    "title_es": "Empresas encabezadas por mujeres formalizadas",
}
NEW_PERIOD = {
    "indicator": "HLED-2021-11-R1-I1",
    "start": "2024-08-01",
    "end": "2024-12-31",
    "target": {"value": "15", "comment_en": "Autumn 2024 semester"},
}
NEW_OBJECTS: dict[str, dict[str, Any]] = {
    "pillars": NEW_PILLAR,
    "goals": NEW_GOAL,
    "agencies": NEW_AGENCY,
    "projects": NEW_PROJECT,
    "meetings": NEW_MEETING,
    "progress": NEW_PROGRESS,
    "results": NEW_RESULT,
    "indicators": NEW_INDICATOR,
    "periods": NEW_PERIOD,
}
# A correction an editor makes to the Spanish text of a report on its agency's project.
PROGRESS_PATCH = {
    "narrative_es": "Según el Departamento de Comercio de Estados Unidos, un programa de la "
    "Academia para Mujeres Emprendedoras (AWE) apoyaba a 800 mujeres en 13 estados de México."
}
# A safe update: what an agency's system changes once work starts (status 2 = implementation).
PROJECT_PATCH = {"status": "2", "planned_start": "2022-03-01"}
BULK = {
    "projects": [
        {"code": "HLED-2021-01", "status": "2", "planned_start": "2022-03-01"},
        {
            "code": "HLED-2022-02",
            "goal": "P4-G2",
            "title_en": "MSME export clinics",
            "title_es": "Clínicas de exportación para MIPYMES",
            "countries": ["MX"],
            "participating_agencies": [{"agency": "MX-SE", "role": "4", "is_lead": True}],
        },
    ]
}
WEBHOOK = {
    "url": "https://partner.example.org/hooks/workplan",
    "description": "SE project sync",
    "event_types": ["project.*"],
    "agency": "MX-SE",
    "is_active": True,
}
WEBHOOK_HOST_ADDRESS = "93.184.215.14"  # a public address, so the target check passes


# -- scenarios ------------------------------------------------------------------------------

RESOURCES = {
    # resource: (model, example code, unknown code)
    "pillars": ("Pillar", "P1", "P9"),
    "goals": ("Goal", "P1-G1", "P9-G9"),
    "agencies": ("Agency", "MX-SE", "MX-NOPE"),
    "projects": ("Project", "HLED-2021-01", "HLED-2021-99"),
    "meetings": ("Meeting", "HLED-M-2022-09-12", "HLED-M-1999-01-01"),
    "progress": ("ProgressReport", "HLED-2021-10-PR1", "PR-999999"),
    "results": ("Result", "HLED-2021-11-R1", "RE-999999"),
    "indicators": ("Indicator", "HLED-2021-11-R1-I1", "IN-999999"),
    "periods": ("IndicatorPeriod", "HLED-2021-11-R1-I1-P1", "IP-999999"),
}
SINGULAR = {"ProgressReport": "progress report", "IndicatorPeriod": "indicator period"}
# Resources agency editors write (on projects their agency takes part in).
EDITOR_RESOURCES = ("projects", "progress", "results", "indicators", "periods")


def _archive(model_name: str, *codes: str) -> Callable[[Context], None]:
    def setup(ctx: Context) -> None:
        from workplan import services

        model = apps.get_model("workplan", model_name)
        for code in codes:
            services.plan_object_archive(obj=model.objects.get(code=code), actor=services.SYSTEM)

    return setup


def _subscribe(ctx: Context) -> None:
    response = ctx.send("POST", "/api/v1/webhooks/", caller="admin", body=WEBHOOK)
    assert response.status_code == 201, response.content


def _subscribe_and_deliver(ctx: Context) -> None:
    """A subscription, a change it hears about, and one failed and one good delivery try."""
    import time_machine  # a development tool: the schema hook below must not need it

    from workplan import webhooks
    from workplan.models import WebhookDelivery

    _subscribe(ctx)
    etag = ctx.etag("/api/v1/projects/HLED-2021-01/", "editor")
    response = ctx.send(
        "PATCH",
        "/api/v1/projects/HLED-2021-01/",
        caller="editor",
        body=PROJECT_PATCH,
        headers={"If-Match": etag},
    )
    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    clock = iter([0.0, 0.412, 10.0, 10.187])
    with (
        mock.patch.object(webhooks, "_post", side_effect=[503, 204]),
        mock.patch.object(webhooks.time, "monotonic", lambda: next(clock)),
    ):
        webhooks.webhook_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        # The worker tries again when the first retry delay (5 s) is over.
        with time_machine.travel(delivery.next_attempt_at, tick=False):
            webhooks.webhook_attempt(delivery_id=delivery.pk)


def _deliveries_first_failed(ctx: Context) -> None:
    from workplan import webhooks
    from workplan.models import WebhookDelivery

    _subscribe(ctx)
    etag = ctx.etag("/api/v1/projects/HLED-2021-01/", "editor")
    ctx.send(
        "PATCH",
        "/api/v1/projects/HLED-2021-01/",
        caller="editor",
        body=PROJECT_PATCH,
        headers={"If-Match": etag},
    )
    delivery = WebhookDelivery.objects.get()
    clock = iter([0.0, 10.0])
    with (
        mock.patch.object(webhooks, "_post", side_effect=[503]),
        mock.patch.object(webhooks.time, "monotonic", lambda: next(clock)),
        override_settings(WEBHOOK_RETRY_DELAYS=[0]),
    ):
        webhooks.webhook_attempt(delivery_id=delivery.pk)


# Projects and goals with progress reports and results are archived after them (results
# after their indicators, indicators after their periods).
_archive_period_11 = _archive("IndicatorPeriod", "HLED-2021-11-R1-I1-P1")


def _archive_indicator_11(ctx: Context) -> None:
    _archive_period_11(ctx)
    _archive("Indicator", "HLED-2021-11-R1-I1")(ctx)


def _archive_result_11(ctx: Context) -> None:
    _archive_indicator_11(ctx)
    _archive("Result", "HLED-2021-11-R1")(ctx)


def _archive_results_10(ctx: Context) -> None:
    _archive("IndicatorPeriod", "HLED-2021-10-R1-I1-P1", "HLED-2021-10-R1-I2-P1")(ctx)
    _archive("Indicator", "HLED-2021-10-R1-I1", "HLED-2021-10-R1-I2")(ctx)
    _archive("Result", "HLED-2021-10-R1")(ctx)


def _archive_report_11(ctx: Context) -> None:
    _archive("ProgressReport", "HLED-2021-11-PR1")(ctx)
    _archive_result_11(ctx)


def _archive_project_11(ctx: Context) -> None:
    _archive_report_11(ctx)
    _archive("Project", "HLED-2021-11")(ctx)


def _archive_pillar_p4_children(ctx: Context) -> None:
    _archive("ProgressReport", "HLED-2021-10-PR1", "HLED-2021-11-PR1")(ctx)
    _archive_results_10(ctx)
    _archive_result_11(ctx)
    _archive("Project", "HLED-2021-09", "HLED-2021-10", "HLED-2021-11")(ctx)
    _archive("Goal", "P4-G1", "P4-G2", "P4-G3")(ctx)


def _archive_pillar_p4(ctx: Context) -> None:
    _archive_pillar_p4_children(ctx)
    _archive("Pillar", "P4")(ctx)


def _archive_goal_p4_g3(ctx: Context) -> None:
    _archive_project_11(ctx)
    _archive("Goal", "P4-G3")(ctx)


# resource: (code archived and restored by the examples, setup for restore, for archive)
ARCHIVABLE: dict[str, tuple[str, Callable[[Context], None], Callable[[Context], None] | None]] = {
    "pillars": ("P4", _archive_pillar_p4, _archive_pillar_p4_children),
    "goals": ("P4-G3", _archive_goal_p4_g3, _archive_project_11),
    "agencies": ("MX-EMBAMEX", _archive("Agency", "MX-EMBAMEX"), None),
    "projects": ("HLED-2021-11", _archive_project_11, _archive_report_11),
    "meetings": ("HLED-M-2021-09-09", _archive("Meeting", "HLED-M-2021-09-09"), None),
    "progress": ("HLED-2021-11-PR1", _archive("ProgressReport", "HLED-2021-11-PR1"), None),
    "results": ("HLED-2021-11-R1", _archive_result_11, _archive_indicator_11),
    "indicators": ("HLED-2021-11-R1-I1", _archive_indicator_11, _archive_period_11),
    "periods": ("HLED-2021-11-R1-I1-P1", _archive_period_11, None),
}


def more_examples() -> dict[str, dict[str, Call]]:
    """operationId -> further named examples of its success response (the same method)."""
    return {
        "projects_list": {
            "brief": Call(
                "/api/v1/projects/",
                query="brief=true&pillar=P1",
                summary="Projects of P1, brief: code, URL and title",
            ),
        },
        "projects_retrieve": {
            "brief": Call(
                "/api/v1/projects/HLED-2021-01/",
                query="brief=true&lang=all",
                summary="A project, brief, in both languages",
            ),
            "expanded": Call(
                "/api/v1/projects/HLED-2021-01/",
                query="expand=goal,agencies,labels",
                summary="A project with its goal and agencies whole, and code labels",
            ),
        },
        "progress_list": {
            "brief": Call(
                "/api/v1/progress/", query="brief=true&pillar=P4", summary="Progress on P4, brief"
            ),
        },
        "goals_retrieve": {
            "expanded": Call(
                "/api/v1/goals/P1-G1/",
                query="expand=pillar",
                summary="A goal with its pillar whole",
            ),
        },
    }


def new_about(new: dict[str, Any]) -> str:
    """What a new object of an example is: its code, or where it goes."""
    parent = new.get("project") or new.get("result") or new.get("indicator")
    return str(new.get("code") or f"on {parent}")


def success_calls() -> dict[str, tuple[str, Call]]:
    """operationId -> (method, the request whose answer is the operation's example)."""
    calls: dict[str, tuple[str, Call]] = {
        "plan_retrieve": ("GET", Call("/api/v1/plan/", summary="The whole 2021 plan")),
        "summary_retrieve": (
            "GET",
            Call("/api/v1/summary/", summary="The 2021 plan in numbers, for anyone"),
        ),
        "codelists_list": ("GET", Call("/api/v1/codelists/", summary="Every codelist")),
        "codelists_retrieve": (
            "GET",
            Call(
                "/api/v1/codelists/activity-status/",
                query="lang=all",
                summary="IATI ActivityStatus in English and Spanish",
            ),
        ),
        "changes_list": (
            "GET",
            Call(
                "/api/v1/changes/",
                query="object_type=project&limit=2",
                summary="The first two project changes",
            ),
        ),
        "projects_bulk_upsert": (
            "POST",
            Call(
                "/api/v1/projects/bulk/",
                caller="editor",
                body=BULK,
                headers={"Idempotency-Key": "5b0e6f4a-2f0c-4d8e-9a51-0c7e4b6f3d92"},
                summary="Update one project and create another",
            ),
        ),
        "projects_export_csv": (
            "GET",
            Call("/api/v1/projects/export/csv/", query="pillar=P1", summary="Projects of P1"),
        ),
        "progress_export_csv": (
            "GET",
            Call("/api/v1/progress/export/csv/", query="pillar=P4", summary="Progress on P4"),
        ),
        "projects_progress_list": (
            "GET",
            Call("/api/v1/projects/HLED-2021-01/progress/", summary="Progress on HLED-2021-01"),
        ),
        "projects_progress_create": (
            "POST",
            Call(
                "/api/v1/projects/HLED-2021-01/progress/",
                caller="editor",
                body={k: v for k, v in NEW_PROGRESS.items() if k != "project"},
                headers={"Idempotency-Key": "3d9a4c1e-7b2f-4e6a-8f0d-5a1c2b3e4f60"},
                summary="Progress on HLED-2021-01, as its MX-SE editor reports it",
            ),
        ),
        "projects_results_list": (
            "GET",
            Call("/api/v1/projects/HLED-2021-10/results/", summary="Results of HLED-2021-10"),
        ),
        "projects_results_create": (
            "POST",
            Call(
                "/api/v1/projects/HLED-2021-01/results/",
                caller="editor",
                body={k: v for k, v in NEW_RESULT.items() if k != "project"},
                headers={"Idempotency-Key": "6e2b8f1a-4c3d-4b7e-9a2f-1d0c5e7b8a93"},
                summary="A result of HLED-2021-01, as its MX-SE editor sets it",
            ),
        ),
        "projects_export_iati": (
            "GET",
            Call("/api/v1/projects/export/iati/", query="goal=P1-G1", summary="Projects of P1-G1"),
        ),
        "webhooks_list": ("GET", Call("/api/v1/webhooks/", caller="admin", setup=_subscribe)),
        "webhooks_create": (
            "POST",
            Call("/api/v1/webhooks/", caller="admin", body=WEBHOOK, summary="MX-SE project events"),
        ),
        "webhooks_retrieve": ("GET", Call("/api/v1/webhooks/1/", caller="admin", setup=_subscribe)),
        "webhooks_update": (
            "PUT",
            Call(
                "/api/v1/webhooks/1/",
                caller="admin",
                setup=_subscribe,
                body={**WEBHOOK, "event_types": ["project.*", "goal.*"]},
                summary="Also goal events",
            ),
        ),
        "webhooks_partial_update": (
            "PATCH",
            Call(
                "/api/v1/webhooks/1/",
                caller="admin",
                setup=_subscribe,
                body={"is_active": False},
                summary="Pause deliveries",
            ),
        ),
        "webhooks_destroy": (
            "DELETE",
            Call("/api/v1/webhooks/1/", caller="admin", setup=_subscribe),
        ),
        "webhooks_deliveries_list": (
            "GET",
            Call(
                "/api/v1/webhooks/1/deliveries/",
                caller="admin",
                setup=_subscribe_and_deliver,
                summary="A delivery that succeeded on its second try",
            ),
        ),
        "webhooks_deliveries_redeliver_create": (
            "POST",
            Call(
                "/api/v1/webhooks/1/deliveries/1/redeliver/",
                caller="admin",
                setup=_deliveries_first_failed,
                summary="Send a failed delivery again",
            ),
        ),
    }
    for resource, (model, code, _) in RESOURCES.items():
        writer = "editor" if resource in EDITOR_RESOURCES else "admin"
        new: dict[str, Any] = NEW_OBJECTS[resource]
        replace_changes: dict[str, Any] = cast(
            dict[str, Any],
            {
                "pillars": {"description_en": "Building back together: supply chains and trade."},
                "goals": {"description_es": "Cadenas de suministro resilientes en la región."},
                "agencies": {"website": "https://www.gob.mx/se/"},
                "projects": {"status": "2", "planned_start": "2022-03-01"},
                "meetings": {"place_en": "Mexico City, Mexico"},
                "progress": PROGRESS_PATCH,
                "results": {"description_en": "Women entrepreneurs trained and supported."},
                "indicators": {"description_en": "Students enrolled for the semester."},
                "periods": {"target": {"value": "12"}},
            }[resource],
        )
        patch: dict[str, Any] = cast(
            dict[str, Any],
            {
                "pillars": {"name_es": "Reconstruir juntos"},
                "goals": {"title_en": "Resilient regional supply chains"},
                "agencies": {"website": "https://www.gob.mx/se/"},
                "projects": PROJECT_PATCH,
                "meetings": {"place_en": "Mexico City, Mexico"},
                "progress": PROGRESS_PATCH,
                "results": {"type": "2"},
                "indicators": {"description_es": "Estudiantes inscritos en el semestre."},
                "periods": {"target": {"value": "12", "comment_en": "Set after the semester"}},
            }[resource],
        )
        detail = f"/api/v1/{resource}/{code}/"
        singular = SINGULAR.get(model, model.lower())
        list_query = {
            "pillars": "",
            "goals": "pillar=P1",
            "agencies": "country=MX",
            "projects": "pillar=P1&page_size=2",
            "meetings": "kind=ministerial&page_size=2",
            "progress": "pillar=P4",
            "results": "pillar=P4",
            "indicators": "project=HLED-2021-10",
            "periods": "agency=SE",
        }[resource]
        restore_code, archive, before_destroy = ARCHIVABLE[resource]
        calls.update(
            {
                f"{resource}_list": (
                    "GET",
                    Call(
                        f"/api/v1/{resource}/",
                        query=list_query,
                        summary=f"{resource.capitalize()}"
                        + (f" ({list_query})" if list_query else ""),
                    ),
                ),
                f"{resource}_retrieve": ("GET", Call(detail, summary=code)),
                f"{resource}_create": (
                    "POST",
                    Call(
                        f"/api/v1/{resource}/",
                        caller=writer,
                        body=new,
                        headers={"Idempotency-Key": "8c6f1d8e-3f5e-4a59-9d63-4d1c1f0b7a21"},
                        summary=f"New {singular} {new_about(new)}",
                    ),
                ),
                f"{resource}_update": (
                    "PUT",
                    Call(
                        detail,
                        caller=writer,
                        body=_write_state(model, code, **replace_changes),
                        if_match=True,
                        summary=f"Whole {singular} {code}, one field changed",
                    ),
                ),
                f"{resource}_partial_update": (
                    "PATCH",
                    Call(
                        detail,
                        caller=writer,
                        body=patch,
                        if_match=True,
                        summary=f"Change {', '.join(patch)} of {code}",
                    ),
                ),
                f"{resource}_destroy": (
                    "DELETE",
                    Call(
                        f"/api/v1/{resource}/{restore_code}/",
                        caller="admin",
                        if_match=True,
                        setup=before_destroy,
                    ),
                ),
                f"{resource}_restore": (
                    "POST",
                    Call(
                        f"/api/v1/{resource}/{restore_code}/restore/",
                        caller="admin",
                        setup=archive,
                        summary=f"Restore {restore_code}",
                    ),
                ),
            }
        )
    return calls


# -- problem scenarios -----------------------------------------------------------------

INVALID_BODIES: dict[str, dict[str, Any]] = {
    "pillars": {"number": 0, "name_en": ""},
    "goals": {"pillar": "P9"},
    "agencies": {"country": "XX", "website": "gob.mx"},
    "projects": {"status": "9", "planned_end": "2021-13-01"},
    "meetings": {"kind": "summit", "date": "2022-02-30"},
    "progress": {"source": {"kind": "rumour", "title": "Heard in a corridor"}},
    "results": {"type": "7", "title_en": ""},
    "indicators": {"measure": "9", "baseline": {"year": 1492}},
    "periods": {"start": "2024-13-01", "target": {"value": "many"}},
    "webhooks": {"url": "ftp://partner.example.org/hooks", "event_types": ["project.move"]},
}
BIG_BODY_BYTES = 1024 * 1024 + 1


def problem_call(op_id: str, method: str, status: int, success: Call) -> Call | None:
    """The request that makes this operation answer `status`, or None where no request can."""
    resource = op_id.split("_", 1)[0]
    detail = re.search(r"/(\d+|[A-Z0-9-]+)/", success.path) is not None
    writes = method in ("POST", "PUT", "PATCH", "DELETE")
    conditional = resource in RESOURCES and method in ("PUT", "PATCH", "DELETE")
    base = replace(success, summary="")
    if status == 400:
        if method in ("POST", "PUT", "PATCH") and success.body is not None:
            bad: dict[str, Any] = INVALID_BODIES.get(resource, {"colour": "red"})
            if op_id == "projects_bulk_upsert":
                bad = {"projects": [{"code": "HLED-2021-01", "status": "9"}, {"code": "hled 1"}]}
            elif op_id == "projects_progress_create":
                bad = INVALID_BODIES["progress"]
            elif op_id == "projects_results_create":
                bad = INVALID_BODIES["results"]
            elif method == "PATCH":
                bad = dict(list(bad.items())[:1])
            elif method in ("POST", "PUT") and resource != "webhooks":
                body = success.body
                bad = {**(body if isinstance(body, dict) else {}), **bad}
                if callable(body):
                    bad_fields = bad
                    return replace(base, body=lambda ctx: {**body(ctx), **bad_fields})
            return replace(base, body=bad)
        return replace(base, query="colour=red", body=None if method != "POST" else success.body)
    if status == 401:
        if not writes and not op_id.startswith("webhooks"):
            return replace(base, caller="bad_token", if_match=False)
        return replace(base, caller="anonymous", if_match=False)
    if status == 403:
        if op_id.startswith("webhooks"):
            return replace(base, caller="editor", if_match=False)
        if not writes:
            return None
        if op_id.endswith("_restore"):
            return replace(base, caller="editor")
        if resource in EDITOR_RESOURCES:
            if op_id in (
                "projects_create",
                "projects_bulk_upsert",
                "progress_create",
                "results_create",
                "indicators_create",
                "periods_create",
            ):
                return replace(base, caller="reader")
            return replace(base, caller="other_editor", if_match=conditional)
        return replace(base, caller="editor", if_match=False)
    if status == 404:
        if op_id.startswith("webhooks") and detail:
            path = success.path.replace("/1/", "/404/", 1)
            return replace(base, path=path, body=base.body, if_match=False)
        if resource in RESOURCES and detail and not op_id.endswith(("_list", "_create")):
            model, code, unknown = RESOURCES[resource]
            path = re.sub(r"/[A-Z0-9-]+/(restore/)?$", f"/{unknown}/\\1", success.path)
            return replace(base, path=path, if_match=False, setup=None)
        if op_id == "codelists_retrieve":
            return replace(base, path="/api/v1/codelists/colours/")
        if op_id.startswith("projects_progress_"):  # a project nobody can see
            return replace(base, path="/api/v1/projects/HLED-2021-99/progress/")
        if op_id.startswith("projects_results_"):
            return replace(base, path="/api/v1/projects/HLED-2021-99/results/")
        if op_id.endswith("_list") and resource in (*RESOURCES, "webhooks"):
            return replace(base, query="page=99")
        return None
    if status == 406:
        accept = "application/json" if "export" in op_id else "application/xml"
        return replace(base, headers={**base.headers, "Accept": accept})
    if status == 409:
        if "Idempotency-Key" in success.headers:
            return replace(base, setup=_chain(success.setup, _key_in_flight(success)))
        if (
            op_id.endswith("_destroy")
            and resource in RESOURCES
            and resource
            not in (
                "projects",
                "progress",
                "periods",
            )
        ):
            code = RESOURCES[resource][1]
            return replace(base, path=f"/api/v1/{resource}/{code}/", setup=None)
        if op_id == "projects_restore":
            return replace(base, setup=_chain(success.setup, _archive("Goal", "P4-G3")))
        if op_id == "goals_restore":
            return replace(base, setup=_chain(success.setup, _archive_pillar_rest))
        return None
    if status == 412:
        return replace(base, if_match=False, setup=_chain(success.setup, _stale_etag(success)))
    if status == 411:
        return replace(base, headers={**base.headers, "Transfer-Encoding": "chunked"})
    if status == 413:
        if method == "GET":
            return None  # the test client cannot send a body with GET; rendered instead
        return replace(base, body={"description_en": "x" * BIG_BODY_BYTES}, if_match=conditional)
    if status == 415:
        return replace(
            base,
            body="status=2",
            content_type="application/x-www-form-urlencoded",
            if_match=conditional,
        )
    if status == 422 and "Idempotency-Key" in success.headers:
        return replace(base, setup=_chain(success.setup, _key_used(success)))
    if status == 428:
        return replace(base, if_match=False, headers={})
    if status == 429:
        return replace(base, headers={**base.headers, "X-Throttle-Example": "1"})
    return None


def _archive_pillar_rest(ctx: Context) -> None:
    _archive("ProgressReport", "HLED-2021-10-PR1")(ctx)
    _archive_results_10(ctx)
    _archive("Project", "HLED-2021-09", "HLED-2021-10")(ctx)
    _archive("Goal", "P4-G1", "P4-G2")(ctx)
    _archive("Pillar", "P4")(ctx)


def _chain(*steps: Callable[[Context], None] | None) -> Callable[[Context], None]:
    def run(ctx: Context) -> None:
        for step in steps:
            if step is not None:
                step(ctx)

    return run


def _key_in_flight(success: Call) -> Callable[[Context], None]:
    """Another request with the same Idempotency-Key is still running."""

    def setup(ctx: Context) -> None:
        from api.idempotency import _fingerprint
        from api.models import IdempotencyRecord
        from workplan.models import ApiToken

        token = ApiToken.objects.get(prefix=ctx.tokens[success.caller].split("_")[1])
        body = success.body(ctx) if callable(success.body) else success.body
        request = SimpleNamespace(method="POST", path=success.path, data=body)
        fingerprint = _fingerprint(request)  # type: ignore[arg-type]
        IdempotencyRecord.objects.create(
            user=token.user,
            key=success.headers["Idempotency-Key"],
            method="POST",
            path=success.path,
            request_hash=fingerprint,
            created_at=EDITED_AT,
        )

    return setup


def _key_used(success: Call) -> Callable[[Context], None]:
    """The same Idempotency-Key was used for another body; the example sends the new one."""

    def setup(ctx: Context) -> None:
        body = success.body(ctx) if callable(success.body) else success.body
        first = copy.deepcopy(body)
        if "projects" in first and "code" not in first:
            first["projects"] = first["projects"][:1]
        elif "code" in first:
            first["code"] = first["code"][:-1] + "9"
        elif "narrative_en" in first:  # an issued code: another text makes it another request
            first["narrative_en"] = first["narrative_en"].replace("workshops", "meetings")
        elif "title_en" in first:
            first["title_en"] += " (first version)"
        else:
            first["end"] = "2024-11-30"
        response = ctx.send(
            "POST", success.path, caller=success.caller, body=first, headers=success.headers
        )
        assert response.status_code in (200, 201), response.content

    return setup


def _stale_etag(success: Call) -> Callable[[Context], None]:
    """Read the object, then someone else changes it: the ETag read is stale."""

    def setup(ctx: Context) -> None:
        path = success.path.removesuffix("restore/")
        etag = ctx.etag(path, success.caller)
        resource = path.split("/")[3]
        model = apps.get_model("workplan", RESOURCES[resource][0])
        model.objects.filter(code=path.rstrip("/").rsplit("/", 1)[1]).update(
            version=F("version") + 1
        )
        ctx.stale_etag = etag  # type: ignore[attr-defined]

    return setup


# -- running ------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


def _reset_sequences() -> None:
    """Next ids follow the rows present, as on a fresh database (PostgreSQL does not roll
    sequences back with a transaction; SQLite does)."""
    models = [m for name in ("workplan", "api") for m in apps.get_app_config(name).get_models()]
    statements = connection.ops.sequence_reset_sql(no_style(), models)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


@contextmanager
def _deterministic() -> Iterator[Any]:
    """Seeded randomness, no throttling (unless asked), webhook hosts that resolve."""
    import time_machine
    from rest_framework.throttling import SimpleRateThrottle

    from api.throttling import BadTokenBrake, WindowThrottle

    rng = random.Random(SEED)

    def token_bytes(nbytes: int | None = None) -> bytes:
        return rng.randbytes(32 if nbytes is None else nbytes)

    def uuid4() -> uuid.UUID:
        return uuid.UUID(bytes=rng.randbytes(16), version=4)

    def allow_request(self: Any, request: Any, view: Any) -> bool:
        if request.headers.get("X-Throttle-Example") and self.scope in ("anon", "token", "export"):
            self.history, self.now = [], 0.0
            return False
        return True

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (WEBHOOK_HOST_ADDRESS, port))]

    with ExitStack() as stack:
        stack.enter_context(mock.patch("secrets.token_bytes", token_bytes))
        stack.enter_context(mock.patch("uuid.uuid4", uuid4))
        stack.enter_context(mock.patch.object(SimpleRateThrottle, "allow_request", allow_request))
        stack.enter_context(mock.patch.object(SimpleRateThrottle, "wait", lambda self: 30.0))
        stack.enter_context(mock.patch.object(WindowThrottle, "allow_request", allow_request))
        stack.enter_context(mock.patch.object(WindowThrottle, "wait", lambda self: 30.0))
        # The revoked-token examples are not guesses: they never trip the brake.
        stack.enter_context(mock.patch.object(BadTokenBrake, "failed", lambda self, request: None))
        stack.enter_context(mock.patch("workplan.webhooks.socket.getaddrinfo", getaddrinfo))
        # The examples give up on deliveries on purpose; that is no news.
        stack.enter_context(mock.patch("workplan.webhooks.logger"))
        stack.enter_context(
            override_settings(
                ALLOWED_HOSTS=[HOST],
                API_PUBLIC_URL=PUBLIC_URL,
                API_ANONYMOUS_READ=True,
                API_MAX_BODY_BYTES=1024 * 1024,
                WEBHOOK_ALLOWED_PRIVATE_NETWORKS=[],
            )
        )
        traveller = stack.enter_context(time_machine.travel(LOADED_AT, tick=False))
        yield traveller


def _record(response: Any, summary: str, call: Call, method: str) -> dict[str, Any]:
    content_type = response.get("Content-Type", "")
    if not response.body_bytes:
        value: Any = None
    elif "json" in content_type:
        value = json.loads(response.body_bytes)
    else:
        value = response.body_bytes.decode()
    query = f"?{call.query}" if call.query else ""
    who = CALLER_LABELS[call.caller]
    entry: dict[str, Any] = {
        "summary": summary or f"{method} {call.path}{query}",
        "description": f"`{method} {call.path}{query}` as {who}.",
        "value": value,
    }
    headers = {
        name: response[name]
        for name in ("ETag", "Location", "Retry-After", "WWW-Authenticate", "Content-Language")
        if response.has_header(name)
    }
    if headers:
        entry["headers"] = headers
    return entry


def _run(ctx: Context, method: str, call: Call) -> Any:
    if call.setup is not None:
        call.setup(ctx)
    headers = dict(call.headers)
    stale = getattr(ctx, "stale_etag", None)
    if stale:
        headers["If-Match"] = stale
        ctx.stale_etag = None  # type: ignore[attr-defined]
    elif call.if_match:
        path = call.path.removesuffix("restore/")
        headers["If-Match"] = ctx.etag(path, "admin")
    body = call.body(ctx) if callable(call.body) else call.body
    response = ctx.send(
        method,
        call.path,
        caller=call.caller,
        body=body,
        query=call.query,
        headers=headers,
        content_type=call.content_type,
    )
    return response, body


def _scenario(ctx: Context, method: str, call: Call) -> tuple[Any, Any]:
    """Run one call in a savepoint that is rolled back, so every call sees the same plan."""
    result: tuple[Any, Any] = (None, None)
    try:
        with transaction.atomic():
            result = _run(ctx, method, call)
            raise _Rollback
    except _Rollback:
        pass
    _reset_sequences()
    return result


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def render_examples() -> dict[str, Any]:
    """Load the real plan into the (empty, throwaway) database and record the API's answers.

    Call it inside a database that holds no plan yet; it leaves the plan and the example
    callers behind (the management command drops the database afterwards).
    """
    from drf_spectacular.generators import SchemaGenerator

    from workplan.models import Pillar

    if Pillar.objects.exists():
        raise RuntimeError("render_examples needs an empty database: it loads the plan itself.")
    schema = SchemaGenerator(api_version="v1").get_schema(request=None, public=True)
    calls = success_calls()
    more = more_examples()
    out: dict[str, Any] = {"operations": {}, "webhooks": {}}
    with _deterministic() as traveller:
        _reset_sequences()
        call_command("load_workplan", stdout=io.StringIO())
        tokens = {}
        for caller, args in CALLERS.items():
            stdout = io.StringIO()
            call_command("create_api_token", *args, stdout=stdout)
            tokens[caller] = stdout.getvalue().strip()
        traveller.move_to(EDITED_AT)
        ctx = Context(tokens)
        for path, method, operation in _operations(schema):
            op_id = operation["operationId"]
            if op_id not in calls:
                raise KeyError(f"No example request for {op_id} ({method} {path}).")
            call_method, call = calls[op_id]
            assert call_method == method, (op_id, call_method, method)
            entry: dict[str, Any] = {"responses": {}}
            statuses = sorted(s for s in operation["responses"] if s.isdigit())
            for status in statuses:
                code = int(status)
                if 200 <= code < 300:
                    response, body = _scenario(ctx, method, call)
                    if response.status_code != code:
                        raise AssertionError(
                            f"{op_id}: expected {code}, got {response.status_code}: "
                            f"{response.body_bytes[:500]!r}"
                        )
                    if body is not None:
                        entry["request"] = {"summary": call.summary or op_id, "value": body}
                    if response.body_bytes:
                        entry["responses"][status] = _record(response, call.summary, call, method)
                    for name, extra in more.get(op_id, {}).items():
                        response, _ = _scenario(ctx, method, extra)
                        assert response.status_code == code, (op_id, name, response.status_code)
                        entry.setdefault("more", {})[name] = _record(
                            response, extra.summary, extra, method
                        )
                elif code >= 400:
                    problem = problem_call(op_id, method, code, call)
                    entry["responses"][status] = _problem_entry(ctx, method, op_id, code, problem)
            out["operations"][op_id] = entry
        out["webhooks"]["planChanged"] = _webhook_payload(ctx)
    return out


def _problem_entry(
    ctx: Context, method: str, op_id: str, status: int, call: Call | None
) -> dict[str, Any]:
    if call is not None:
        response, _ = _scenario(ctx, method, call)
        if response.status_code == status:
            entry = _record(response, "", call, method)
            entry["summary"] = entry["value"]["title"]
            return entry
        raise AssertionError(
            f"{op_id}: expected {status}, got {response.status_code}: {response.body_bytes[:300]!r}"
        )
    return _rendered_problem(op_id, method, status)


def _rendered_problem(op_id: str, method: str, status: int) -> dict[str, Any]:
    """A status no single request provokes here (a race, say): the API's own exception for
    that case, rendered as its exception handler renders it."""
    from django.db import IntegrityError
    from rest_framework import exceptions

    from api import errors

    success = success_calls()[op_id][1]
    instance = success.path + (f"?{success.query}" if success.query else "")
    raised: dict[int, Callable[[], Exception]] = {
        403: exceptions.PermissionDenied,
        404: exceptions.NotFound,
        405: lambda: exceptions.MethodNotAllowed(method),
        # Validation runs first, so a 409 on a plain write means a race (IntegrityError).
        409: lambda: errors.as_api_exception(IntegrityError()),
        412: errors.PreconditionFailed,
        413: errors.ContentTooLarge,
        422: errors.UnprocessableContent,
        428: errors.PreconditionRequired,
    }
    if status == 503:
        body = errors.problem(
            503,
            "The database is unavailable; retry later.",
            code="database_unavailable",
            instance=instance,
        )
        return {"summary": body["title"], "description": "", "value": body}
    if status not in raised:
        body = errors.problem(status, instance=instance)
        return {"summary": body["title"], "description": "", "value": body}
    exc = raised[status]()
    assert isinstance(exc, exceptions.APIException)
    codes = exc.get_codes()
    body = errors.problem(
        exc.status_code,
        str(exc.detail),
        code=codes if isinstance(codes, str) else None,
        instance=instance,
    )
    return {
        "summary": "A concurrent change" if status == 409 else body["title"],
        "description": f"`{method} {instance}` when this happens.",
        "value": body,
    }


def _webhook_payload(ctx: Context) -> dict[str, Any]:
    """The body of the delivery made for the PATCH example, as the MX-SE subscription gets it."""
    from workplan.models import WebhookDelivery

    payload: dict[str, Any] = {}

    def capture(ctx: Context) -> None:
        _subscribe_and_deliver(ctx)
        payload.update(json.loads(WebhookDelivery.objects.get().payload))

    _scenario(ctx, "GET", Call("/api/v1/", setup=capture))
    return {"summary": "project.update, as the MX-SE subscription receives it", "value": payload}


def dump_examples(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


# -- merging into the schema ---------------------------------------------------------------

PROBLEM_MEDIA = "application/problem+json"


def _example_key(status: str, entry: dict[str, Any]) -> str:
    value = entry.get("value")
    if isinstance(value, dict) and status.startswith(("4", "5")) and value.get("code"):
        return str(value["code"])
    return "example"


def merge_examples(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: examples from api/v1/examples.json."""
    if not EXAMPLES_PATH.exists():
        return result
    data = json.loads(EXAMPLES_PATH.read_text(encoding="utf-8"))
    operations = data.get("operations", {})
    for item in result.get("paths", {}).values():
        for operation in item.values():
            entry = operations.get(operation.get("operationId"))
            if entry is None:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                body.pop("examples", None)
                if "request" in entry:
                    body["examples"] = {
                        "example": {
                            "summary": entry["request"]["summary"],
                            "value": entry["request"]["value"],
                        }
                    }
            for status, response in operation.get("responses", {}).items():
                example = entry["responses"].get(status)
                if example is None:
                    continue
                for media, content in response.get("content", {}).items():
                    if example["value"] is None:
                        continue
                    if status.startswith(("4", "5")) and media != PROBLEM_MEDIA:
                        continue
                    item_example: dict[str, Any] = {
                        "summary": example["summary"],
                        "value": example["value"],
                    }
                    if example.get("description"):
                        item_example["description"] = example["description"]
                    content["examples"] = {_example_key(status, example): item_example}
                    if status.startswith("2"):
                        for name, extra in entry.get("more", {}).items():
                            content["examples"][name] = {
                                key: extra[key] for key in ("summary", "description", "value")
                            }
                for name, header in response.get("headers", {}).items():
                    if name in example.get("headers", {}):
                        value = example["headers"][name]
                        if header.get("schema", {}).get("type") == "integer":
                            value = int(value)
                        header["example"] = value
    for name, path_item in result.get("webhooks", {}).items():
        entry = data.get("webhooks", {}).get(name)
        if entry is None:
            continue
        for operation in path_item.values():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content is not None:
                content["examples"] = {
                    "example": {"summary": entry["summary"], "value": entry["value"]}
                }
    return result
