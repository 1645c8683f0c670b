"""The audit trail: one AuditEvent per change, through the API, the admin and the commands.

Each event says who (user, token, agency), through what (via, request id), what
(action, object type and code) and the fields that changed, before and after.
"""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.forms import CheckboxInput
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import auth_header, client_for, make_user
from tests.factories import (
    AgencyFactory,
    ApiTokenFactory,
    GoalFactory,
    PillarFactory,
    ProjectAgencyRoleFactory,
    ProjectCountryFactory,
    ProjectFactory,
)
from workplan.choices import Role
from workplan.models import Agency, ApiToken, AuditEvent, Project

pytestmark = pytest.mark.django_db

CODE = "HLED-2026-01"
SE_EDITOR_ROLE = {"agency": "MX-SE", "role": "4", "is_lead": True, "source": "stated"}
PROJECT_BODY: dict[str, Any] = {
    "code": CODE,
    "goal": "P1-G1",
    "title_en": "Supply-chain mapping pilot",
    "title_es": "Piloto de mapeo de cadenas de suministro",
    "description_en": "Maps supply chains.",
    "description_es": "Mapea cadenas de suministro.",
    "status": "2",
    "planned_start": "2026-01-15",
    "planned_end": "2027-06-30",
    "countries": ["US", "MX"],
    "participating_agencies": [SE_EDITOR_ROLE],
    "budget": {"amount": "250000.00", "currency": "USD"},
    "links": [],
}


class Caller:
    """A partner user with a bearer token, as the audit trail should name it."""

    def __init__(self, username: str, role: str, agency: str | None) -> None:
        self.user = make_user(username, role, agency)
        self.agency = self.user.membership.agency
        self.token = ApiTokenFactory(user=self.user)
        self.headers = auth_header(self.token.plaintext)


@pytest.fixture
def plan(db: Any) -> None:
    """A slice of the real plan: P1-G1, MX-SE, US-DOC and HLED-2021-01 (SE and DOC)."""
    goal = GoalFactory(pillar=PillarFactory(number=1), number=1)
    se = AgencyFactory(country="MX", acronym="SE")
    doc = AgencyFactory(country="US", acronym="DOC")
    project = ProjectFactory(code="HLED-2021-01", goal=goal, is_published=True)
    for agency in (se, doc):
        ProjectAgencyRoleFactory(project=project, agency=agency, role="4")
    ProjectCountryFactory(project=project, country="MX")


@pytest.fixture
def editor(plan: None) -> Caller:
    return Caller("se-editor", Role.EDITOR, "MX-SE")


@pytest.fixture
def plan_admin(plan: None) -> Caller:
    # A plan admin who also belongs to an agency, so the event's agency is checked too.
    return Caller("plan-admin", Role.ADMIN, "US-DOC")


def one_new_event(since: int, **expected: Any) -> AuditEvent:
    """The single event recorded after id `since`, checked against `expected`."""
    events = list(AuditEvent.objects.filter(id__gt=since))
    assert len(events) == 1, [(e.action, e.object_code, e.changes) for e in events]
    event = events[0]
    for name, value in expected.items():
        assert getattr(event, name) == value, (name, getattr(event, name), value)
    return event


def last_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def assert_by(event: AuditEvent, caller: Caller, request_id: str) -> None:
    assert event.user == caller.user
    assert event.username == caller.user.username
    assert event.token == caller.token
    assert event.token_prefix == caller.token.prefix
    assert event.agency == caller.agency
    assert event.via == "api"
    assert event.request_id == request_id


def create_project(api: APIClient, editor: Caller, request_id: str = "req-create-1") -> Any:
    response = api.post(
        "/api/v1/projects/",
        PROJECT_BODY,
        format="json",
        HTTP_X_REQUEST_ID=request_id,
        **editor.headers,
    )
    assert response.status_code == 201, response.content[:500]
    assert response["X-Request-ID"] == request_id
    return response


# --- through the API ----------------------------------------------------------------------------


def test_api_create_records_one_event(api: APIClient, editor: Caller) -> None:
    since = last_id()

    create_project(api, editor, "req-create-1")

    project = Project.objects.get(code=CODE)
    event = one_new_event(
        since, action="create", object_type="project", object_code=CODE, object_id=project.pk
    )
    assert_by(event, editor, "req-create-1")
    assert event.agency is not None and event.agency.code == "MX-SE"
    after = {
        "code": CODE,
        "goal": "P1-G1",
        "title_en": PROJECT_BODY["title_en"],
        "title_es": PROJECT_BODY["title_es"],
        "description_en": PROJECT_BODY["description_en"],
        "description_es": PROJECT_BODY["description_es"],
        "status": "2",
        "planned_start": "2026-01-15",
        "planned_end": "2027-06-30",
        "budget_amount": "250000.00",
        "budget_currency": "USD",
        "is_published": False,
        "archived": False,
        "countries": ["MX", "US"],
        "participating_agencies": [SE_EDITOR_ROLE],
        "links": [],
    }
    # Every field the new object has is a change from nothing; unset dates are not listed.
    assert event.changes == {name: {"before": None, "after": v} for name, v in after.items()}


@pytest.mark.parametrize(
    ("resource", "body", "object_type"),
    [
        (
            "pillars",
            {
                "code": "P5",
                "number": 5,
                "name_en": "Energy",
                "name_es": "Energía",
                "description_en": "",
                "description_es": "",
            },
            "pillar",
        ),
        (
            "goals",
            {
                "code": "P1-G9",
                "pillar": "P1",
                "number": 9,
                "title_en": "Customs",
                "title_es": "Aduanas",
                "description_en": "",
                "description_es": "",
            },
            "goal",
        ),
        (
            "agencies",
            {
                "code": "MX-ANAM",
                "acronym": "ANAM",
                "name_en": "National Customs Agency",
                "name_es": "Agencia Nacional de Aduanas",
                "country": "MX",
                "organisation_type": "10",
                "parent": None,
                "website": "",
            },
            "agency",
        ),
    ],
)
def test_api_create_of_every_resource_is_audited(
    api: APIClient, plan_admin: Caller, resource: str, body: dict, object_type: str
) -> None:
    since = last_id()
    response = api.post(
        f"/api/v1/{resource}/", body, format="json", HTTP_X_REQUEST_ID="rq", **plan_admin.headers
    )
    assert response.status_code == 201, response.content[:500]
    event = one_new_event(since, action="create", object_type=object_type, object_code=body["code"])
    assert_by(event, plan_admin, "rq")
    assert event.changes["code"] == {"before": None, "after": body["code"]}


def test_api_patch_records_exactly_the_changed_fields(api: APIClient, editor: Caller) -> None:
    create_project(api, editor)
    since = last_id()

    response = api.patch(
        f"/api/v1/projects/{CODE}/",
        {
            "title_en": "Supply-chain mapping",
            "title_es": PROJECT_BODY["title_es"],  # sent, but the same: not a change
            "countries": ["MX", "US", "CA"],
            "participating_agencies": [{**SE_EDITOR_ROLE, "role": "1"}],
        },
        format="json",
        HTTP_IF_MATCH="*",
        HTTP_X_REQUEST_ID="req-patch-1",
        **editor.headers,
    )

    assert response.status_code == 200, response.content[:500]
    event = one_new_event(since, action="update", object_type="project", object_code=CODE)
    assert_by(event, editor, "req-patch-1")
    assert event.changes == {
        "title_en": {"before": PROJECT_BODY["title_en"], "after": "Supply-chain mapping"},
        "countries": {"before": ["MX", "US"], "after": ["CA", "MX", "US"]},
        "participating_agencies": {
            "before": [SE_EDITOR_ROLE],
            "after": [{**SE_EDITOR_ROLE, "role": "1"}],
        },
    }


def test_api_patch_of_agencies_by_an_admin(api: APIClient, editor: Caller, plan_admin: Caller):
    create_project(api, editor)
    since = last_id()
    doc = {"agency": "US-DOC", "role": "2", "is_lead": False, "source": "inferred"}

    response = api.patch(
        f"/api/v1/projects/{CODE}/",
        {"participating_agencies": [SE_EDITOR_ROLE, doc], "budget": None},
        format="json",
        HTTP_IF_MATCH="*",
        HTTP_X_REQUEST_ID="req-admin-patch",
        **plan_admin.headers,
    )

    assert response.status_code == 200, response.content[:500]
    event = one_new_event(since, action="update", object_code=CODE)
    assert_by(event, plan_admin, "req-admin-patch")
    assert event.agency is not None and event.agency.code == "US-DOC"
    assert event.changes == {
        "participating_agencies": {"before": [SE_EDITOR_ROLE], "after": [SE_EDITOR_ROLE, doc]},
        "budget_amount": {"before": "250000.00", "after": None},
        "budget_currency": {"before": "USD", "after": ""},
    }


def test_api_put_records_only_what_changed(api: APIClient, editor: Caller) -> None:
    create_project(api, editor)
    since = last_id()
    body = {**PROJECT_BODY, "description_es": "Otra descripción."}

    response = api.put(
        f"/api/v1/projects/{CODE}/", body, format="json", HTTP_IF_MATCH="*", **editor.headers
    )

    assert response.status_code == 200, response.content[:500]
    event = one_new_event(since, action="update")
    assert event.changes == {
        "description_es": {"before": PROJECT_BODY["description_es"], "after": "Otra descripción."}
    }


@pytest.mark.parametrize(
    "body",
    [
        {"title_en": PROJECT_BODY["title_en"]},
        {"countries": ["MX", "US"]},
        {"countries": ["US", "MX"]},
        {"participating_agencies": [SE_EDITOR_ROLE]},
        {"budget": {"amount": "250000", "currency": "USD"}},
        {},
    ],
    ids=[
        "same-title",
        "same-countries",
        "countries-reordered",
        "same-agencies",
        "same-budget",
        "empty",
    ],
)
def test_api_patch_that_changes_nothing_records_nothing(
    api: APIClient, editor: Caller, body: dict
) -> None:
    create_project(api, editor)
    since = last_id()

    response = api.patch(
        f"/api/v1/projects/{CODE}/", body, format="json", HTTP_IF_MATCH="*", **editor.headers
    )

    assert response.status_code == 200, response.content[:500]
    assert not AuditEvent.objects.filter(id__gt=since).exists()


def test_api_delete_records_one_archive_event(api: APIClient, editor: Caller) -> None:
    create_project(api, editor)
    since = last_id()

    response = api.delete(
        f"/api/v1/projects/{CODE}/",
        HTTP_IF_MATCH="*",
        HTTP_X_REQUEST_ID="req-delete-1",
        **editor.headers,
    )

    assert response.status_code == 204, response.content[:500]
    event = one_new_event(since, action="archive", object_type="project", object_code=CODE)
    assert_by(event, editor, "req-delete-1")
    assert event.changes == {"archived": {"before": False, "after": True}}


def test_api_restore_records_one_restore_event(
    api: APIClient, editor: Caller, plan_admin: Caller
) -> None:
    create_project(api, editor)
    deleted = api.delete(f"/api/v1/projects/{CODE}/", HTTP_IF_MATCH="*", **editor.headers)
    assert deleted.status_code == 204
    since = last_id()

    response = api.post(
        f"/api/v1/projects/{CODE}/restore/", HTTP_X_REQUEST_ID="req-restore-1", **plan_admin.headers
    )

    assert response.status_code == 200, response.content[:500]
    event = one_new_event(since, action="restore", object_type="project", object_code=CODE)
    assert_by(event, plan_admin, "req-restore-1")
    assert event.changes == {"archived": {"before": True, "after": False}}


def test_the_whole_life_of_a_project_is_four_events(
    api: APIClient, editor: Caller, plan_admin: Caller
) -> None:
    since = last_id()
    create_project(api, editor, "r1")
    patch = api.patch(
        f"/api/v1/projects/{CODE}/",
        {"title_es": "Piloto"},
        format="json",
        HTTP_IF_MATCH="*",
        HTTP_X_REQUEST_ID="r2",
        **editor.headers,
    )
    assert patch.status_code == 200
    delete = api.delete(
        f"/api/v1/projects/{CODE}/", HTTP_IF_MATCH="*", HTTP_X_REQUEST_ID="r3", **editor.headers
    )
    assert delete.status_code == 204
    restore = api.post(
        f"/api/v1/projects/{CODE}/restore/", HTTP_X_REQUEST_ID="r4", **plan_admin.headers
    )
    assert restore.status_code == 200

    events = AuditEvent.objects.filter(id__gt=since).order_by("id")
    assert [(e.action, e.request_id, e.username) for e in events] == [
        ("create", "r1", "se-editor"),
        ("update", "r2", "se-editor"),
        ("archive", "r3", "se-editor"),
        ("restore", "r4", "plan-admin"),
    ]


def test_refused_writes_record_nothing(api: APIClient, editor: Caller) -> None:
    create_project(api, editor)
    since = last_id()
    url = f"/api/v1/projects/{CODE}/"

    stale = api.patch(
        url, {"title_en": "x"}, format="json", HTTP_IF_MATCH='"999-x"', **editor.headers
    )
    invalid = api.patch(
        url, {"planned_end": "2000-01-01"}, format="json", HTTP_IF_MATCH="*", **editor.headers
    )
    publish = api.patch(
        url, {"is_published": True}, format="json", HTTP_IF_MATCH="*", **editor.headers
    )

    assert (stale.status_code, invalid.status_code, publish.status_code) == (412, 400, 400)
    assert not AuditEvent.objects.filter(id__gt=since).exists()


def test_the_generated_request_id_is_recorded(api: APIClient, editor: Caller) -> None:
    since = last_id()
    response = api.post("/api/v1/projects/", PROJECT_BODY, format="json", **editor.headers)
    assert response.status_code == 201
    event = one_new_event(since, action="create")
    assert event.request_id == response["X-Request-ID"]
    assert len(event.request_id) >= 16


def test_a_session_user_is_recorded_without_a_token(plan: None) -> None:
    user = make_user("staff-editor", Role.EDITOR, "MX-SE")
    se = Agency.objects.get(code="MX-SE")
    since = last_id()

    response = client_for(user).post(
        "/api/v1/projects/", PROJECT_BODY, format="json", HTTP_X_REQUEST_ID="session-1"
    )

    assert response.status_code == 201, response.content[:500]
    event = one_new_event(since, action="create", object_code=CODE)
    assert (event.user, event.username, event.agency) == (user, "staff-editor", se)
    assert (event.token, event.token_prefix) == (None, "")
    assert (event.via, event.request_id) == ("api", "session-1")


def test_event_keeps_the_token_prefix_after_the_token_is_gone(
    api: APIClient, editor: Caller
) -> None:
    create_project(api, editor)
    event = AuditEvent.objects.get(object_code=CODE, action="create")
    prefix = editor.token.prefix
    ApiToken.objects.filter(pk=editor.token.pk).delete()
    get_user_model().objects.filter(pk=editor.user.pk).delete()

    event.refresh_from_db()
    assert (event.token, event.user) == (None, None)
    assert (event.token_prefix, event.username) == (prefix, "se-editor")


# --- through the admin --------------------------------------------------------------------------


def admin_url(model: Any, view: str, *args: Any) -> str:
    return reverse(f"admin:workplan_{model._meta.model_name}_{view}", args=args)


def form_data(response: Any) -> dict[str, Any]:
    """What the change form posts when nothing is edited: main form, inlines, management forms."""
    context = response.context
    forms = [context["adminform"].form]
    data: dict[str, Any] = {}
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data |= {management.add_prefix(k): v for k, v in management.initial.items()}
        forms.extend(formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if isinstance(field.widget, CheckboxInput):
                if value:
                    data[key] = "on"
            elif value is not None:
                data[key] = value
    return data


def test_admin_change_form_records_an_update(
    admin_client: Client, admin_user: Any, plan: None
) -> None:
    agency = Agency.objects.get(code="MX-SE")
    url = admin_url(Agency, "change", agency.pk)
    data = form_data(admin_client.get(url))
    data["name_en"] = "Ministry of the Economy"
    since = last_id()

    response = admin_client.post(url, data, HTTP_X_REQUEST_ID="admin-req-1")

    assert response.status_code == 302, response.content[:500]
    event = one_new_event(
        since,
        action="update",
        object_type="agency",
        object_code="MX-SE",
        via="admin",
        user=admin_user,
        username=admin_user.username,
        token=None,
        token_prefix="",
        request_id="admin-req-1",
    )
    assert event.changes == {
        "name_en": {"before": agency.name_en, "after": "Ministry of the Economy"}
    }


def test_admin_project_save_records_inline_changes(admin_client: Client, plan: None) -> None:
    project = Project.objects.get(code="HLED-2021-01")
    url = admin_url(Project, "change", project.pk)
    data = form_data(admin_client.get(url))
    data["title_es"] = "Nuevo título"
    total = int(data["countries-TOTAL_FORMS"])
    data["countries-TOTAL_FORMS"] = total + 1
    data[f"countries-{total}-project"] = project.pk
    data[f"countries-{total}-country"] = "US"
    since = last_id()

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content[:500]
    event = one_new_event(since, action="update", object_code="HLED-2021-01", via="admin")
    assert event.changes == {
        "title_es": {"before": project.title_es, "after": "Nuevo título"},
        "countries": {"before": ["MX"], "after": ["MX", "US"]},
    }


def test_admin_save_without_changes_records_nothing(admin_client: Client, plan: None) -> None:
    agency = Agency.objects.get(code="MX-SE")
    url = admin_url(Agency, "change", agency.pk)
    data = form_data(admin_client.get(url))
    since = last_id()

    assert admin_client.post(url, data).status_code == 302
    assert not AuditEvent.objects.filter(id__gt=since).exists()


def test_admin_add_form_records_a_create(admin_client: Client, plan: None) -> None:
    url = admin_url(Agency, "add")
    data = form_data(admin_client.get(url))
    data |= {
        "code": "MX-ANAM",
        "acronym": "ANAM",
        "country": "MX",
        "name_en": "National Customs Agency",
        "name_es": "Agencia Nacional de Aduanas",
        "organisation_type": "10",
    }
    since = last_id()

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content[:500]
    event = one_new_event(since, action="create", object_code="MX-ANAM", via="admin")
    assert event.changes["code"] == {"before": None, "after": "MX-ANAM"}


def test_admin_archive_action_records_an_archive_event(
    admin_client: Client, admin_user: Any, plan: None
) -> None:
    project = Project.objects.get(code="HLED-2021-01")
    since = last_id()

    response = admin_client.post(
        admin_url(Project, "changelist"),
        {"action": "archive_selected", "_selected_action": [project.pk]},
        HTTP_X_REQUEST_ID="admin-archive",
    )

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.archived_at is not None
    event = one_new_event(
        since,
        action="archive",
        object_type="project",
        object_code="HLED-2021-01",
        via="admin",
        user=admin_user,
        request_id="admin-archive",
    )
    assert event.changes == {"archived": {"before": False, "after": True}}


# --- through the commands -----------------------------------------------------------------------


def test_load_workplan_records_creates_once(db: Any) -> None:
    call_command("load_workplan", stdout=io.StringIO())

    events = list(AuditEvent.objects.all())
    assert events
    assert {e.action for e in events} == {"create"}
    assert {e.via for e in events} == {"command"}
    assert {(e.user_id, e.username, e.token_id, e.token_prefix, e.agency_id) for e in events} == {
        (None, "", None, "", None)
    }
    counts = Counter(e.object_type for e in events)
    assert counts == {
        "pillar": 4,
        "goal": 11,
        "agency": 11,
        "project": 11,
        "meeting": 4,
        "progress": 9,
        "result": 2,
        "indicator": 3,
        "period": 3,
    }
    assert len({(e.object_type, e.object_code) for e in events}) == len(events)
    assert "HLED-2021-07" in {e.object_code for e in events}

    call_command("load_workplan", stdout=io.StringIO())

    assert AuditEvent.objects.count() == len(events)
