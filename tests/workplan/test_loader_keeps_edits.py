"""`load_workplan` runs at every `make run`: it must never undo what partners changed
through the API or staff changed in the admin since it last loaded the plan.

Edits here go through the real channels: a partner's PATCH with If-Match and an agency
editor's token, and the admin's change form posted by a logged-in superuser.
"""

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from tests.workplan.test_admin import admin_url, form_data, get_ok
from workplan.choices import Role
from workplan.management.commands.load_workplan import OVERWRITE_REQUEST_ID
from workplan.models import (
    PLAN_TYPES,
    Agency,
    AgencyMembership,
    AuditEvent,
    ImportBaseline,
    PlanObject,
    Project,
    ProjectCountry,
    WebhookDelivery,
    WebhookSubscription,
    plan_types,
)
from workplan.policy import SYSTEM, Actor
from workplan.services import api_token_create, plan_object_change

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURE = ROOT / "fixtures" / "workplan-2021.json"

BY_API = "HLED-2021-01"  # MX-SE and US-DOC take part
BY_ADMIN = "HLED-2021-05"  # MX, SV, GT, HN
UNTOUCHED = "HLED-2021-02"

API_EDIT = {
    "planned_end": "2024-06-30",
    "budget": {"amount": "1500000.00", "currency": "USD"},
    "links": [
        {
            "url": "https://www.gob.mx/se/hled-supply-chains",
            "label_en": "Supply chains",
            "label_es": "Cadenas de suministro",
        }
    ],
}
API_FIELDS = ["planned_end", "budget_amount", "budget_currency", "links"]
ADMIN_TITLE_ES = "Asociación para el desarrollo del sur (texto del personal)"
ADMIN_FIELDS = ["title_es", "countries"]


# --- helpers ---------------------------------------------------------------------------------


def load(*args: str) -> str:
    """Run the command as `make run` does and return what it printed."""
    out = io.StringIO()
    call_command("load_workplan", *args, stdout=out)
    return out.getvalue()


def document() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def write_document(tmp_path: Path, data: dict[str, Any], name: str = "plan.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def project_spec(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(p for p in data["projects"] if p["code"] == code)


def line_of(output: str, kind: str) -> str:
    """The command's summary line for `kind` (e.g. "projects")."""
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith(f"{kind}:")]
    assert len(lines) == 1, output
    return lines[0]


def kept_in(output: str, kind: str = "projects") -> set[str]:
    """The "CODE.field" names the summary line of `kind` says were kept."""
    return _listed(line_of(output, kind), "kept")


def overwritten_in(output: str, kind: str = "projects") -> set[str]:
    return _listed(line_of(output, kind), "overwrote")


def _listed(line: str, verb: str) -> set[str]:
    for part in line.split("; ")[1:]:
        head, _, names = part.partition(": ")
        if head.startswith(f"{verb} "):
            listed = set(names.split(", "))
            assert head == f"{verb} {len(listed)} edited field(s)", line
            return listed
    return set()


def counts(output: str, kind: str = "projects") -> tuple[int, int, int]:
    head = line_of(output, kind).split("; ")[0].split(": ")[1]
    created, updated, unchanged = (int(part.split()[0]) for part in head.split(", "))
    return created, updated, unchanged


def state(code: str) -> dict[str, Any]:
    return Project.objects.get(code=code).audit_snapshot()


def rows() -> dict[tuple[str, str], tuple[int, Any]]:
    """(version, updated_at) of every plan object, by (type, code)."""
    return {
        (name, code): (version, updated)
        for name, model in PLAN_TYPES.items()
        for code, version, updated in model._default_manager.values_list(
            "code", "version", "updated_at"
        )
    }


def edit_through_api(django_user_model: Any) -> None:
    """An MX-SE editor sets an end date, a budget and a link on BY_API, with If-Match."""
    user = django_user_model.objects.create_user("se-editor", password="pw")
    AgencyMembership.objects.create(
        user=user, agency=Agency.objects.get(code="MX-SE"), role=Role.EDITOR
    )
    _, token = api_token_create(actor=SYSTEM, user=user, scope="write")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    path = f"/api/v1/projects/{BY_API}/"
    read = api.get(path)
    assert read.status_code == 200
    response = api.patch(path, API_EDIT, format="json", HTTP_IF_MATCH=read["ETag"])
    assert response.status_code == 200, response.content[:500]
    assert AuditEvent.objects.filter(object_code=BY_API, via="api").count() == 1


def edit_through_admin(client: Client) -> None:
    """Staff retitle BY_ADMIN in Spanish and take Honduras off it, in the change form."""
    project = Project.objects.get(code=BY_ADMIN)
    url = admin_url(Project, "change", project.pk)
    data = form_data(get_ok(client, url))
    assert data["loaded_version"] == project.version  # the hidden field the form carries
    data["title_es"] = ADMIN_TITLE_ES
    honduras = ProjectCountry.objects.get(project=project, country="HN")
    row = next(
        k
        for k, v in data.items()
        if k.startswith("countries-") and k.endswith("-id") and v == honduras.pk
    )
    data[row.removesuffix("-id") + "-DELETE"] = "on"

    response = client.post(url, data)

    assert response.status_code == 302, response.content[:2000]
    assert AuditEvent.objects.filter(object_code=BY_ADMIN, via="admin").count() == 1


@pytest.fixture
def edited(db: Any, admin_client: Client, django_user_model: Any) -> dict[str, dict[str, Any]]:
    """The loader ran, then a partner and staff edited two projects; their states after."""
    load()
    edit_through_api(django_user_model)
    edit_through_admin(admin_client)
    return {code: state(code) for code in (BY_API, BY_ADMIN)}


# --- (a) a second load keeps both edits --------------------------------------------------------


def test_second_load_keeps_edits_from_the_api_and_the_admin(
    edited: dict[str, dict[str, Any]],
) -> None:
    api_state, admin_state = edited[BY_API], edited[BY_ADMIN]
    assert api_state["planned_end"] == "2024-06-30"
    assert api_state["budget_amount"] == "1500000.00"
    assert admin_state["title_es"] == ADMIN_TITLE_ES
    assert "HN" not in admin_state["countries"]
    before, events = rows(), AuditEvent.objects.count()

    output = load()

    assert state(BY_API) == api_state
    assert state(BY_ADMIN) == admin_state
    assert kept_in(output) == {f"{BY_API}.{f}" for f in API_FIELDS} | {
        f"{BY_ADMIN}.{f}" for f in ADMIN_FIELDS
    }
    assert counts(output) == (0, 0, Project.objects.count())
    assert "--overwrite" in output
    # Nothing was written: no version moved, no audit event, so no webhook either.
    assert rows() == before
    assert AuditEvent.objects.count() == events
    for kind in ("pillars", "goals", "agencies"):
        assert kept_in(output, kind) == set(), output


def test_loads_with_edits_in_between_lose_nothing(
    edited: dict[str, dict[str, Any]], admin_client: Client
) -> None:
    """`make run`, edits, `make run`, more edits, `make run`: every edit survives."""
    load()
    project = Project.objects.get(code=BY_API)
    url = admin_url(Project, "change", project.pk)
    data = form_data(get_ok(admin_client, url))
    data["description_en"] = "Staff's description."
    assert admin_client.post(url, data).status_code == 302

    output = load()

    assert state(BY_ADMIN) == edited[BY_ADMIN]
    after = state(BY_API)
    assert after == edited[BY_API] | {"description_en": "Staff's description."}
    assert f"{BY_API}.description_en" in kept_in(output)


# --- (b) a changed document ----------------------------------------------------------------------


def test_changed_document_updates_untouched_fields_and_keeps_edited_ones(
    edited: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    data = document()
    untouched = project_spec(data, UNTOUCHED)
    untouched["title_en"] = "Retitled in the new edition"
    admin_edited = project_spec(data, BY_ADMIN)
    admin_edited["title_en"] += " (revised)"  # nobody edited title_en: taken
    admin_edited["title_es"] += " (revisado)"  # staff edited title_es: kept
    admin_edited["countries"].append("BZ")  # staff edited the countries: kept
    api_edited = project_spec(data, BY_API)
    api_edited["planned_start"] = "2025-01-01"  # nobody edited it, but it goes with the end
    api_edited["status"] = "2"  # nobody edited the status: taken
    last = AuditEvent.objects.latest("pk").pk

    output = load(str(write_document(tmp_path, data)))

    assert Project.objects.get(code=UNTOUCHED).title_en == "Retitled in the new edition"
    admin_now = state(BY_ADMIN)
    assert admin_now == edited[BY_ADMIN] | {"title_en": admin_edited["title_en"]}
    api_now = state(BY_API)
    assert api_now == edited[BY_API] | {"status": "2"}
    # A start after the partner's end would be invalid: the start is kept with its end.
    assert api_now["planned_start"] is None
    assert kept_in(output) == {f"{BY_API}.{f}" for f in [*API_FIELDS, "planned_start"]} | {
        f"{BY_ADMIN}.{f}" for f in ADMIN_FIELDS
    }
    assert counts(output) == (0, 3, Project.objects.count() - 3)
    new_events = AuditEvent.objects.filter(pk__gt=last)
    assert {(e.object_code, e.via, tuple(sorted(e.changes))) for e in new_events} == {
        (UNTOUCHED, "command", ("title_en",)),
        (BY_ADMIN, "command", ("title_en",)),
        (BY_API, "command", ("status",)),
    }
    # The baseline is now the new document: loading it again changes nothing more.
    again = load(str(write_document(tmp_path, data)))
    assert counts(again) == (0, 0, Project.objects.count())
    assert AuditEvent.objects.filter(pk__gt=last).count() == 3


def test_document_value_that_equals_the_edit_needs_nothing(
    edited: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The new edition agrees with staff: nothing to keep or write, and the field is the
    loader's again (a later edition may change it)."""
    data = document()
    project_spec(data, BY_ADMIN)["title_es"] = ADMIN_TITLE_ES
    path = write_document(tmp_path, data, "agrees.json")

    output = load(str(path))

    assert f"{BY_ADMIN}.title_es" not in kept_in(output)
    project_spec(data, BY_ADMIN)["title_es"] = "Tercera edición"
    load(str(write_document(tmp_path, data, "third.json")))
    assert state(BY_ADMIN)["title_es"] == "Tercera edición"


# --- (c) --overwrite -----------------------------------------------------------------------------


def test_overwrite_resets_edited_fields_and_is_audited(
    edited: dict[str, dict[str, Any]],
) -> None:
    subscription = WebhookSubscription.objects.create(
        url="https://partner.example.org/hooks", event_types=["*"]
    )
    spec = {p["code"]: p for p in document()["projects"]}
    last = AuditEvent.objects.latest("pk").pk

    output = load("--overwrite")

    assert overwritten_in(output) == {f"{BY_API}.{f}" for f in API_FIELDS} | {
        f"{BY_ADMIN}.{f}" for f in ADMIN_FIELDS
    }
    assert kept_in(output) == set()
    assert "Overwrote 6 edited field(s)" in output
    assert counts(output) == (0, 2, Project.objects.count() - 2)
    api_now, admin_now = state(BY_API), state(BY_ADMIN)
    assert api_now["planned_end"] is None
    assert (api_now["budget_amount"], api_now["budget_currency"], api_now["links"]) == (
        None,
        "",
        [],
    )
    assert admin_now["title_es"] == spec[BY_ADMIN]["title_es"]
    assert admin_now["countries"] == sorted(spec[BY_ADMIN]["countries"])

    overwrites = list(AuditEvent.objects.filter(pk__gt=last))
    assert [(e.object_code, e.action, e.via) for e in overwrites] == [
        (BY_API, "update", "command"),
        (BY_ADMIN, "update", "command"),
    ]
    by_code = {e.object_code: e for e in overwrites}
    assert set(by_code[BY_API].changes) == set(API_FIELDS)
    assert by_code[BY_API].changes["planned_end"] == {"before": "2024-06-30", "after": None}
    assert by_code[BY_ADMIN].changes["title_es"] == {
        "before": ADMIN_TITLE_ES,
        "after": spec[BY_ADMIN]["title_es"],
    }
    assert "HN" in by_code[BY_ADMIN].changes["countries"]["after"]
    assert {e.request_id for e in overwrites} == {OVERWRITE_REQUEST_ID}
    assert all(e.user is None and e.token is None for e in overwrites)
    # Partners hear about the reset like about any change.
    assert set(
        WebhookDelivery.objects.filter(subscription=subscription).values_list(
            "event__object_code", flat=True
        )
    ) == {BY_API, BY_ADMIN}

    # Now the plan is the document again: a plain load keeps and writes nothing.
    after = load()
    assert kept_in(after) == set()
    assert AuditEvent.objects.filter(pk__gt=last).count() == 2


def test_overwrite_without_edits_writes_nothing(real_plan: None) -> None:
    events = AuditEvent.objects.count()
    output = load("--overwrite")
    assert overwritten_in(output) == set()
    assert "Overwrote" not in output
    assert AuditEvent.objects.count() == events


# --- (d) twice in a row ----------------------------------------------------------------------


def test_loading_twice_in_a_row_writes_nothing(db: None) -> None:
    WebhookSubscription.objects.create(url="https://partner.example.org/hooks", event_types=["*"])
    load()
    before, events = rows(), AuditEvent.objects.count()
    baselines = list(
        ImportBaseline.objects.values_list("object_type", "code", "values", "loaded_at")
    )
    deliveries = WebhookDelivery.objects.count()
    assert deliveries > 0

    output = load()

    assert rows() == before
    assert AuditEvent.objects.count() == events
    assert WebhookDelivery.objects.count() == deliveries
    assert (
        list(ImportBaseline.objects.values_list("object_type", "code", "values", "loaded_at"))
        == baselines
    )
    assert "kept" not in output.lower()
    for kind in ("pillars", "goals", "agencies", "projects"):
        assert counts(output, kind)[:2] == (0, 0), output


def test_loading_twice_after_edits_writes_nothing_the_second_time(
    edited: dict[str, dict[str, Any]],
) -> None:
    first = load()
    before, events = rows(), AuditEvent.objects.count()

    second = load()

    assert rows() == before
    assert AuditEvent.objects.count() == events
    assert kept_in(second) == kept_in(first)


# --- the baseline ----------------------------------------------------------------------------


def test_baseline_is_what_was_loaded_in_the_audit_snapshot_form(db: None, tmp_path: Path) -> None:
    """Every kind of value (dates, decimals, leads, links, parents) compares equal to the
    live snapshot right after loading, or a reload would take fields for edited."""
    data = document()
    spec = project_spec(data, BY_API)
    spec |= {
        "planned_start": "2022-01-15",
        "planned_end": "2023-12-31",
        "budget": {"amount": 2500000, "currency": "MXN"},
        "links": [
            {"url": "https://example.org/b", "label_en": "B", "label_es": "B"},
            {"url": "https://example.org/a", "label_en": "A", "label_es": "A"},
        ],
        "countries": ["US", "MX"],
    }
    spec["agencies"][0]["is_lead"] = True
    del spec["agencies"][1]["source"]
    data["agencies"].append(
        {
            "code": "MX-SE-UIC",
            "parent": "MX-SE",
            "country": "MX",
            "name_en": "Unit",
            "name_es": "Unidad",
            "organisation_type": "10",
        }
    )
    path = write_document(tmp_path, data)
    load(str(path))

    loaded = 0
    for name in plan_types():
        model: type[PlanObject] = PLAN_TYPES[name]
        for obj in model._default_manager.all():
            baseline = ImportBaseline.objects.get(object_type=name, code=obj.code)
            live = obj.audit_snapshot()
            assert baseline.values == {k: live[k] for k in baseline.values}, obj.code
            loaded += 1
    assert loaded == ImportBaseline.objects.count()
    assert ImportBaseline.objects.get(object_type="project", code=BY_API).values[
        "budget_amount"
    ] == ("2500000.00")

    output = load(str(path))
    assert "kept" not in output.lower()
    for kind in ("pillars", "goals", "agencies", "projects"):
        assert counts(output, kind)[:2] == (0, 0), output


def test_without_a_baseline_differing_fields_count_as_edited(
    real_plan: None, admin_user: Any, tmp_path: Path
) -> None:
    """A database loaded before baselines existed: what differs from the document is
    kept (someone may have edited it), what equals it needs nothing."""
    admin = Actor(user=admin_user, via="admin")
    project = Project.objects.get(code=UNTOUCHED)
    plan_object_change(obj=project, data={"title_en": "Edited before baselines"}, actor=admin)
    ImportBaseline.objects.all().delete()
    data = document()
    project_spec(data, UNTOUCHED)["description_en"] = "New description in the document"
    events = AuditEvent.objects.count()

    output = load(str(write_document(tmp_path, data)))

    assert kept_in(output) == {f"{UNTOUCHED}.title_en", f"{UNTOUCHED}.description_en"}
    assert Project.objects.get(code=UNTOUCHED).title_en == "Edited before baselines"
    assert AuditEvent.objects.count() == events
    assert ImportBaseline.objects.count() == sum(
        model._default_manager.count() for model in PLAN_TYPES.values()
    )


def test_objects_absent_from_the_document_are_left_alone(
    edited: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    data = copy.deepcopy(document())
    data["projects"] = [p for p in data["projects"] if p["code"] not in (BY_API, BY_ADMIN)]
    events = AuditEvent.objects.count()

    output = load(str(write_document(tmp_path, data)))

    assert state(BY_API) == edited[BY_API]
    assert state(BY_ADMIN) == edited[BY_ADMIN]
    assert kept_in(output) == set()
    assert AuditEvent.objects.count() == events
