"""Who may do what in the admin: staff act under the same roles as API tokens.

Each staff user below logs into the real admin with the test client: a reader and an
editor of agency A, an editor of agency B, a plan admin by membership (no Django
permissions at all), a superuser, and staff with no role. For every plan model admin
the matrix checks the changelist, the change page of an own-agency project, another
agency's project and another agency's unpublished project, the add page, a POST of a
change (refused without writing, or accepted and audited once with via="admin"), the
archive and restore actions, and the token and webhook admin pages. Every refusal
asserts that the database did not change.

Django's own answers: no view permission at all is a 403; an object outside the
user's queryset (an unpublished project of another agency) is "does not exist", a 302
to the admin index; a POST to an object the user may only view is a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth import get_user_model
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import (
    AgencyFactory,
    GoalFactory,
    IndicatorFactory,
    IndicatorPeriodFactory,
    PillarFactory,
    ProjectAgencyRoleFactory,
    ProjectCountryFactory,
    ProjectFactory,
    ResultFactory,
)
from tests.workplan.test_admin import admin_url, form_data
from tests.workplan.test_admin_memberships import user_change
from workplan import services
from workplan.choices import Role
from workplan.models import (
    Agency,
    AgencyMembership,
    ApiToken,
    AuditEvent,
    Goal,
    Indicator,
    IndicatorPeriod,
    Pillar,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
    Result,
    WebhookDelivery,
    WebhookSubscription,
)

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db

ROLES = ["superuser", "plan_admin", "editor_a", "editor_b", "reader_a", "no_role"]
ADMINS = {"superuser", "plan_admin"}
EDITORS = {"editor_a": "a", "editor_b": "b"}
STAFF_ROLES = set(ROLES) - {"no_role"}


# -- the plan and the staff ------------------------------------------------------------------


@dataclass
class Plan:
    pillar: Pillar
    spare_pillar: Pillar  # nothing under it: it may be archived
    goal: Goal
    agency_a: Agency
    agency_b: Agency
    projects: dict[str, Project]  # a, b (published), hidden_a, hidden_b (not), archived_a

    def obj(self, name: str) -> Any:
        if name in self.projects:
            return self.projects[name]
        return getattr(self, name)


@pytest.fixture
def plan(db: Any) -> Plan:
    # Explicit numbers: factory sequences grow past the admin form's bound (999) in a
    # long test run, and the superuser's saves below would then fail validation.
    pillar = PillarFactory(number=91)
    goal = GoalFactory(pillar=pillar, number=1)
    agency_a = AgencyFactory(country="MX")
    agency_b = AgencyFactory(country="US")
    projects = {
        "a": ProjectFactory(goal=goal, is_published=True),
        "b": ProjectFactory(goal=goal, is_published=True),
        "hidden_a": ProjectFactory(goal=goal, is_published=False),
        "hidden_b": ProjectFactory(goal=goal, is_published=False),
        "archived_a": ProjectFactory(goal=goal, is_published=True, archived_at=timezone.now()),
    }
    for name, project in projects.items():
        agency = agency_a if name.endswith("a") else agency_b
        ProjectAgencyRoleFactory(project=project, agency=agency)
        ProjectCountryFactory(project=project, country=agency.country)
    return Plan(pillar, PillarFactory(number=92), goal, agency_a, agency_b, projects)


def staff_user(role: str, plan: Plan) -> Any:
    users = get_user_model().objects
    if role == "superuser":
        return users.create_superuser("root", "root@example.org", "pw")
    user = users.create_user(role, password="pw", is_staff=True)
    if role == "plan_admin":
        AgencyMembership.objects.create(user=user, agency=None, role=Role.ADMIN)
    elif role in EDITORS:
        agency = plan.agency_a if EDITORS[role] == "a" else plan.agency_b
        AgencyMembership.objects.create(user=user, agency=agency, role=Role.EDITOR)
    elif role == "reader_a":
        AgencyMembership.objects.create(user=user, agency=plan.agency_a, role=Role.READER)
    return user


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def root(plan: Plan) -> Client:
    """A superuser, to read full change forms that others then post (forged or not)."""
    return login(staff_user("superuser", plan))


def as_role(role: str, plan: Plan, root: Client) -> tuple[Any, Client]:
    if role == "superuser":  # the root fixture's user: one superuser is enough
        user = get_user_model().objects.get(username="root")
        return user, root
    user = staff_user(role, plan)
    return user, login(user)


# -- what "nothing changed" means ----------------------------------------------------------------

STATE_MODELS: list[type[models.Model]] = [
    Pillar,
    Goal,
    Agency,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
    ApiToken,
    WebhookSubscription,
    WebhookDelivery,
    AuditEvent,
]


def db_state() -> dict[str, list[dict[str, Any]]]:
    """Every row of every plan, access and audit table."""
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for model in STATE_MODELS
    }


# -- the expectations ------------------------------------------------------------------------------


def may_edit_project(role: str, name: str) -> bool:
    if role in ADMINS:
        return True
    return role in EDITORS and name.endswith(EDITORS[role])


AGENCY_OF = {"editor_a": "a", "editor_b": "b", "reader_a": "a"}


def sees_project(role: str, name: str) -> bool:
    """Published projects for every role; unpublished ones for their agency and admins."""
    if role in ADMINS:
        return True
    if role == "no_role":
        return False
    return not name.startswith("hidden") or name.endswith(AGENCY_OF[role])


PLAN_MODELS: dict[str, type[models.Model]] = {
    "pillar": Pillar,
    "goal": Goal,
    "agency": Agency,
    "project": Project,
}
# The object each model's change cell works on, and the field its POST changes.
CHANGED: dict[str, tuple[str, str]] = {
    "pillar": ("pillar", "name_en"),
    "goal": ("goal", "title_en"),
    "agency": ("agency_a", "name_en"),
}


def expected_change_page(role: str, model: str, name: str) -> str:
    """'edit', 'view', 'missing' (302 to the index) or 'forbidden' (403)."""
    if role == "no_role":
        return "forbidden"
    if model != "project":
        return "edit" if role in ADMINS else "view"
    if not sees_project(role, name):
        return "missing"
    return "edit" if may_edit_project(role, name) else "view"


# -- changelists -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", PLAN_MODELS)
@pytest.mark.parametrize("role", ROLES)
def test_changelist(plan: Plan, root: Client, role: str, model: str) -> None:
    _, client = as_role(role, plan, root)
    before = db_state()

    response = client.get(admin_url(PLAN_MODELS[model], "changelist"))

    if role == "no_role":
        assert response.status_code == 403
        assert db_state() == before
        return
    assert response.status_code == 200
    if model == "project":
        listed = {p.code for p in response.context["cl"].result_list}
        expected = {
            p.code
            for name, p in plan.projects.items()
            if sees_project(role, name) and (role in ADMINS or not name.startswith("archived"))
        }
        assert listed == expected
    else:
        obj = plan.obj(CHANGED[model][0])
        assert obj in response.context["cl"].result_list
    assert db_state() == before


@pytest.mark.parametrize("role", ROLES)
def test_admin_index_shows_the_plan_only_to_staff_with_a_role(
    plan: Plan, root: Client, role: str
) -> None:
    _, client = as_role(role, plan, root)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    models_shown = {m["object_name"] for app in response.context["app_list"] for m in app["models"]}
    plan_models = {"Pillar", "Goal", "Agency", "Project"}
    if role == "no_role":
        assert not models_shown & plan_models
    else:
        assert plan_models <= models_shown
    access = {"ApiToken", "WebhookSubscription", "WebhookDelivery"}
    assert access & models_shown == (access if role in ADMINS else set())


# -- change pages ---------------------------------------------------------------------------------


CHANGE_PAGES = [
    ("pillar", "pillar"),
    ("goal", "goal"),
    ("agency", "agency_a"),
    ("project", "a"),
    ("project", "b"),
    ("project", "hidden_a"),
    ("project", "hidden_b"),
]


@pytest.mark.parametrize(("model", "name"), CHANGE_PAGES, ids=[f"{m}-{n}" for m, n in CHANGE_PAGES])
@pytest.mark.parametrize("role", ROLES)
def test_change_page(plan: Plan, root: Client, role: str, model: str, name: str) -> None:
    _, client = as_role(role, plan, root)
    obj = plan.obj(name)
    before = db_state()

    response = client.get(admin_url(PLAN_MODELS[model], "change", obj.pk))

    expected = expected_change_page(role, model, name)
    if expected == "forbidden":
        assert response.status_code == 403
    elif expected == "missing":
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:index")
    else:
        assert response.status_code == 200
        context: Any = response.context
        assert context["has_change_permission"] is (expected == "edit")
        fields = context["adminform"].form.fields
        assert ("title_en" in fields or "name_en" in fields) is (expected == "edit")
        if model == "project" and expected == "edit":
            # Only plan admins publish: for an editor the flag is shown, not a field.
            assert ("is_published" in fields) is (role in ADMINS)
            assert "loaded_version" in fields
    assert db_state() == before


# -- add pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", PLAN_MODELS)
@pytest.mark.parametrize("role", ROLES)
def test_add_page(plan: Plan, root: Client, role: str, model: str) -> None:
    _, client = as_role(role, plan, root)
    before = db_state()

    response = client.get(admin_url(PLAN_MODELS[model], "add"))

    allowed = role in ADMINS or (role in EDITORS and model == "project")
    assert response.status_code == (200 if allowed else 403)
    if allowed and model == "project":
        assert ("is_published" in response.context["adminform"].form.fields) is (role in ADMINS)
    assert db_state() == before


# -- POSTing a change ------------------------------------------------------------------------------


POSTS = [("pillar", "pillar"), ("goal", "goal"), ("agency", "agency_a")] + [
    ("project", name) for name in ("a", "b", "hidden_a", "hidden_b")
]


def changed_field(model: str) -> str:
    return CHANGED[model][1] if model in CHANGED else "title_en"


@pytest.mark.parametrize(("model", "name"), POSTS, ids=[f"{m}-{n}" for m, n in POSTS])
@pytest.mark.parametrize("role", ROLES)
def test_post_a_change(plan: Plan, root: Client, role: str, model: str, name: str) -> None:
    """The full form (read by a superuser) posted by each role: a forged post by those who
    may only view, a normal save by those who may edit."""
    user, client = as_role(role, plan, root)
    obj = plan.obj(name)
    url = admin_url(PLAN_MODELS[model], "change", obj.pk)
    data = form_data(root.get(url))
    field = changed_field(model)
    data[field] = f"Changed by {role}"
    before = db_state()

    response = client.post(url, data)

    expected = expected_change_page(role, model, name)
    if expected != "edit":
        assert response.status_code == (302 if expected == "missing" else 403)
        assert db_state() == before
        return
    assert response.status_code == 302, response.content[:2000]
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    assert getattr(fresh, field) == f"Changed by {role}"
    assert fresh.version == obj.version + 1
    event = AuditEvent.objects.get(
        pk__gt=max((e["id"] for e in before["workplan.AuditEvent"]), default=0)
    )
    assert (event.action, event.object_code, event.via) == ("update", obj.code, "admin")
    assert (event.user_id, event.username) == (user.pk, user.username)
    assert set(event.changes) == {field}
    agency = plan.agency_a if role == "editor_a" else plan.agency_b if role == "editor_b" else None
    assert event.agency_id == (agency.pk if agency else None)


@pytest.mark.parametrize("role", ["editor_a", "editor_b"])
def test_editor_cannot_publish_in_the_admin(plan: Plan, root: Client, role: str) -> None:
    """The flag is read-only for editors: posting it (forged) changes nothing, while the
    rest of the save goes through."""
    own = "hidden_" + EDITORS[role]
    _, client = as_role(role, plan, root)
    project = plan.projects[own]
    url = admin_url(Project, "change", project.pk)
    data = form_data(root.get(url))
    data["is_published"] = "on"
    data["title_es"] = "Cambiado por la agencia"

    response = client.post(url, data)

    assert response.status_code == 302
    fresh = Project.objects.get(pk=project.pk)
    assert fresh.is_published is False
    assert fresh.title_es == "Cambiado por la agencia"
    event = AuditEvent.objects.latest("pk")
    assert set(event.changes) == {"title_es"}


def test_editor_cannot_add_another_agency_in_the_admin(plan: Plan, root: Client) -> None:
    """Participation of other agencies is the plan admins' call: the form comes back with
    the reason and the staff member's input, and nothing is written."""
    _, client = as_role("editor_a", plan, root)
    project = plan.projects["a"]
    url = admin_url(Project, "change", project.pk)
    data = form_data(client.get(url))
    n = int(data["agency_roles-TOTAL_FORMS"])
    data["agency_roles-TOTAL_FORMS"] = n + 1
    data |= {
        f"agency_roles-{n}-project": project.pk,
        f"agency_roles-{n}-agency": plan.agency_b.pk,
        f"agency_roles-{n}-role": "2",
        f"agency_roles-{n}-source": "stated",
    }
    data["title_en"] = "Typed with the new agency"
    before = db_state()

    response = client.post(url, data)

    assert response.status_code == 200
    form: Any = response.context["adminform"].form
    assert "Only plan admins change another agency's participation" in " ".join(
        form.non_field_errors()
    )
    assert form["title_en"].value() == "Typed with the new agency"
    assert db_state() == before


# -- adding ----------------------------------------------------------------------------------------


def project_add_data(plan: Plan, code: str, agency: Agency) -> dict[str, Any]:
    return {
        "code": code,
        "goal": plan.goal.pk,
        "status": "2",
        "title_en": "New project",
        "title_es": "Proyecto nuevo",
        "description_en": "",
        "description_es": "",
        "budget_currency": "",
        "agency_roles-TOTAL_FORMS": 1,
        "agency_roles-INITIAL_FORMS": 0,
        "agency_roles-0-agency": agency.pk,
        "agency_roles-0-role": "4",
        "agency_roles-0-source": "stated",
        "countries-TOTAL_FORMS": 0,
        "countries-INITIAL_FORMS": 0,
        "links-TOTAL_FORMS": 0,
        "links-INITIAL_FORMS": 0,
    }


@pytest.mark.parametrize("role", ROLES)
def test_add_a_project(plan: Plan, root: Client, role: str) -> None:
    _, client = as_role(role, plan, root)
    data = project_add_data(plan, "HLED-2099-01", plan.agency_a)
    data["is_published"] = "on"  # only plan admins may publish
    before = db_state()

    response = client.post(admin_url(Project, "add"), data)

    if role not in ADMINS and role != "editor_a":
        # editor_b may add projects, but only with its own agency taking part.
        assert response.status_code == (200 if role == "editor_b" else 403)
        if role == "editor_b":
            errors = response.context["adminform"].form.non_field_errors()
            assert "Your agency must take part in the project." in " ".join(errors)
        assert db_state() == before
        return
    assert response.status_code == 302, response.content[:2000]
    created = Project.objects.get(code="HLED-2099-01")
    assert created.is_published is (role in ADMINS)
    assert list(created.agency_roles.values_list("agency", flat=True)) == [plan.agency_a.pk]
    event = AuditEvent.objects.get(object_code="HLED-2099-01")
    assert (event.action, event.via) == ("create", "admin")


@pytest.mark.parametrize("model", ["pillar", "goal", "agency"])
@pytest.mark.parametrize("role", ["editor_a", "reader_a", "no_role"])
def test_only_plan_admins_add_pillars_goals_and_agencies(
    plan: Plan, root: Client, role: str, model: str
) -> None:
    _, client = as_role(role, plan, root)
    data = {
        "pillar": {"code": "P99", "number": 99, "name_en": "P", "name_es": "P"},
        "goal": {"code": f"{plan.pillar.code}-G99", "pillar": plan.pillar.pk, "number": 99},
        "agency": {"code": "MX-NEWAG", "acronym": "NEWAG", "country": "MX"},
    }[model]
    before = db_state()

    response = client.post(admin_url(PLAN_MODELS[model], "add"), data)

    assert response.status_code == 403
    assert db_state() == before


# -- archive and restore ------------------------------------------------------------------------


def action_choices(client: Client, model: type[models.Model]) -> set[str]:
    response = client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    action_form = response.context.get("action_form")
    if action_form is None:
        return set()
    return {name for name, _ in action_form.fields["action"].choices if name}


def run_action(client: Client, model: type[models.Model], action: str, obj: Any) -> TestResponse:
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "_selected_action": [obj.pk], "index": 0, "select_across": 0},
    )


def may_archive(role: str, model: str, name: str) -> bool:
    if model == "project":
        return may_edit_project(role, name)
    return role in ADMINS


ARCHIVES = [("project", "a"), ("project", "b"), ("pillar", "spare_pillar")]


@pytest.mark.parametrize(("model", "name"), ARCHIVES, ids=[f"{m}-{n}" for m, n in ARCHIVES])
@pytest.mark.parametrize("role", ROLES)
def test_archive_action(plan: Plan, root: Client, role: str, model: str, name: str) -> None:
    user, client = as_role(role, plan, root)
    admin_model = PLAN_MODELS[model]
    obj = plan.obj(name)
    before = db_state()

    if role == "no_role":
        assert run_action(client, admin_model, "archive_selected", obj).status_code == 403
        assert db_state() == before
        return
    offered = "archive_selected" in action_choices(client, admin_model)
    # Offered to whoever may archive some object of the model (the policy's call).
    assert offered is (role in ADMINS or (role in EDITORS and model == "project"))
    response = run_action(client, admin_model, "archive_selected", obj)

    assert response.status_code in (200, 302)
    fresh = admin_model._default_manager.get(pk=obj.pk)
    if may_archive(role, model, name):
        assert fresh.archived_at is not None
        event = AuditEvent.objects.latest("pk")
        assert (event.action, event.object_code, event.via, event.user_id) == (
            "archive",
            obj.code,
            "admin",
            user.pk,
        )
    else:
        assert fresh.archived_at is None
        assert db_state() == before


@pytest.mark.parametrize("role", ROLES)
def test_restore_action(plan: Plan, root: Client, role: str) -> None:
    user, client = as_role(role, plan, root)
    archived = plan.projects["archived_a"]
    before = db_state()

    if role == "no_role":
        assert run_action(client, Project, "restore_selected", archived).status_code == 403
        assert db_state() == before
        return
    assert ("restore_selected" in action_choices(client, Project)) is (role in ADMINS)
    response = run_action(client, Project, "restore_selected", archived)

    assert response.status_code in (200, 302)
    fresh = Project.objects.get(pk=archived.pk)
    if role in ADMINS:
        assert fresh.archived_at is None
        event = AuditEvent.objects.latest("pk")
        assert (event.action, event.via, event.user_id) == ("restore", "admin", user.pk)
    else:
        assert fresh.archived_at is not None
        assert db_state() == before


# -- tokens and webhooks: plan admins only --------------------------------------------------------


ACCESS_PAGES = [
    (ApiToken, "changelist"),
    (ApiToken, "add"),
    (WebhookSubscription, "changelist"),
    (WebhookSubscription, "add"),
    (WebhookDelivery, "changelist"),
]


@pytest.mark.parametrize(
    ("model", "view"),
    ACCESS_PAGES,
    ids=[f"{m._meta.model_name}-{v}" for m, v in ACCESS_PAGES],
)
@pytest.mark.parametrize("role", ROLES)
def test_token_and_webhook_pages(
    plan: Plan, root: Client, role: str, model: type[models.Model], view: str
) -> None:
    _, client = as_role(role, plan, root)
    before = db_state()
    response = client.get(admin_url(model, view))
    assert response.status_code == (200 if role in ADMINS else 403)
    assert db_state() == before


@pytest.mark.parametrize("view", ["changelist", "change"])
@pytest.mark.parametrize("role", ROLES)
def test_the_audit_trail_is_read_by_plan_admins(
    plan: Plan, root: Client, role: str, view: str
) -> None:
    _, client = as_role(role, plan, root)
    root_user = get_user_model().objects.get(username="root")
    services.plan_object_update(
        obj=plan.spare_pillar,
        data={"name_en": "Renamed"},
        actor=services.Actor(user=root_user, via="admin"),
    )
    event = AuditEvent.objects.latest("pk")
    args = (event.pk,) if view == "change" else ()
    response = client.get(admin_url(AuditEvent, view, *args))
    assert response.status_code == (200 if role in ADMINS else 403)
    if role in ADMINS:
        assert event.object_code in response.content.decode()
    index = client.get(reverse("admin:index"))
    shown = "/admin/workplan/auditevent/" in index.content.decode()
    assert shown == (role in ADMINS)


@pytest.mark.parametrize("role", ROLES)
def test_the_token_forms_user_picker_finds_users_for_plan_admins(
    plan: Plan, root: Client, role: str
) -> None:
    _, client = as_role(role, plan, root)
    get_user_model().objects.create_user("se-sync")
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "workplan", "model_name": "apitoken", "field_name": "user", "term": "se-"},
    )
    assert response.status_code == (200 if role in ADMINS else 403)
    if role in ADMINS:
        assert [r["text"] for r in response.json()["results"]] == ["se-sync"]


@pytest.mark.parametrize("role", ROLES)
def test_plan_admins_grant_roles_but_not_more(plan: Plan, root: Client, role: str) -> None:
    user, client = as_role(role, plan, root)
    partner = get_user_model().objects.create_user("se-sync", password="secret")
    # The full form, as a superuser sees it, with a role granted and the account forged.
    url, data = user_change(root, partner)
    data |= {
        "membership-0-agency": plan.agency_a.pk,
        "membership-0-role": Role.EDITOR,
        "membership-TOTAL_FORMS": "1",
        "is_superuser": "on",
        "is_staff": "on",
        "username": "renamed",
    }
    response = client.post(url, data)
    partner.refresh_from_db()
    password_page = client.get(reverse("admin:auth_user_password_change", args=(partner.pk,)))

    if role not in ADMINS:
        assert response.status_code == 403
        assert not AgencyMembership.objects.filter(user=partner).exists()
        assert password_page.status_code == 403
        return
    assert response.status_code == 302, response.content[:2000]
    membership = AgencyMembership.objects.get(user=partner)
    assert (membership.agency, membership.role) == (plan.agency_a, Role.EDITOR)
    if role == "superuser":
        assert (partner.username, partner.is_superuser, partner.is_staff) == ("renamed", True, True)
        assert password_page.status_code == 200
    else:
        # The account is left as it was: a role is all a plan admin grants.
        assert (partner.username, partner.is_superuser, partner.is_staff) == (
            "se-sync",
            False,
            False,
        )
        assert partner.check_password("secret")
        assert password_page.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_issuing_a_token_in_the_admin(plan: Plan, root: Client, role: str) -> None:
    user, client = as_role(role, plan, root)
    partner = get_user_model().objects.create_user("partner")
    before = db_state()

    response = client.post(
        admin_url(ApiToken, "add"), {"user": partner.pk, "name": "sync", "scope": "read"}
    )

    if role not in ADMINS:
        assert response.status_code == 403
        assert db_state() == before
        return
    assert response.status_code == 302, response.content[:2000]
    token = ApiToken.objects.get(user=partner)
    assert token.name == "sync"
    event = AuditEvent.objects.latest("pk")
    assert (event.via, event.user_id) == ("admin", user.pk)


@pytest.mark.parametrize("role", ROLES)
def test_subscribing_a_webhook_in_the_admin(plan: Plan, root: Client, role: str) -> None:
    _, client = as_role(role, plan, root)
    before = db_state()

    response = client.post(
        admin_url(WebhookSubscription, "add"),
        {
            "url": "http://127.0.0.1:18650/hook",
            "description": "",
            "event_types": '["project.*"]',
            "is_active": "on",
        },
    )

    if role not in ADMINS:
        assert response.status_code == 403
        assert db_state() == before
        return
    assert response.status_code == 302, response.content[:2000]
    assert WebhookSubscription.objects.get().url == "http://127.0.0.1:18650/hook"


# -- results, with indicators and periods inline ------------------------------------------------

RESULT_STATE_MODELS = [Result, Indicator, IndicatorPeriod, AuditEvent]


def results_state() -> dict[str, list[dict[str, Any]]]:
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for model in RESULT_STATE_MODELS
    }


@pytest.fixture
def results(plan: Plan) -> dict[str, Result]:
    """A result with one indicator (with one period) on each active project."""
    made = {}
    for name in ("a", "b", "hidden_a", "hidden_b"):
        result = ResultFactory(project=plan.projects[name])
        IndicatorPeriodFactory(indicator=IndicatorFactory(result=result))
        made[name] = result
    return made


RESULT_MODELS = {"result": Result, "indicator": Indicator, "period": IndicatorPeriod}


def under(model: str, result: Result) -> Any:
    if model == "result":
        return result
    indicator = result.indicators.get()
    return indicator if model == "indicator" else indicator.periods.get()


@pytest.mark.parametrize("model", RESULT_MODELS)
@pytest.mark.parametrize("name", ["a", "b", "hidden_a", "hidden_b"])
@pytest.mark.parametrize("role", ROLES)
def test_result_change_pages_follow_the_project(
    plan: Plan, root: Client, results: dict[str, Result], role: str, name: str, model: str
) -> None:
    """Results, indicators and periods are seen and edited as their project is."""
    _, client = as_role(role, plan, root)
    obj = under(model, results[name])
    before = results_state()

    response = client.get(admin_url(RESULT_MODELS[model], "change", obj.pk))

    expected = expected_change_page(role, "project", name)
    if expected == "forbidden":
        assert response.status_code == 403
    elif expected == "missing":
        assert response.status_code == 302
    else:
        assert response.status_code == 200
        assert response.context["has_change_permission"] is (expected == "edit")
        if model != "period":
            # The inline rows are editable exactly when the page is.
            [inline] = response.context["inline_admin_formsets"]
            assert inline.has_change_permission is (expected == "edit")
    assert results_state() == before


@pytest.mark.parametrize("name", ["a", "b", "hidden_a", "hidden_b"])
@pytest.mark.parametrize("role", ROLES)
def test_post_an_indicator_change_inline(
    plan: Plan, root: Client, results: dict[str, Result], role: str, name: str
) -> None:
    """The result's full form (read by a superuser) with its indicator's title changed,
    posted by each role: refused without writing, or saved through the services."""
    user, client = as_role(role, plan, root)
    result = results[name]
    indicator = result.indicators.get()
    url = admin_url(Result, "change", result.pk)
    data = form_data(root.get(url))
    data["indicators-0-title_en"] = f"Changed by {role}"
    before = results_state()

    response = client.post(url, data)

    expected = expected_change_page(role, "project", name)
    if expected != "edit":
        assert response.status_code == (302 if expected == "missing" else 403)
        assert results_state() == before
        return
    assert response.status_code == 302, response.content[:2000]
    fresh = Indicator.objects.get(pk=indicator.pk)
    assert (fresh.title_en, fresh.version) == (f"Changed by {role}", indicator.version + 1)
    event = AuditEvent.objects.latest("pk")
    assert (event.object_type, event.object_code, event.via) == ("indicator", fresh.code, "admin")
    assert (event.user_id, set(event.changes)) == (user.pk, {"title_en"})
    # The result itself did not change, so it has no new version.
    assert Result.objects.get(pk=result.pk).version == result.version


@pytest.mark.parametrize("role", ROLES)
def test_result_add_page(plan: Plan, root: Client, role: str) -> None:
    _, client = as_role(role, plan, root)
    response = client.get(admin_url(Result, "add"))
    allowed = role in ADMINS or role in EDITORS
    assert response.status_code == (200 if allowed else 403)
