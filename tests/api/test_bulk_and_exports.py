"""Bulk upsert of projects, and the exports: CSV, IATI 2.03 XML and the whole plan as JSON.

The world is the real 2021 plan plus two unpublished projects: HLED-2026-01 of
agency A (MX-SE only) and HLED-2026-02 of agency B (US-DOC only). Every export is
checked against what the list endpoints show the same caller, with the same filters.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from lxml import etree
from rest_framework.test import APIClient

from api import exports
from api.exports import CSV_COLUMNS
from api.models import IdempotencyRecord
from tests.conftest import (
    IATI_SCHEMA,
    assert_problem,
    get_ok,
    list_all,
    make_user,
    parsed,
    token_client,
)
from tests.factories import AgencyFactory, GoalFactory, ProjectFactory
from workplan import services
from workplan.choices import Role
from workplan.models import (
    Agency,
    AuditEvent,
    Goal,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_throttling")]

A = "MX-SE"
B = "US-DOC"
UNPUBLISHED_OF_A = "HLED-2026-01"
UNPUBLISHED_OF_B = "HLED-2026-02"
BULK = "/api/v1/projects/bulk/"
CSV_URL = "/api/v1/projects/export/csv/"
IATI_URL = "/api/v1/projects/export/iati/"
PLAN_URL = "/api/v1/plan/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


# -- world -------------------------------------------------------------------------------


def _unpublished(code: str, goal: str, agency: str, **extra: Any) -> None:
    services.plan_object_create(
        model=Project,
        data={
            "code": code,
            "goal": Goal.objects.get(code=goal),
            "title_en": f"Unpublished pilot {code}",
            "title_es": f"Piloto no publicado {code}",
            "description_en": "Not announced yet.",
            "description_es": "Aún no anunciado.",
            "status": "2",
            "is_published": False,
            "planned_start": date(2026, 1, 15),
            "planned_end": date(2026, 12, 31),
            "countries": ["MX", "US"],
            "agency_roles": [
                {"agency": Agency.objects.get(code=agency), "role": "4", "is_lead": True}
            ],
            **extra,
        },
        actor=services.SYSTEM,
    )


@pytest.fixture
def clients(real_plan: None) -> dict[str, Any]:
    _unpublished(
        UNPUBLISHED_OF_A, "P1-G1", A, budget_amount=Decimal("250000.00"), budget_currency="USD"
    )
    _unpublished(UNPUBLISHED_OF_B, "P2-G1", B, countries=["US"])
    return {
        "anonymous": token_client(),
        "reader_a": token_client(make_user("reader-se", Role.READER, A)),
        "editor_a": token_client(make_user("editor-se", Role.EDITOR, A)),
        "editor_b": token_client(make_user("editor-doc", Role.EDITOR, B)),
        "admin": token_client(make_user("plan-admin", Role.ADMIN)),
    }


# -- helpers -----------------------------------------------------------------------------


def list_codes(client: Any, resource: str, query: str = "") -> list[str]:
    body = get_ok(client, f"/api/v1/{resource}/?page_size=100{'&' + query if query else ''}")
    assert body["next"] is None
    return [item["code"] for item in body["results"]]


def both(item: dict[str, Any], name: str) -> tuple[str, str]:
    return item["translations"]["en"][name], item["translations"]["es"][name]


def db_state() -> dict[str, Any]:
    """Every row a project write can touch, and the size of the audit trail."""
    return {
        "projects": list(Project.objects.order_by("code").values()),
        "roles": list(ProjectAgencyRole.objects.order_by("pk").values()),
        "countries": list(ProjectCountry.objects.order_by("pk").values()),
        "links": list(ProjectLink.objects.order_by("pk").values()),
        "audit": AuditEvent.objects.count(),
    }


# -- bulk upsert ---------------------------------------------------------------------------


def new_item(code: str, agency: str = A, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "goal": "P1-G2",
        "title_en": f"Bulk project {code}",
        "title_es": f"Proyecto masivo {code}",
        "description_en": "Created in bulk.",
        "description_es": "Creado en bloque.",
        "status": "1",
        "countries": ["MX", "US"],
        "participating_agencies": [{"agency": agency, "role": "4", "is_lead": True}],
        **extra,
    }


def bulk(client: Any, items: Any, **extra: Any) -> Any:
    return client.post(BULK, {"projects": items}, format="json", **extra)


BAD_ITEMS = {
    # refused by the serializer
    "unknown status": {"status": "9"},
    "unknown goal": {"goal": "P9-G9"},
    "unknown country": {"countries": ["MX", "XX"]},
    # refused by the model's rules inside the service, after earlier items were written
    "end before start": {"planned_start": "2026-06-01", "planned_end": "2026-01-01"},
    "two leads for one country": {
        "participating_agencies": [
            {"agency": A, "role": "4", "is_lead": True},
            {"agency": "MX-SRE", "role": "4", "is_lead": True},
        ]
    },
    "an agency twice": {
        "participating_agencies": [
            {"agency": A, "role": "4", "is_lead": True},
            {"agency": A, "role": "3"},
        ]
    },
    # A new code creates a project: without a goal there is nothing to create it under.
    "a new code without a goal": {"goal": None},
}
BAD_FIELDS = {
    "unknown status": "projects.1.status",
    "unknown goal": "projects.1.goal",
    "unknown country": "projects.1.countries",
    "end before start": "projects.1.planned_end",
    "two leads for one country": "projects.1.participating_agencies",
    "an agency twice": "projects.1.participating_agencies",
    "a new code without a goal": "projects.1.goal",
}


@pytest.mark.parametrize("bad", BAD_ITEMS)
def test_bulk_is_all_or_nothing(clients, bad):
    clients["admin"].raise_request_exception = False  # a 500 shows as a wrong status
    before = db_state()
    item = {k: v for k, v in new_item("HLED-2026-11", **BAD_ITEMS[bad]).items() if v is not None}
    items = [
        new_item("HLED-2026-10"),
        item,
        {"code": "HLED-2021-01", "title_en": "Changed in a failed bulk request"},
        new_item("HLED-2026-12"),
    ]
    body = assert_problem(bulk(clients["admin"], items), 400)
    assert db_state() == before
    assert not Project.objects.filter(code__in=["HLED-2026-10", "HLED-2026-12"]).exists()
    assert body["errors"], body
    for error in body["errors"]:
        assert error["index"] == 1 and error["item_code"] == "HLED-2026-11", error
        assert error["field"].startswith("projects.1"), error
        assert error["code"] and error["message"]
    assert any(e["field"].startswith(BAD_FIELDS[bad]) for e in body["errors"]), body


def test_bulk_reports_every_failing_item(clients):
    before = db_state()
    items = [
        {"code": "HLED-2021-01", "status": "2"},
        {"code": "HLED-2021-02", "status": "0"},
        new_item("HLED-2026-10"),
        {"code": "HLED-2021-03", "planned_start": "not a date"},
    ]
    body = assert_problem(bulk(clients["admin"], items), 400)
    assert db_state() == before
    failing = {(e["index"], e["item_code"], e["field"]) for e in body["errors"]}
    assert failing == {
        (1, "HLED-2021-02", "projects.1.status"),
        (3, "HLED-2021-03", "projects.3.planned_start"),
    }


def test_bulk_creates_updates_and_counts_unchanged(clients):
    admin = clients["admin"]
    last_event = AuditEvent.objects.order_by("pk").last()
    old_title_es = Project.objects.get(code="HLED-2021-01").title_es
    unchanged = Project.objects.values().get(code="HLED-2021-02")
    items = [
        new_item(
            "HLED-2026-20",
            links=[{"url": "https://example.org/a", "label_en": "A", "label_es": "A"}],
        ),
        {"code": "HLED-2021-01", "status": "2", "title_es": "Cadenas de suministro"},
        {"code": "HLED-2021-02", "status": unchanged["status"]},
        new_item(
            "HLED-2026-21",
            agency=B,
            budget={"amount": "1000.50", "currency": "USD"},
            is_published=True,
        ),
        {"code": UNPUBLISHED_OF_A, "is_published": True},
    ]
    response = bulk(admin, items, HTTP_X_REQUEST_ID="bulk-request-1")
    assert response.status_code == 200, response.content[:800]
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 2, 1)
    assert body["results"] == [
        {"code": code, "status": status, "url": f"http://testserver/api/v1/projects/{code}/"}
        for code, status in [
            ("HLED-2026-20", "created"),
            ("HLED-2021-01", "updated"),
            ("HLED-2021-02", "unchanged"),
            ("HLED-2026-21", "created"),
            (UNPUBLISHED_OF_A, "updated"),
        ]
    ]

    # One audit event per changed item, none for the unchanged one.
    events = list(AuditEvent.objects.filter(pk__gt=last_event.pk).order_by("pk"))
    assert [(e.action, e.object_code) for e in events] == [
        ("create", "HLED-2026-20"),
        ("update", "HLED-2021-01"),
        ("create", "HLED-2026-21"),
        ("update", UNPUBLISHED_OF_A),
    ]
    for event in events:
        assert event.via == "api"
        assert event.request_id == "bulk-request-1"
        assert event.user == admin.user and event.token_prefix
    assert events[1].changes == {
        "status": {"before": "1", "after": "2"},
        "title_es": {"before": old_title_es, "after": "Cadenas de suministro"},
    }
    assert events[3].changes == {"is_published": {"before": False, "after": True}}
    assert Project.objects.values().get(code="HLED-2021-02") == unchanged

    # What was written reads back through the API, to anyone now.
    anonymous = clients["anonymous"]
    created = get_ok(anonymous, "/api/v1/projects/HLED-2026-21/?lang=all")
    assert both(created, "title") == ("Bulk project HLED-2026-21", "Proyecto masivo HLED-2026-21")
    assert created["budget"] == {"amount": "1000.50", "currency": "USD"}
    assert [p["agency"]["code"] for p in created["participating_agencies"]] == [B]
    # Projects are created unpublished unless the admin says otherwise.
    assert anonymous.get("/api/v1/projects/HLED-2026-20/").status_code == 404
    assert get_ok(admin, "/api/v1/projects/HLED-2026-20/")["links"][0]["url"] == (
        "https://example.org/a"
    )
    assert get_ok(anonymous, f"/api/v1/projects/{UNPUBLISHED_OF_A}/")["is_published"] is True
    assert get_ok(anonymous, "/api/v1/projects/HLED-2021-01/")["status"] == "2"


EDITOR_REFUSALS: dict[str, tuple[dict[str, Any], str, str | None]] = {
    # item, field of the error, words of the message
    "a published project of another agency": (
        {"code": "HLED-2021-03", "status": "2"},
        "projects.1.code",
        "does not take part",
    ),
    "publishing": (
        {"code": "HLED-2021-04", "is_published": False},
        "projects.1.is_published",
        None,
    ),
    "changing another agency's entry": (
        {
            "code": "HLED-2021-02",
            "participating_agencies": [
                {"agency": A, "role": "4", "source": "inferred"},
                {"agency": B, "role": "1", "source": "inferred"},
            ],
        },
        "projects.1.participating_agencies",
        None,
    ),
    "removing another agency": (
        {
            "code": "HLED-2021-02",
            "participating_agencies": [{"agency": A, "role": "4", "source": "inferred"}],
        },
        "projects.1.participating_agencies",
        None,
    ),
    "creating without its agency": (
        new_item("HLED-2026-30", agency=B),
        "projects.1.participating_agencies",
        None,
    ),
}


@pytest.mark.parametrize("case", EDITOR_REFUSALS)
def test_editor_bulk_refuses_an_item_beyond_its_rights(clients, case):
    item, field, words = EDITOR_REFUSALS[case]
    before = db_state()
    items = [{"code": "HLED-2021-01", "status": "2"}, item]  # the first is within its rights
    body = assert_problem(bulk(clients["editor_a"], items), 400)
    assert db_state() == before
    assert {(e["index"], e["item_code"]) for e in body["errors"]} == {(1, item["code"])}
    assert any(e["field"].startswith(field) for e in body["errors"]), body
    if words:
        assert any(words in e["message"] for e in body["errors"]), body


def test_editor_bulk_says_already_in_use_for_a_project_it_cannot_see(clients):
    secret = Project.objects.get(code=UNPUBLISHED_OF_B)
    before = db_state()
    for item in (
        {"code": UNPUBLISHED_OF_B, "status": "3"},  # as an update
        new_item(UNPUBLISHED_OF_B),  # as a creation
    ):
        response = bulk(clients["editor_a"], [item])
        body = assert_problem(response, 400)
        assert [(e["index"], e["item_code"], e["field"], e["message"]) for e in body["errors"]] == [
            (0, UNPUBLISHED_OF_B, "projects.0.code", "This code is already in use.")
        ]
        # Nothing about the project itself: not its title, not that A lacks a part in it.
        assert secret.title_en.encode() not in response.content
        assert b"take part" not in response.content and b"unpublished" not in response.content
    assert db_state() == before
    # Its own agency's editor may update it.
    response = bulk(clients["editor_b"], [{"code": UNPUBLISHED_OF_B, "status": "3"}])
    assert response.status_code == 200, response.content[:800]


def test_bulk_lists_every_failing_item_whatever_the_rule(clients):
    """The documented contract: the 400 lists each failing item, not just the first kind."""
    before = db_state()
    items = [
        {"code": "HLED-2021-01", "status": "2"},
        {"code": "HLED-2021-03", "status": "2"},  # refused before validation: not A's
        {"code": "HLED-2021-04", "is_published": False},  # refused by the editor rules
        {"code": "HLED-2021-08", "planned_start": "2026-06-01", "planned_end": "2026-01-01"},
    ]
    body = assert_problem(bulk(clients["editor_a"], items), 400)
    assert db_state() == before
    assert {e["index"] for e in body["errors"]} == {1, 2, 3}, body


def test_editor_bulk_within_its_rights(clients):
    editor = clients["editor_a"]
    response = bulk(
        editor,
        [
            {"code": "HLED-2021-01", "status": "2"},
            {"code": UNPUBLISHED_OF_A, "title_en": "Renamed by its agency"},
            new_item("HLED-2026-31"),
        ],
    )
    assert response.status_code == 200, response.content[:800]
    assert [r["status"] for r in response.json()["results"]] == ["updated", "updated", "created"]
    created = Project.objects.get(code="HLED-2026-31")
    assert created.is_published is False  # editors' projects wait for a plan admin
    events = AuditEvent.objects.filter(via="api").order_by("pk")
    assert [e.agency.code for e in events] == [A, A, A]


@pytest.mark.parametrize(
    ("caller", "status"),
    [("anonymous", 401), ("reader_a", 403), ("editor_read_token", 403)],
)
def test_bulk_needs_a_writer(clients, caller, status):
    client = clients.get(caller) or token_client(make_user("editor-read", Role.EDITOR, A), "read")
    before = db_state()
    assert_problem(bulk(client, [{"code": "HLED-2021-01", "status": "2"}]), status)
    assert db_state() == before


def test_bulk_size_limit(clients, settings):
    settings.API_BULK_MAX_ITEMS = 2
    admin = clients["admin"]
    before = db_state()
    items = [{"code": f"HLED-2021-0{n}", "status": "2"} for n in (1, 2, 3)]
    body = assert_problem(bulk(admin, items), 400)
    assert [e["field"] for e in body["errors"]] == ["projects"]
    assert "2" in body["errors"][0]["message"]
    assert_problem(bulk(admin, []), 400)
    assert db_state() == before
    response = bulk(admin, items[:2])
    assert response.status_code == 200, response.content[:800]
    assert response.json()["updated"] == 2


MALFORMED: dict[str, tuple[Any, str | None]] = {
    "a list": ([{"code": "HLED-2021-01", "status": "2"}], "projects"),
    "a string": ("projects", "projects"),
    "null": (None, "projects"),
    "no projects": ({}, "projects"),
    "projects an object": ({"projects": {"code": "HLED-2021-01"}}, "projects"),
    "projects a string": ({"projects": "HLED-2021-01"}, "projects"),
    "an unknown top-level field": (
        {"projects": [{"code": "HLED-2021-01", "status": "2"}], "dry_run": True},
        "dry_run",
    ),
    "an item not an object": (
        {"projects": [{"code": "HLED-2021-01", "status": "2"}, 7]},
        "projects.1",
    ),
    "an item null": ({"projects": [None]}, "projects.0"),
    "an item without code": ({"projects": [{"status": "2"}]}, "projects.0.code"),
    "duplicate codes": (
        {
            "projects": [
                {"code": "HLED-2021-01", "status": "2"},
                {"code": "hled-2021-01", "status": "3"},
            ]
        },
        "projects.1.code",
    ),
    "an unknown item field": (
        {"projects": [{"code": "HLED-2021-01", "colour": "red"}]},
        "projects.0.colour",
    ),
    "a read-only item field": (
        {"projects": [{"code": "HLED-2021-01", "title": "x"}]},
        "projects.0.title",
    ),
}


def test_malformed_bulk_bodies_are_400(clients):
    admin = clients["admin"]
    admin.raise_request_exception = False  # a 500 shows as a wrong status
    before = db_state()
    wrong = {}
    for case, (payload, field) in MALFORMED.items():
        response = admin.post(BULK, payload, format="json")
        if response.status_code != 400:
            wrong[case] = response.status_code
            continue
        body = assert_problem(response, 400)
        if field not in {e["field"] for e in body["errors"]}:
            wrong[case] = body["errors"]
    assert wrong == {}
    assert db_state() == before


def test_bulk_body_that_is_not_json(clients):
    response = clients["admin"].generic(
        "POST", BULK, b'{"projects": [', content_type="application/json"
    )
    assert_problem(response, 400)
    response = clients["admin"].generic("POST", BULK, b"projects", content_type="text/plain")
    assert_problem(response, 415)


def test_bulk_idempotency_key(clients):
    admin = clients["admin"]
    items = [new_item("HLED-2026-40"), {"code": "HLED-2021-01", "status": "3"}]
    first = bulk(admin, items, HTTP_IDEMPOTENCY_KEY="bulk-key-1")
    assert first.status_code == 200, first.content[:800]
    assert not first.has_header("Idempotent-Replayed")
    audit = AuditEvent.objects.count()
    state = db_state()

    again = bulk(admin, items, HTTP_IDEMPOTENCY_KEY="bulk-key-1")
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert AuditEvent.objects.count() == audit and db_state() == state
    assert IdempotencyRecord.objects.filter(key="bulk-key-1", completed=True).count() == 1

    other = bulk(
        admin, [{"code": "HLED-2021-01", "status": "4"}], HTTP_IDEMPOTENCY_KEY="bulk-key-1"
    )
    assert_problem(other, 422)
    assert db_state() == state

    # A failed request is not stored: the same key can carry the corrected request.
    failed = bulk(admin, [new_item("HLED-2026-41", status="9")], HTTP_IDEMPOTENCY_KEY="bulk-key-2")
    assert_problem(failed, 400)
    fixed = bulk(admin, [new_item("HLED-2026-41")], HTTP_IDEMPOTENCY_KEY="bulk-key-2")
    assert fixed.status_code == 200, fixed.content[:800]
    assert fixed.json()["created"] == 1


# -- CSV export ----------------------------------------------------------------------------


def read_stream(response: Any) -> bytes:
    assert response.status_code == 200, (response.status_code, response.content[:800])
    assert isinstance(response, StreamingHttpResponse) and response.streaming
    return b"".join(response.streaming_content)


def read_csv(client: Any, query: str = "") -> tuple[list[str], list[dict[str, str]]]:
    response = client.get(f"{CSV_URL}?{query}")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(read_stream(response).decode("utf-8"), newline="")))
    header, data = rows[0], rows[1:]
    assert all(len(row) == len(header) for row in data)
    return header, [dict(zip(header, row, strict=True)) for row in data]


def same_instant(csv_value: str, api_value: str) -> bool:
    return datetime.fromisoformat(csv_value) == datetime.fromisoformat(api_value)


def assert_row_matches(row: dict[str, str], item: dict[str, Any]) -> None:
    code = item["code"]
    assert row["code"] == code
    assert row["url"] == item["url"], code
    assert (row["title_en"], row["title_es"]) == both(item, "title"), code
    assert (row["description_en"], row["description_es"]) == both(item, "description"), code
    assert row["status"] == item["status"], code
    assert row["status_name"], code
    assert row["is_published"] == ("true" if item["is_published"] else "false"), code
    assert row["pillar"] == item["pillar"]["code"], code
    assert row["goal"] == item["goal"]["code"], code
    for name in ("announced_on", "planned_start", "planned_end", "actual_start", "actual_end"):
        assert row[name] == (item[name] or ""), (code, name)
    assert row["countries"] == ";".join(item["countries"]), code
    roles = item["participating_agencies"]
    assert row["agencies"] == ";".join(f"{r['agency']['code']}:{r['role']}" for r in roles), code
    assert row["lead_agencies"] == ";".join(r["agency"]["code"] for r in roles if r["is_lead"])
    budget = item["budget"] or {"amount": "", "currency": ""}
    assert (row["budget_amount"], row["budget_currency"]) == (budget["amount"], budget["currency"])
    assert same_instant(row["created_at"], item["created_at"]), code
    assert same_instant(row["updated_at"], item["updated_at"]), code


EXPORT_QUERIES = [
    "",
    "ordering=-code",
    "ordering=status,-code",
    "pillar=P3,P4&ordering=-code",
    "country=SV",
    "agency=US-DOC",
    "agency=SE&status=1&status=2",
    "goal=P1-G1",
    "q=supply",
]


@pytest.mark.parametrize("caller", ["anonymous", "editor_a", "admin"])
def test_csv_equals_the_list(clients, caller):
    client = clients[caller]
    for query in EXPORT_QUERIES:
        header, rows = read_csv(client, query)
        assert header == CSV_COLUMNS
        items = list_all(client, "projects", query)
        assert [r["code"] for r in rows] == [i["code"] for i in items], (caller, query)
        for row, item in zip(rows, items, strict=True):
            assert_row_matches(row, item)


def test_csv_visibility(clients):
    def codes(caller: str) -> set[str]:
        return {row["code"] for row in read_csv(clients[caller])[1]}

    published = set(Project.objects.filter(is_published=True).values_list("code", flat=True))
    assert len(published) == 11
    assert codes("anonymous") == published
    assert codes("reader_a") == codes("editor_a") == published | {UNPUBLISHED_OF_A}
    assert codes("editor_b") == published | {UNPUBLISHED_OF_B}
    assert codes("admin") == published | {UNPUBLISHED_OF_A, UNPUBLISHED_OF_B}
    # An archived project leaves the export.
    etag = clients["admin"].get("/api/v1/projects/HLED-2021-05/")["ETag"]
    assert (
        clients["admin"].delete("/api/v1/projects/HLED-2021-05/", HTTP_IF_MATCH=etag).status_code
        == 204
    )
    assert "HLED-2021-05" not in codes("anonymous") | codes("admin")


def test_csv_response_headers(clients):
    response = clients["anonymous"].get(CSV_URL, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response.streaming and isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response.get("X-Request-ID")
    body = read_stream(response).decode("utf-8")
    assert body.splitlines()[0] == ",".join(CSV_COLUMNS)
    # Spanish text survives the trip in UTF-8.
    assert "Fortalecer las cadenas de suministro" in body


# -- IATI export ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iati_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(IATI_SCHEMA)))


def read_iati(client: Any, schema: etree.XMLSchema, query: str = "") -> Any:
    response = client.get(f"{IATI_URL}?{query}")
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    root = etree.fromstring(read_stream(response))
    schema.assertValid(root)
    return root


def narratives(element: Any) -> dict[str, str]:
    return {n.get(XML_LANG): n.text for n in element.findall("narrative")}


@pytest.mark.parametrize("caller", ["anonymous", "editor_a", "admin"])
def test_iati_is_valid_and_equals_the_list(clients, iati_schema, caller):
    client = clients[caller]
    ref = settings.IATI_REPORTING_ORG_REF
    for query in ["", "pillar=P3", "country=SV", "agency=US-DOC", "ordering=-code"]:
        root = read_iati(client, iati_schema, query)
        assert root.tag == "iati-activities" and root.get("version") == "2.03"
        activities = root.findall("iati-activity")
        items = list_all(client, "projects", query)
        identifiers = [a.findtext("iati-identifier") for a in activities]
        assert len(set(identifiers)) == len(identifiers)
        assert identifiers == [f"{ref}-{i['code']}" for i in items], (caller, query)
        for activity, item in zip(activities, items, strict=True):
            code = item["code"]
            assert activity.find("reporting-org").get("ref") == ref
            assert narratives(activity.find("title")) == dict(
                zip(("en", "es"), both(item, "title"), strict=True)
            ), code
            assert narratives(activity.find("description")) == dict(
                zip(("en", "es"), both(item, "description"), strict=True)
            ), code
            assert [
                (o.get("ref"), o.get("role")) for o in activity.findall("participating-org")
            ] == [(r["agency"]["code"], r["role"]) for r in item["participating_agencies"]], code
            assert activity.find("activity-status").get("code") == item["status"], code
            assert [c.get("code") for c in activity.findall("recipient-country")] == item[
                "countries"
            ], code
            assert activity.findall("activity-date"), code


def test_iati_visibility_and_budget(clients, iati_schema):
    ref = settings.IATI_REPORTING_ORG_REF

    def identifiers(caller: str) -> set[str]:
        root = read_iati(clients[caller], iati_schema)
        return {a.findtext("iati-identifier") for a in root.findall("iati-activity")}

    secret_a, secret_b = f"{ref}-{UNPUBLISHED_OF_A}", f"{ref}-{UNPUBLISHED_OF_B}"
    assert len(identifiers("anonymous")) == 11
    assert secret_a not in identifiers("anonymous") and secret_b not in identifiers("anonymous")
    assert secret_a in identifiers("editor_a") and secret_b not in identifiers("editor_a")
    assert secret_b in identifiers("editor_b") and secret_a not in identifiers("editor_b")
    root = read_iati(clients["admin"], iati_schema, f"goal=P1-G1&agency={A}")
    (activity,) = [
        a for a in root.findall("iati-activity") if a.findtext("iati-identifier") == secret_a
    ]
    budget = activity.find("budget")
    assert budget.find("value").text == "250000.00"
    assert budget.find("value").get("currency") == "USD"
    assert budget.find("period-start").get("iso-date") == "2026-01-15"


def test_iati_stays_valid_for_projects_with_little_data(clients, iati_schema):
    """A project created without dates, description or budget is still a valid activity."""
    admin = clients["admin"]
    response = admin.post(
        "/api/v1/projects/",
        {
            "code": "HLED-2026-50",
            "goal": "P4-G1",
            "title_en": "Minimal project",
            "title_es": "Proyecto mínimo",
            "participating_agencies": [{"agency": B, "role": "4"}],
            "is_published": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.content[:800]
    root = read_iati(clients["anonymous"], iati_schema, "goal=P4-G1")
    codes = [a.findtext("iati-identifier") for a in root.findall("iati-activity")]
    assert codes[-1].endswith("HLED-2026-50")


# -- both exports: strict parameters and content negotiation ----------------------------------


@pytest.mark.parametrize("url", [CSV_URL, IATI_URL])
def test_exports_refuse_unknown_parameters_and_values(clients, url):
    client = clients["anonymous"]
    for query, field in [
        ("colour=red", "colour"),
        ("page_size=10", "page_size"),
        ("page=1", "page"),
        ("pillar=P9", "pillar"),
        ("country=XX", "country"),
        ("agency=NOPE", "agency"),
        ("status=9", "status"),
        ("ordering=title", "ordering"),
        ("lang=fr", "lang"),
    ]:
        body = assert_problem(client.get(f"{url}?{query}"), 400)
        assert field in {e["field"] for e in body["errors"]}, (query, body)


NEGOTIATION = [
    # url, acceptable Accept headers, the media type answered
    (CSV_URL, ["text/csv", "text/*", "*/*", "application/json;q=0.5, text/csv"], "text/csv"),
    (IATI_URL, ["application/xml", "application/*", "*/*"], "application/xml"),
]
UNACCEPTABLE = {
    CSV_URL: ["application/json", "application/xml", "text/html"],
    IATI_URL: ["application/json", "text/csv", "text/xml"],
}


def test_exports_negotiate_the_content_type(clients):
    client = clients["anonymous"]
    for url, acceptable, media_type in NEGOTIATION:
        for accept in acceptable:
            response = client.get(url, HTTP_ACCEPT=accept)
            assert response.status_code == 200 and response.streaming, (url, accept)
            assert response["Content-Type"] == f"{media_type}; charset=utf-8"
        for accept in UNACCEPTABLE[url]:
            assert_problem(client.get(url, HTTP_ACCEPT=accept), 406)


# -- the whole plan as JSON --------------------------------------------------------------------


def plan_project_codes(plan: dict[str, Any]) -> set[str]:
    return {p["code"] for pillar in plan["pillars"] for g in pillar["goals"] for p in g["projects"]}


def test_plan_shows_unpublished_projects_only_to_those_who_may_see_them(clients):
    codes = {caller: plan_project_codes(get_ok(clients[caller], PLAN_URL)) for caller in clients}
    anonymous = codes["anonymous"]
    assert len(anonymous) == 11
    assert UNPUBLISHED_OF_A not in anonymous and UNPUBLISHED_OF_B not in anonymous
    assert codes["editor_a"] == codes["reader_a"] == anonymous | {UNPUBLISHED_OF_A}
    assert codes["editor_b"] == anonymous | {UNPUBLISHED_OF_B}
    assert codes["admin"] == anonymous | {UNPUBLISHED_OF_A, UNPUBLISHED_OF_B}


def test_plan_nesting_matches_the_lists(clients):
    # A result on an unpublished project: in the plan of those who may see the project only.
    response = clients["admin"].post(
        f"/api/v1/projects/{UNPUBLISHED_OF_A}/results/",
        {"title_en": "Suppliers certified", "title_es": "Proveedores certificados"},
        format="json",
    )
    assert response.status_code == 201
    hidden = response.json()["code"]
    indicator = {"result": hidden, "title_en": "Suppliers", "title_es": "Proveedores"}
    assert clients["admin"].post("/api/v1/indicators/", indicator, format="json").status_code == 201
    for caller in ("anonymous", "editor_a", "admin"):
        client = clients[caller]
        plan = get_ok(client, PLAN_URL)
        assert set(plan) == {"pillars", "agencies", "meetings", "progress", "results"}
        assert (hidden in {r["code"] for r in plan["results"]}) is (caller != "anonymous")
        for resource in ("agencies", "meetings", "progress", "results"):
            listed = get_ok(client, f"/api/v1/{resource}/?page_size=100")["results"]
            assert plan[resource] == listed, (caller, resource)
        pillars = get_ok(client, "/api/v1/pillars/?page_size=100")["results"]
        assert [p["code"] for p in plan["pillars"]] == [p["code"] for p in pillars]
        # The lists, grouped the way the plan nests them (keeping the lists' order).
        goals_by_pillar: dict[str, list[dict[str, Any]]] = {}
        for goal in get_ok(client, "/api/v1/goals/?page_size=100")["results"]:
            goals_by_pillar.setdefault(goal["pillar"]["code"], []).append(goal)
        projects_by_goal: dict[str, list[dict[str, Any]]] = {}
        for project in get_ok(client, "/api/v1/projects/?page_size=100")["results"]:
            projects_by_goal.setdefault(project["goal"]["code"], []).append(project)

        for pillar, listed_pillar in zip(plan["pillars"], pillars, strict=True):
            assert {k: v for k, v in pillar.items() if k != "goals"} == {
                k: v for k, v in listed_pillar.items() if k != "goals"
            }
            listed_goals = goals_by_pillar.pop(pillar["code"], [])
            assert [g["code"] for g in pillar["goals"]] == [g["code"] for g in listed_goals]
            for goal, listed_goal in zip(pillar["goals"], listed_goals, strict=True):
                assert {k: v for k, v in goal.items() if k != "projects"} == {
                    k: v for k, v in listed_goal.items() if k != "pillar"
                }
                # Each project exactly as the list shows it, in the list's order.
                assert goal["projects"] == projects_by_goal.pop(goal["code"], []), (
                    caller,
                    goal["code"],
                )
        # Nothing listed is missing from the plan.
        assert goals_by_pillar == {} and projects_by_goal == {}, caller


def test_plan_etag(clients):
    anonymous, editor, admin = clients["anonymous"], clients["editor_a"], clients["admin"]
    first, second = anonymous.get(PLAN_URL), anonymous.get(PLAN_URL)
    etag = first["ETag"]
    assert etag and etag.startswith('"') and second["ETag"] == etag
    assert parsed(first) == parsed(second)

    not_modified = anonymous.get(PLAN_URL, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified["ETag"] == etag
    assert anonymous.get(PLAN_URL, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200

    # Another view of the plan has another tag.
    editor_etag = editor.get(PLAN_URL)["ETag"]
    assert editor_etag != etag
    assert anonymous.get(PLAN_URL, HTTP_IF_NONE_MATCH=editor_etag).status_code == 200
    assert anonymous.get(f"{PLAN_URL}?lang=es")["ETag"] != etag

    # Work on an unpublished project changes the tag of those who see it, not the others'.
    url = f"/api/v1/projects/{UNPUBLISHED_OF_A}/"
    response = editor.patch(url, {"title_en": "Renamed quietly"}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 200, response.content[:500]
    assert editor.get(PLAN_URL)["ETag"] != editor_etag
    assert anonymous.get(PLAN_URL, HTTP_IF_NONE_MATCH=etag).status_code == 304

    # A public change changes everyone's.
    url = "/api/v1/projects/HLED-2021-06/"
    response = admin.patch(url, {"status": "2"}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 200, response.content[:500]
    after = anonymous.get(PLAN_URL, HTTP_IF_NONE_MATCH=etag)
    assert after.status_code == 200 and after["ETag"] != etag
    assert anonymous.get(PLAN_URL, HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 304


def test_plan_in_spanish(clients):
    client = clients["anonymous"]
    for kwargs in (
        {"path": f"{PLAN_URL}?lang=es"},
        {"path": PLAN_URL, "HTTP_ACCEPT_LANGUAGE": "es-MX"},
    ):
        response = client.get(**kwargs)
        assert response.status_code == 200
        assert response["Content-Language"] == "es"
        plan = parsed(response)
        pillar = plan["pillars"][0]
        assert (
            pillar["code"] == "P1"
            and pillar["name"]
            == get_ok(client, "/api/v1/pillars/P1/?lang=all")["translations"]["es"]["name"]
        )
        project = next(
            p for g in pillar["goals"] for p in g["projects"] if p["code"] == "HLED-2021-01"
        )
        assert project["title"] == (
            "Fortalecer las cadenas de suministro y coordinar su gestión en situaciones de crisis"
        )
        agency = next(a for a in plan["agencies"] if a["code"] == "US-DOC")
        assert agency["name"] == Agency.objects.get(code="US-DOC").name_es
    english = get_ok(client, PLAN_URL)
    assert english["pillars"][0]["name"] == get_ok(client, "/api/v1/pillars/P1/")["name"]
    assert english["pillars"][0]["name"] != pillar["name"]


def test_plan_refuses_unknown_parameters(clients):
    client = clients["anonymous"]
    for query, field in [("pillar=P1", "pillar"), ("page=1", "page"), ("lang=fr", "lang")]:
        body = assert_problem(client.get(f"{PLAN_URL}?{query}"), 400)
        assert field in {e["field"] for e in body["errors"]}, query


# -- the CSV stream keeps memory flat ------------------------------------------------------------

STREAM_PROJECTS = 2000


def test_csv_export_streams_without_building_the_body(db, monkeypatch):
    """The CSV is written while the projects are read, batch by batch.

    Three independent signs, none of them timing-dependent: many small chunks; the
    first chunk leaves before the later batches of projects are even queried; and no
    more than a batch of projects is reachable at any point of the stream (counted
    after a garbage collection, so the result does not depend on when it runs).
    """
    goal = GoalFactory()
    agency = AgencyFactory(country="US")
    text = "Long description of the project. " * 60  # ~2 kB per language
    projects = Project.objects.bulk_create(
        Project(
            code=f"STREAM-{n:05d}",
            goal=goal,
            title_en=f"Streamed project {n}",
            title_es=f"Proyecto transmitido {n}",
            description_en=text,
            description_es=text,
            is_published=True,
        )
        for n in range(STREAM_PROJECTS)
    )
    if projects[0].pk is None:  # a backend that does not return ids from bulk_create
        projects = list(Project.objects.filter(goal=goal).order_by("code"))
    ProjectCountry.objects.bulk_create(ProjectCountry(project=p, country="MX") for p in projects)
    ProjectAgencyRole.objects.bulk_create(
        ProjectAgencyRole(project=p, agency=agency, role="4", country=agency.country)
        for p in projects
    )
    del projects

    # No model instance is built: the export reads plain rows, a batch at a time.
    created = 0
    from_db = Project.from_db.__func__  # type: ignore[attr-defined]

    def tracked_from_db(cls: type[Project], *args: Any, **kwargs: Any) -> Project:
        nonlocal created
        created += 1
        return from_db(cls, *args, **kwargs)

    monkeypatch.setattr(Project, "from_db", classmethod(tracked_from_db))
    monkeypatch.setattr(exports, "BATCH", 200)
    batches: list[int] = []
    attach = exports.attach_related

    def counted(rows: list[Any], **kwargs: Any) -> None:
        batches.append(len(rows))
        attach(rows, **kwargs)

    monkeypatch.setattr(exports, "attach_related", counted)

    response = APIClient().get(f"{CSV_URL}?goal={goal.code}")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse) and response.streaming

    chunks = lines = total = largest = 0
    queries_before_first_chunk = None
    with CaptureQueriesContext(connection) as queries:
        for chunk in response.streaming_content:
            if queries_before_first_chunk is None:
                queries_before_first_chunk = len(queries.captured_queries)
            chunks += 1
            total += len(chunk)
            largest = max(largest, len(chunk))
            lines += chunk.count(b"\n")  # one byte: never split between chunks
    queries_in_total = len(queries.captured_queries)

    assert lines == 1 + STREAM_PROJECTS  # the header, then one line per project
    assert total > 8 * 1024 * 1024  # ~4 kB per line
    # Many modest chunks, not one body.
    assert chunks > 50 and largest < 256 * 1024, (chunks, largest)
    # The first chunk left before the later batches of projects were even read.
    assert queries_before_first_chunk is not None
    assert queries_before_first_chunk < queries_in_total / 2, (
        queries_before_first_chunk,
        queries_in_total,
    )
    # Every project was read once, in batches, each with one query per related kind.
    assert created == 0
    assert sum(batches) == STREAM_PROJECTS and max(batches) == 200, batches
    # (The first batch went out with the response, before the queries were captured.)
    assert queries_in_total == 2 * (len(batches) - 1)


def test_iati_carries_the_projects_results_and_stays_valid(clients, iati_schema):
    """Results with indicators, baselines and periods become IATI `result` elements; what
    IATI requires and a record lacks (indicators, a baseline year, period dates) is left
    out, never invented."""
    admin = clients["admin"]
    result = admin.post(
        "/api/v1/projects/HLED-2021-02/results/",
        {
            "type": "2",
            "aggregation_status": True,
            "title_en": "Cleaner technology adopted",
            "title_es": "Tecnología más limpia adoptada",
            "description_en": "Firms adopt it.",
            "description_es": "Las empresas la adoptan.",
        },
        format="json",
    ).json()["code"]
    admin.post(
        "/api/v1/projects/HLED-2021-02/results/",
        {"title_en": "No indicator yet", "title_es": "Aún sin indicador"},
        format="json",
    )
    indicator = admin.post(
        "/api/v1/indicators/",
        {
            "result": result,
            "measure": "2",
            "ascending": False,
            "title_en": "Share of emissions",
            "title_es": "Proporción de emisiones",
            "baseline": {"year": 2021, "value": "40", "comment_en": "Before the plan"},
        },
        format="json",
    ).json()["code"]
    for body in (
        {"start": "2024-01-01", "end": "2024-12-31", "target": {"value": "30"}},
        {"actual": {"value": "35", "comment_en": "Published without dates"}},
        {
            "start": "2025-01-01",
            "end": "2025-12-31",
            "target": {"value": "25"},
            "actual": {"value": "24", "comment_en": "Met", "comment_es": "Cumplida"},
        },
    ):
        response = admin.post("/api/v1/periods/", {"indicator": indicator, **body}, format="json")
        assert response.status_code == 201, response.content

    root = read_iati(clients["anonymous"], iati_schema, "goal=P1-G3")
    ref = settings.IATI_REPORTING_ORG_REF
    (activity,) = [
        a for a in root.findall("iati-activity") if a.findtext("iati-identifier").endswith("-02")
    ]
    assert activity.findtext("iati-identifier") == f"{ref}-HLED-2021-02"
    (element,) = activity.findall("result")  # the one without indicators is left out
    assert (element.get("type"), element.get("aggregation-status")) == ("2", "1")
    assert narratives(element.find("title")) == {
        "en": "Cleaner technology adopted",
        "es": "Tecnología más limpia adoptada",
    }
    (ind,) = element.findall("indicator")
    assert (ind.get("measure"), ind.get("ascending")) == ("2", "0")
    baseline = ind.find("baseline")
    assert (baseline.get("year"), baseline.get("value")) == ("2021", "40.00")
    assert narratives(baseline.find("comment")) == {"en": "Before the plan"}
    periods = ind.findall("period")
    assert [
        (p.find("period-start").get("iso-date"), p.find("period-end").get("iso-date"))
        for p in periods
    ] == [("2024-01-01", "2024-12-31"), ("2025-01-01", "2025-12-31")]
    assert periods[0].find("target").get("value") == "30.00"
    assert periods[0].find("actual") is None
    actual = periods[1].find("actual")
    assert actual.get("value") == "24.00"
    assert narratives(actual.find("comment")) == {"en": "Met", "es": "Cumplida"}
    # The result is the activity's last element, as the standard orders them.
    assert activity[-1].tag == "result"


# -- bulk upsert with results ---------------------------------------------------------------


def framework(code: str | None = None) -> dict[str, Any]:
    """A result with one indicator of one period, as a bulk item sends it; without a code,
    none of them names one (codes are issued)."""
    indicator: dict[str, Any] = {
        "title_en": "Suppliers",
        "title_es": "Proveedores",
        "periods": [{"start": "2026-01-01", "end": "2026-12-31", "target": {"value": "40"}}],
    }
    result: dict[str, Any] = {
        "type": "1",
        "title_en": "Suppliers trained",
        "title_es": "Proveedores capacitados",
        "indicators": [indicator],
    }
    if code:
        result["code"], indicator["code"] = code, f"{code}-I1"
    return result


def test_bulk_upserts_results_with_the_project_by_code(clients):
    from workplan.models import Indicator, IndicatorPeriod, Result

    admin = clients["admin"]
    items = [new_item("HLED-2026-40", results=[framework("HLED-2026-40-R1")])]
    response = bulk(admin, items)
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1
    result = Result.objects.get(code="HLED-2026-40-R1")
    indicator = Indicator.objects.get(code="HLED-2026-40-R1-I1", result=result)
    period = IndicatorPeriod.objects.get(indicator=indicator)
    assert period.target_value == Decimal("40")
    creates = AuditEvent.objects.filter(
        action="create",
        object_type__in=["result", "indicator"],
        object_code__startswith="HLED-2026-40",
    )
    assert creates.count() == 2

    # Again, with the period's actual and a second result without codes: the existing
    # objects are changed, the new one is created with issued codes, and the project
    # itself, unchanged, counts as updated because its results changed.
    changed = framework("HLED-2026-40-R1")
    changed["indicators"][0]["periods"] = [{"code": period.code, "actual": {"value": "42"}}]
    response = bulk(admin, [{"code": "HLED-2026-40", "results": [changed, framework()]}])
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["status"] == "updated"
    period.refresh_from_db()
    assert (period.actual_value, period.target_value, period.version) == (
        Decimal("42"),
        Decimal("40"),
        2,
    )
    assert Result.objects.filter(project__code="HLED-2026-40").count() == 2
    assert Result.objects.filter(code="RE-000001").exists()

    # The same request once more changes nothing.
    events = AuditEvent.objects.count()
    unchanged = framework("HLED-2026-40-R1")
    unchanged["indicators"][0]["periods"] = [{"code": period.code, "actual": {"value": "42"}}]
    response = bulk(admin, [{"code": "HLED-2026-40", "results": [unchanged]}])
    assert response.json()["results"][0]["status"] == "unchanged"
    assert AuditEvent.objects.count() == events


def test_bulk_with_a_bad_result_writes_nothing_and_names_the_path(clients):
    from workplan.models import Result

    admin = clients["admin"]
    events = AuditEvent.objects.count()
    bad = framework("HLED-2026-41-R1")
    bad["indicators"][0]["periods"][0]["end"] = "2025-01-01"  # before its start
    items = [
        new_item("HLED-2026-41", results=[framework("HLED-2026-41-R2")]),
        new_item("HLED-2026-42", results=[bad]),
    ]
    body = assert_problem(bulk(admin, items), 400)
    fields = {e["field"] for e in body["errors"]}
    assert "projects.1.results.0.indicators.0.periods.0.end" in fields, body
    assert not Result.objects.filter(project__code__startswith="HLED-2026-4").exists()
    assert AuditEvent.objects.count() == events

    # A rule the model checks (a qualitative indicator has no values), after the
    # first item was written: still nothing is kept.
    bad = framework("HLED-2026-42-R1")
    bad["indicators"][0]["measure"] = "5"
    items[1] = new_item("HLED-2026-42", results=[bad])
    body = assert_problem(bulk(admin, items), 400)
    assert any(
        e["field"].startswith("projects.1.results.0.indicators.0.periods.0") for e in body["errors"]
    ), body
    assert not Result.objects.filter(project__code__startswith="HLED-2026-4").exists()
    assert AuditEvent.objects.count() == events


def test_bulk_results_follow_the_editors_rights(clients):
    from workplan.models import Result

    # Another project's result code may not be taken over through this project.
    admin = clients["admin"]
    assert (
        bulk(admin, [new_item("HLED-2026-43", results=[framework("HLED-2026-43-R1")])]).status_code
        == 200
    )
    body = assert_problem(
        bulk(admin, [{"code": "HLED-2021-01", "results": [framework("HLED-2026-43-R1")]}]), 400
    )
    assert "projects.0.results.0.code" in {e["field"] for e in body["errors"]}
    # An editor writes results on its agency's projects only (the project's rule).
    response = bulk(clients["editor_b"], [{"code": "HLED-2026-43", "results": [framework()]}])
    assert_problem(response, 400)
    assert Result.objects.filter(project__code="HLED-2026-43").count() == 1


@pytest.mark.parametrize("url", [CSV_URL, IATI_URL])
def test_an_export_that_fails_part_way_does_not_end_cleanly(db, monkeypatch, caplog, url):
    """The first batch goes out, the second fails: the stream raises (the server cuts the
    connection), it never ends as a short document that looks whole."""
    goal = GoalFactory()
    for _ in range(5):
        ProjectFactory(goal=goal, is_published=True)
    monkeypatch.setattr(exports, "BATCH", 2)
    attach = exports.attach_related
    calls = []

    def failing(rows: list[Any], **kwargs: Any) -> None:
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("database went away")
        attach(rows, **kwargs)

    monkeypatch.setattr(exports, "attach_related", failing)
    response = APIClient().get(url)
    assert response.status_code == 200
    assert not response.has_header("Content-Length")
    received = []
    with pytest.raises(RuntimeError, match="database went away"):
        for chunk in response.streaming_content:
            received.append(chunk)
    body = b"".join(received)
    assert b"</iati-activities>" not in body
    assert any("failed part way" in record.getMessage() for record in caplog.records)


def test_iati_serialiser_writes_what_elementtree_writes():
    from xml.etree import ElementTree as ET

    activity = ET.Element("iati-activity", {exports.XML_LANG: "en", "a": 'q"<&>\n\r\t'})
    ET.SubElement(activity, "title").text = "Tom & Jerry <b> \"quoted\" 'single'"
    ET.SubElement(activity, "empty", {"code": "1"})
    nested = ET.SubElement(activity, "narratives")
    ET.SubElement(nested, "narrative", {exports.XML_LANG: "es"}).text = "ñandú — ok"
    ET.SubElement(nested, "blank").text = ""
    out: list[str] = []
    exports.element_xml(activity, out)
    assert "".join(out).encode() == ET.tostring(activity, encoding="utf-8")


@pytest.mark.parametrize("lang", ["all", "es", "en"])
def test_plan_shows_every_project_as_the_list_does_in_every_language(clients, lang):
    client = clients["admin"]
    plan = get_ok(client, f"{PLAN_URL}?lang={lang}")
    in_plan = {
        project["code"]: project
        for pillar in plan["pillars"]
        for goal in pillar["goals"]
        for project in goal["projects"]
    }
    listed = get_ok(client, f"/api/v1/projects/?page_size=100&lang={lang}")["results"]
    assert in_plan == {project["code"]: project for project in listed}


def test_plan_304_is_decided_before_rendering(clients, django_assert_num_queries):
    client = clients["anonymous"]
    etag = client.get(PLAN_URL)["ETag"]
    # One query of aggregates; no object is read.
    with django_assert_num_queries(1):
        response = client.get(PLAN_URL, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
