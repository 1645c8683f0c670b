"""API tokens: stored hashed, shown once, scoped, expiring, revocable, with a last-used time.

Issued by `api_token_create`, by `manage.py create_api_token` and in the admin.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import assert_problem, auth_header, make_user
from tests.factories import (
    AgencyFactory,
    GoalFactory,
    PillarFactory,
    ProjectAgencyRoleFactory,
    ProjectFactory,
)
from workplan import services
from workplan.choices import Role
from workplan.models import Agency, AgencyMembership, ApiToken, AuditEvent, Project, TokenScope
from workplan.policy import SYSTEM
from workplan.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db

PLAINTEXT = re.compile(r"wpt_[0-9a-f]+_[A-Za-z0-9_-]+")
# HLED-2021-01 has MX-SE among its agencies; HLED-2021-03 does not.
SE_PROJECT, OTHER_PROJECT = "HLED-2021-01", "HLED-2021-03"


def new_project(code: str = "HLED-2026-01", agency: str = "MX-SE") -> dict[str, Any]:
    return {
        "code": code,
        "goal": "P1-G1",
        "title_en": "Supply-chain mapping pilot",
        "title_es": "Piloto de mapeo de cadenas de suministro",
        "countries": ["MX"],
        "participating_agencies": [{"agency": agency, "role": "4"}],
    }


@pytest.fixture
def plan(db: Any) -> None:
    """A slice of the real plan (loading all of it per test is slow): SE, SRE and DOC,
    HLED-2021-01 with SE and DOC, HLED-2021-03 with SRE."""
    goal = GoalFactory(pillar=PillarFactory(number=1), number=1)
    se = AgencyFactory(country="MX", acronym="SE")
    sre = AgencyFactory(country="MX", acronym="SRE")
    doc = AgencyFactory(country="US", acronym="DOC")
    for code, agencies in ((SE_PROJECT, (se, doc)), (OTHER_PROJECT, (sre,))):
        project = ProjectFactory(code=code, goal=goal)
        for agency in agencies:
            ProjectAgencyRoleFactory(project=project, agency=agency, role="4")


@pytest.fixture
def reader(plan: None) -> Any:
    return make_user("se-reader", Role.READER, "MX-SE")


# --- storage -------------------------------------------------------------------------------------


def test_the_plaintext_is_in_no_column(reader: Any) -> None:
    token, plaintext = api_token_create(
        actor=SYSTEM, user=reader, scope="read", name="partner sync"
    )
    secret = plaintext.split("_", 2)[2]
    assert len(secret) >= 32

    row = ApiToken.objects.filter(pk=token.pk).values().get()

    assert set(row) == {f.attname for f in ApiToken._meta.concrete_fields}
    for column, value in row.items():
        assert plaintext not in str(value), column
        assert secret not in str(value), column
    assert re.fullmatch(r"[0-9a-f]{64}", row["key_hash"])


def test_the_prefix_is_visible_and_names_the_token(reader: Any) -> None:
    token, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    assert plaintext.startswith(f"wpt_{token.prefix}_")
    assert token.prefix in str(token)
    assert ApiToken.objects.get(prefix=token.prefix) == token


def test_prefixes_are_unique(reader: Any) -> None:
    tokens = [api_token_create(actor=SYSTEM, user=reader, scope="read")[0] for _ in range(25)]
    assert len({t.prefix for t in tokens}) == 25
    clash = ApiToken(user=reader, prefix=tokens[0].prefix, key_hash="0" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        clash.save()


def test_every_issue_is_a_new_secret(reader: Any) -> None:
    plaintexts = {api_token_create(actor=SYSTEM, user=reader, scope="read")[1] for _ in range(5)}
    assert len(plaintexts) == 5


def test_a_token_read_back_cannot_give_its_plaintext(reader: Any) -> None:
    token, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    stored = ApiToken.objects.get(pk=token.pk)
    assert plaintext not in repr(vars(stored))
    assert plaintext not in str(stored)


# --- use ---------------------------------------------------------------------------------------


def test_a_token_authenticates(api: APIClient, reader: Any) -> None:
    _, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    assert api.get("/api/v1/pillars/", **auth_header(plaintext)).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer a b",
        "Bearer wpt_nothing",
        "Bearer xyz_0000_secret",
        "Bearer wpt_00000000_not-a-real-secret",
    ],
)
def test_malformed_or_unknown_tokens_are_401(api: APIClient, reader: Any, header: str) -> None:
    assert_problem(api.get("/api/v1/pillars/", HTTP_AUTHORIZATION=header), 401)


def test_a_right_prefix_with_a_wrong_secret_is_401_and_not_recorded_as_use(
    api: APIClient, reader: Any
) -> None:
    token, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    forged = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    assert_problem(api.get("/api/v1/pillars/", **auth_header(forged)), 401)
    token.refresh_from_db()
    assert token.last_used_at is None


def test_last_used_at_is_set_on_use(api: APIClient, reader: Any) -> None:
    token, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    assert token.last_used_at is None
    before = timezone.now()

    assert api.get("/api/v1/pillars/", **auth_header(plaintext)).status_code == 200

    token.refresh_from_db()
    assert token.last_used_at is not None
    assert before <= token.last_used_at <= timezone.now()


def test_last_used_at_is_not_rewritten_within_a_minute(api: APIClient, reader: Any) -> None:
    token, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    assert api.get("/api/v1/pillars/", **auth_header(plaintext)).status_code == 200
    token.refresh_from_db()
    first = token.last_used_at

    for _ in range(3):
        assert api.get("/api/v1/projects/", **auth_header(plaintext)).status_code == 200

    token.refresh_from_db()
    assert token.last_used_at == first


def test_last_used_at_moves_after_a_minute(api: APIClient, reader: Any) -> None:
    token, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    long_ago = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=long_ago)

    assert api.get("/api/v1/pillars/", **auth_header(plaintext)).status_code == 200

    token.refresh_from_db()
    assert token.last_used_at > long_ago + timedelta(minutes=1)


def test_an_expired_token_is_401(api: APIClient, reader: Any) -> None:
    _, plaintext = api_token_create(
        actor=SYSTEM, user=reader, scope="read", expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert_problem(api.get("/api/v1/pillars/", **auth_header(plaintext)), 401)


def test_a_token_works_until_it_expires(api: APIClient, reader: Any) -> None:
    token, plaintext = api_token_create(
        actor=SYSTEM, user=reader, scope="read", expires_at=timezone.now() + timedelta(days=1)
    )
    assert api.get("/api/v1/pillars/", **auth_header(plaintext)).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_problem(api.get("/api/v1/pillars/", **auth_header(plaintext)), 401)


def test_a_revoked_token_is_401(api: APIClient, reader: Any) -> None:
    token, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    assert api.get("/api/v1/pillars/", **auth_header(plaintext)).status_code == 200

    api_token_revoke(actor=SYSTEM, token=token)

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert_problem(api.get("/api/v1/pillars/", **auth_header(plaintext)), 401)


def test_revoking_twice_keeps_the_first_time(reader: Any) -> None:
    token, _ = api_token_create(actor=SYSTEM, user=reader, scope="read")
    api_token_revoke(actor=SYSTEM, token=token)
    first = ApiToken.objects.get(pk=token.pk).revoked_at
    api_token_revoke(actor=SYSTEM, token=ApiToken.objects.get(pk=token.pk))
    assert ApiToken.objects.get(pk=token.pk).revoked_at == first


def test_revoking_one_token_leaves_the_others(api: APIClient, reader: Any) -> None:
    token, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    _, other = api_token_create(actor=SYSTEM, user=reader, scope="read")
    api_token_revoke(actor=SYSTEM, token=token)
    assert_problem(api.get("/api/v1/pillars/", **auth_header(plaintext)), 401)
    assert api.get("/api/v1/pillars/", **auth_header(other)).status_code == 200


def test_a_token_of_an_inactive_user_is_401(api: APIClient, reader: Any) -> None:
    _, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    get_user_model().objects.filter(pk=reader.pk).update(is_active=False)
    assert_problem(api.get("/api/v1/pillars/", **auth_header(plaintext)), 401)


def test_a_read_token_of_an_editor_cannot_write(api: APIClient, plan: None) -> None:
    editor = make_user("se-editor", Role.EDITOR, "MX-SE")
    _, read_only = api_token_create(actor=SYSTEM, user=editor, scope="read")
    _, writer = api_token_create(actor=SYSTEM, user=editor, scope="write")

    refused = api.post("/api/v1/projects/", new_project(), format="json", **auth_header(read_only))
    assert refused.status_code == 403
    assert not Project.objects.filter(code="HLED-2026-01").exists()

    created = api.post("/api/v1/projects/", new_project(), format="json", **auth_header(writer))
    assert created.status_code == 201, created.content[:300]


# --- manage.py create_api_token ----------------------------------------------------------------


def create_api_token(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_command_prints_only_the_token(api: APIClient, plan: None) -> None:
    output = create_api_token(
        "se-partner", "--agency", "SE", "--role", "editor", "--expires-days", "30"
    )

    lines = output.splitlines()
    assert len(lines) == 1, output
    plaintext = lines[0]
    assert PLAINTEXT.fullmatch(plaintext), plaintext
    user = get_user_model().objects.get(username="se-partner")
    assert (user.membership.role, user.membership.agency.code) == ("editor", "MX-SE")
    token = ApiToken.objects.get(user=user)
    assert token.scope == TokenScope.WRITE
    assert plaintext.startswith(f"wpt_{token.prefix}_")
    expected_expiry = timezone.now() + timedelta(days=30)
    assert token.expires_at is not None
    assert abs(token.expires_at - expected_expiry) < timedelta(minutes=1)


def test_command_token_writes_as_an_editor_of_se(api: APIClient, plan: None) -> None:
    plaintext = create_api_token(
        "se-partner", "--agency", "SE", "--role", "editor", "--expires-days", "30"
    ).strip()
    header = auth_header(plaintext)

    created = api.post("/api/v1/projects/", new_project(), format="json", **header)
    assert created.status_code == 201, created.content[:300]
    event = AuditEvent.objects.get(object_code="HLED-2026-01", action="create")
    assert event.agency is not None and event.agency.code == "MX-SE"
    assert event.username == "se-partner"

    own = api.patch(
        f"/api/v1/projects/{SE_PROJECT}/",
        {"title_en": "Renamed by SE"},
        format="json",
        HTTP_IF_MATCH="*",
        **header,
    )
    assert own.status_code == 200, own.content[:300]
    other = api.patch(
        f"/api/v1/projects/{OTHER_PROJECT}/",
        {"title_en": "Not SE's"},
        format="json",
        HTTP_IF_MATCH="*",
        **header,
    )
    assert other.status_code == 403
    assert api.post("/api/v1/pillars/", {}, format="json", **header).status_code == 403


def test_command_again_updates_the_user_and_issues_another_token(
    api: APIClient, plan: None
) -> None:
    first = create_api_token("partner", "--agency", "SE", "--role", "editor").strip()
    second = create_api_token("partner", "--agency", "SRE", "--role", "editor").strip()

    assert first != second
    users = get_user_model().objects.filter(username="partner")
    assert users.count() == 1
    user = users.get()
    assert user.membership.agency.code == "MX-SRE"
    assert AgencyMembership.objects.filter(user=user).count() == 1
    assert ApiToken.objects.filter(user=user).count() == 2
    # Now an editor of SRE, not SE: SRE's project is editable, SE's is not.
    header = auth_header(second)
    sre = api.patch(
        f"/api/v1/projects/{OTHER_PROJECT}/",
        {"title_en": "Renamed by SRE"},
        format="json",
        HTTP_IF_MATCH="*",
        **header,
    )
    assert sre.status_code == 200, sre.content[:300]
    se = api.patch(
        f"/api/v1/projects/{SE_PROJECT}/",
        {"title_en": "Renamed"},
        format="json",
        HTTP_IF_MATCH="*",
        **header,
    )
    assert se.status_code == 403


def test_command_again_can_change_the_role(api: APIClient, plan: None) -> None:
    create_api_token("partner", "--agency", "SE", "--role", "editor")
    plaintext = create_api_token("partner", "--agency", "SE", "--role", "reader").strip()

    user = get_user_model().objects.get(username="partner")
    assert user.membership.role == "reader"
    assert ApiToken.objects.get(prefix=plaintext.split("_")[1]).scope == TokenScope.READ


def test_command_reader_gets_a_read_token(api: APIClient, plan: None) -> None:
    plaintext = create_api_token("reader", "--agency", "MX-SE", "--role", "reader").strip()

    token = ApiToken.objects.get(user__username="reader")
    assert token.scope == TokenScope.READ
    assert token.expires_at is None
    header = auth_header(plaintext)
    assert api.get("/api/v1/projects/", **header).status_code == 200
    refused = api.post("/api/v1/projects/", new_project(), format="json", **header)
    assert refused.status_code == 403
    assert not Project.objects.filter(code="HLED-2026-01").exists()


def test_command_accepts_agency_code_in_any_case(plan: None) -> None:
    create_api_token("partner", "--agency", "us-doc", "--role", "editor")
    user = get_user_model().objects.get(username="partner")
    assert user.membership.agency.code == "US-DOC"


@pytest.mark.parametrize(
    "args",
    [
        ("--agency", "NOPE", "--role", "editor"),
        ("--agency", "XX-NOTHING", "--role", "reader"),
        ("--role", "reader"),
        ("--role", "editor"),
        ("--agency", "SE", "--role", "editor", "--expires-days", "0"),
    ],
    ids=["unknown-agency", "unknown-code", "reader-without-agency", "editor-without-agency", "0d"],
)
def test_command_refuses_bad_arguments(plan: None, args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError):
        create_api_token("partner", *args)
    assert not get_user_model().objects.filter(username="partner").exists()
    assert not ApiToken.objects.exists()


def test_command_refuses_an_archived_agency(plan: None) -> None:
    Agency.objects.filter(code="MX-SE").update(archived_at=timezone.now())
    with pytest.raises(CommandError):
        create_api_token("partner", "--agency", "SE", "--role", "editor")
    assert not ApiToken.objects.exists()


def test_command_admin_needs_no_agency(api: APIClient, plan: None) -> None:
    plaintext = create_api_token("boss", "--role", "admin").strip()
    pillar = {
        "code": "P5",
        "number": 5,
        "name_en": "Energy",
        "name_es": "Energía",
        "description_en": "",
        "description_es": "",
    }
    response = api.post("/api/v1/pillars/", pillar, format="json", **auth_header(plaintext))
    assert response.status_code == 201, response.content[:300]


# --- the admin ---------------------------------------------------------------------------------


def token_url(view: str, *args: Any) -> str:
    return reverse(f"admin:workplan_apitoken_{view}", args=args)


def audit_url(view: str, *args: Any) -> str:
    return reverse(f"admin:workplan_auditevent_{view}", args=args)


def test_admin_add_form_shows_the_plaintext_once(
    admin_client: Client, api: APIClient, reader: Any
) -> None:
    response = admin_client.post(
        token_url("add"),
        {
            "user": reader.pk,
            "name": "nightly sync",
            "scope": "read",
            "expires_at_0": "",
            "expires_at_1": "",
        },
        follow=True,
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    found = [m for text in messages for m in PLAINTEXT.findall(text)]
    assert len(found) == 1, messages
    plaintext = found[0]
    token = ApiToken.objects.get(user=reader)
    assert token.name == "nightly sync"
    assert plaintext.startswith(f"wpt_{token.prefix}_")
    assert plaintext not in str(ApiToken.objects.filter(pk=token.pk).values().get())

    # Never again: not on the change list, not on the token's page.
    assert plaintext not in admin_client.get(token_url("changelist")).content.decode()
    assert plaintext not in admin_client.get(token_url("change", token.pk)).content.decode()

    # And it is a working bearer token: an invalid one would be a 401.
    assert api.get("/api/v1/pillars/", **auth_header(plaintext)).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_admin_changelist_lists_tokens_by_prefix(admin_client: Client, reader: Any) -> None:
    tokens = [api_token_create(actor=SYSTEM, user=reader, scope="read")[0] for _ in range(3)]
    response = admin_client.get(token_url("changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    for token in tokens:
        assert token.prefix in html
        assert token.key_hash not in html


def test_admin_revoke_action(admin_client: Client, api: APIClient, reader: Any) -> None:
    revoked, plaintext = api_token_create(actor=SYSTEM, user=reader, scope="read")
    kept, other = api_token_create(actor=SYSTEM, user=reader, scope="read")

    response = admin_client.post(
        token_url("changelist"),
        {"action": "revoke_selected", "_selected_action": [revoked.pk]},
    )

    assert response.status_code == 302
    revoked.refresh_from_db()
    kept.refresh_from_db()
    assert revoked.revoked_at is not None
    assert kept.revoked_at is None
    assert_problem(api.get("/api/v1/pillars/", **auth_header(plaintext)), 401)
    assert api.get("/api/v1/pillars/", **auth_header(other)).status_code == 200


def test_admin_cannot_delete_tokens(admin_client: Client, reader: Any) -> None:
    token, _ = api_token_create(actor=SYSTEM, user=reader, scope="read")

    assert admin_client.get(token_url("delete", token.pk)).status_code == 403
    assert admin_client.post(token_url("delete", token.pk), {"post": "yes"}).status_code == 403
    changelist = admin_client.get(token_url("changelist"))
    actions = [name for name, _ in changelist.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert "revoke_selected" in actions
    admin_client.post(
        token_url("changelist"),
        {"action": "delete_selected", "_selected_action": [token.pk], "post": "yes"},
    )

    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_admin_change_form_cannot_change_the_secret_or_scope(
    admin_client: Client, reader: Any
) -> None:
    token, _ = api_token_create(actor=SYSTEM, user=reader, scope="read")
    key_hash = token.key_hash
    response = admin_client.post(
        token_url("change", token.pk),
        {"name": "renamed", "scope": "write", "key_hash": "0" * 64, "prefix": "deadbeef"},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.name == "renamed"
    assert (token.scope, token.key_hash) == ("read", key_hash)
    assert token.prefix != "deadbeef"


# --- the audit trail in the admin is read-only --------------------------------------------------


def test_audit_admin_is_read_only(admin_client: Client, api: APIClient, plan: None) -> None:
    project = Project.objects.get(code=SE_PROJECT)
    services.plan_object_update(obj=project, data={"title_en": "Audited"}, actor=services.SYSTEM)
    event = AuditEvent.objects.get(object_code=SE_PROJECT)
    before = AuditEvent.objects.filter(pk=event.pk).values().get()

    assert admin_client.get(audit_url("changelist")).status_code == 200
    assert admin_client.get(audit_url("add")).status_code == 403
    assert admin_client.post(audit_url("add"), {"action": "create"}).status_code == 403
    view = admin_client.get(audit_url("change", event.pk))
    assert view.status_code == 200  # viewable, but without a save button
    assert 'name="_save"' not in view.content.decode()
    change = admin_client.post(
        audit_url("change", event.pk), {"action": "archive", "object_code": "FORGED"}
    )
    assert change.status_code == 403
    assert admin_client.get(audit_url("delete", event.pk)).status_code == 403
    assert admin_client.post(audit_url("delete", event.pk), {"post": "yes"}).status_code == 403
    admin_client.post(
        audit_url("changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )

    assert AuditEvent.objects.filter(pk=event.pk).values().get() == before
