"""A user's agency and role, edited in the user admin, go through the services (audited)."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.workplan.test_admin import form_data
from workplan.choices import Role
from workplan.models import Agency, AgencyMembership, AuditEvent

pytestmark = pytest.mark.django_db


def admin_errors(response: Any) -> Any:
    context = response.context
    return (
        context["adminform"].form.errors,
        [inline.formset.errors for inline in context["inline_admin_formsets"]],
        [inline.formset.non_form_errors() for inline in context["inline_admin_formsets"]],
    )


def user_change(client: Client, user: Any) -> tuple[str, dict[str, Any]]:
    url = f"/admin/auth/user/{user.pk}/change/"
    response = client.get(url)
    assert response.status_code == 200
    data = form_data(response)
    for name in ("date_joined", "last_login"):  # split date and time widgets
        value = data.pop(name, None)
        if value:
            data[f"{name}_0"], data[f"{name}_1"] = value.date(), value.time()
    return url, data


def test_granting_a_role_in_the_user_admin_is_audited(real_plan: None, admin_client: Client):
    partner = get_user_model().objects.create(username="se-sync")
    agency = Agency.objects.get(code="MX-SE")
    url, data = user_change(admin_client, partner)
    data |= {"membership-0-agency": agency.pk, "membership-0-role": Role.EDITOR}
    data["membership-TOTAL_FORMS"] = "1"
    response = admin_client.post(url, data)
    assert response.status_code == 302, admin_errors(response)

    membership = AgencyMembership.objects.get(user=partner)
    assert (membership.agency, membership.role) == (agency, Role.EDITOR)
    event = AuditEvent.objects.get(object_type="agencymembership", object_id=membership.pk)
    assert (event.action, event.via) == ("create", "admin")
    assert event.state == {"user": "se-sync", "agency": "MX-SE", "role": "editor"}


def test_removing_a_role_in_the_user_admin_is_audited(real_plan: None, admin_client: Client):
    partner = get_user_model().objects.create(username="doc-sync")
    membership = AgencyMembership.objects.create(
        user=partner, agency=Agency.objects.get(code="US-DOC"), role=Role.READER
    )
    url, data = user_change(admin_client, partner)
    data["membership-0-DELETE"] = "on"
    response = admin_client.post(url, data)
    assert response.status_code == 302, admin_errors(response)

    assert not AgencyMembership.objects.filter(pk=membership.pk).exists()
    event = AuditEvent.objects.get(object_type="agencymembership", object_id=membership.pk)
    assert event.action == "delete"
    assert event.changes["role"] == {"before": "reader", "after": None}
