"""Results in the Django admin: a result with its indicators inline (and an indicator with
its periods inline), each row saved through the services with the version it was read at,
audited, under the same rights as the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from tests.conftest import make_user
from tests.workplan.test_admin import admin_url, form_data, get_ok
from tests.workplan.test_admin_follow_through import add_row
from tests.workplan.test_admin_memberships import admin_errors
from workplan.choices import Role
from workplan.models import AuditEvent, Indicator, IndicatorPeriod, Project, Result
from workplan.policy import SYSTEM
from workplan.services import plan_object_create, plan_object_update

pytestmark = pytest.mark.django_db


def new_result(project_code: str) -> Result:
    return plan_object_create(
        model=Result,
        data={
            "project": Project.objects.get(code=project_code),
            "title_en": "Output",
            "title_es": "Producto",
        },
        actor=SYSTEM,
    )


def test_a_result_added_with_an_indicator_inline_saves_both_through_the_services(
    real_plan: None, admin_client: Client
) -> None:
    url = admin_url(Result, "add")
    data = form_data(get_ok(admin_client, url))
    data |= {
        "code": "",
        "project": Project.objects.get(code="HLED-2021-02").pk,
        "type": "2",
        "title_en": "Cleaner technology adopted",
        "title_es": "Tecnología más limpia adoptada",
    }
    add_row(
        data,
        "indicators",
        code="",
        measure="1",
        ascending="on",
        title_en="Firms adopting",
        title_es="Empresas que la adoptan",
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302, admin_errors(response)
    result = Result.objects.get(project__code="HLED-2021-02")
    indicator = Indicator.objects.get(result=result)
    assert (result.code, indicator.code) == ("RE-000001", "IN-000001")
    events = AuditEvent.objects.filter(object_code__in=[result.code, indicator.code])
    assert {(e.object_type, e.action, e.via) for e in events} == {
        ("result", "create", "admin"),
        ("indicator", "create", "admin"),
    }


def test_an_indicator_changed_inline_is_versioned_and_a_stale_row_is_refused(
    real_plan: None, admin_client: Client
) -> None:
    result = new_result("HLED-2021-02")
    indicator = plan_object_create(
        model=Indicator,
        data={"result": result, "title_en": "Firms", "title_es": "Empresas"},
        actor=SYSTEM,
    )
    url = admin_url(Result, "change", result.pk)
    data = form_data(get_ok(admin_client, url))
    data["indicators-0-title_en"] = "Firms adopting"

    # Someone changes the indicator after the page was read: nothing is saved.
    plan_object_update(obj=indicator, data={"title_es": "Otra"}, actor=SYSTEM)
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "changed by someone else" in str(
        response.context["inline_admin_formsets"][0].formset.errors
    )
    assert Indicator.objects.get(pk=indicator.pk).title_en == "Firms"

    data = form_data(get_ok(admin_client, url))
    data["indicators-0-title_en"] = "Firms adopting"
    response = admin_client.post(url, data)
    assert response.status_code == 302, admin_errors(response)
    fresh = Indicator.objects.get(pk=indicator.pk)
    assert (fresh.title_en, fresh.version) == ("Firms adopting", 3)
    event = AuditEvent.objects.filter(object_code=indicator.code).latest("id")
    assert (event.action, event.via, event.changes["title_en"]["after"]) == (
        "update",
        "admin",
        "Firms adopting",
    )


def test_a_period_added_inline_to_an_indicator_is_checked_by_the_model(
    real_plan: None, admin_client: Client
) -> None:
    result = new_result("HLED-2021-02")
    indicator = plan_object_create(
        model=Indicator,
        data={"result": result, "title_en": "Firms", "title_es": "Empresas"},
        actor=SYSTEM,
    )
    url = admin_url(Indicator, "change", indicator.pk)
    data = form_data(get_ok(admin_client, url))
    add_row(data, "periods", code="", period_start="2025-02-01", period_end="2025-01-01")
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert not IndicatorPeriod.objects.filter(indicator=indicator).exists()

    data = form_data(get_ok(admin_client, url))
    add_row(
        data,
        "periods",
        code="",
        period_start="2025-01-01",
        period_end="2025-12-31",
        target_value="10",
        actual_value="12",
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, admin_errors(response)
    period = IndicatorPeriod.objects.get(indicator=indicator)
    assert (period.code, period.actual_value) == ("IP-000001", Decimal("12.00"))
    assert AuditEvent.objects.get(object_code=period.code).via == "admin"


def test_deleting_an_inline_row_archives_it(real_plan: None, admin_client: Client) -> None:
    result = new_result("HLED-2021-02")
    indicator = plan_object_create(
        model=Indicator,
        data={"result": result, "title_en": "Firms", "title_es": "Empresas"},
        actor=SYSTEM,
    )
    url = admin_url(Result, "change", result.pk)
    data = form_data(get_ok(admin_client, url))
    data["indicators-0-DELETE"] = "on"
    response = admin_client.post(url, data)
    assert response.status_code == 302, admin_errors(response)
    assert Indicator.objects.get(pk=indicator.pk).archived_at is not None
    assert AuditEvent.objects.filter(object_code=indicator.code).latest("id").action == "archive"


@pytest.fixture
def staff_editor(real_plan: None, client: Client) -> Client:
    user = make_user("se-staff", Role.EDITOR, "MX-SE", is_staff=True)
    client.force_login(user)
    return client


def test_a_staff_editor_adds_results_only_on_its_agencys_projects(staff_editor: Client) -> None:
    url = admin_url(Result, "add")
    response = get_ok(staff_editor, url)
    choices = response.context["adminform"].form.fields["project"].queryset
    assert set(choices.values_list("code", flat=True)) == set(
        Project.objects.filter(agency_roles__agency__code="MX-SE").values_list("code", flat=True)
    )
    data = form_data(response)
    data |= {
        "project": Project.objects.get(code="HLED-2021-05").pk,  # not SE's
        "type": "1",
        "title_en": "x",
        "title_es": "x",
    }
    response = staff_editor.post(url, data)
    assert response.status_code == 200
    assert not Result.objects.filter(project__code="HLED-2021-05").exists()

    data["project"] = Project.objects.get(code="HLED-2021-02").pk
    response = staff_editor.post(url, data)
    assert response.status_code == 302, admin_errors(response)
    event = AuditEvent.objects.get(object_code="RE-000001")
    assert event.agency.code == "MX-SE" and event.via == "admin"


def test_a_staff_editor_cannot_change_another_agencys_results(staff_editor: Client) -> None:
    result = new_result("HLED-2021-05")  # SRE, DOS, USAID: not SE
    Project.objects.filter(code="HLED-2021-05").update(is_published=True)
    response = staff_editor.get(admin_url(Result, "change", result.pk))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    data: dict[str, Any] = {"title_en": "Changed"}
    response = staff_editor.post(admin_url(Result, "change", result.pk), data)
    assert response.status_code == 403
    assert Result.objects.get(pk=result.pk).title_en == "Output"
