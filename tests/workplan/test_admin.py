"""The Django admin over the real 2021 plan, as a superuser with the test client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from django.db import models
from django.forms import CheckboxInput
from django.test import Client
from django.urls import reverse

from workplan.models import (
    Agency,
    AuditEvent,
    Goal,
    Meeting,
    Pillar,
    ProgressReport,
    Project,
    ProjectAgencyRole,
)

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db

TIMESTAMPS = ("created_at", "updated_at")


@dataclass(frozen=True)
class Case:
    """A model under test, how to pick one of its real objects, and a Spanish phrase of it."""

    model: type[models.Model]
    lookup: dict[str, Any]
    spanish_field: str

    @property
    def name(self) -> str:
        return self.model._meta.model_name or ""

    def obj(self) -> Any:
        return self.model._default_manager.get(**self.lookup)


CASES = [
    Case(Pillar, {"number": 2}, "name_es"),
    Case(Goal, {"code": "P3-G2"}, "title_es"),
    Case(Agency, {"code": "MX-SE"}, "name_es"),
    Case(Project, {"code": "HLED-2021-07"}, "title_es"),
    Case(Meeting, {"code": "HLED-M-2023-09-29"}, "summary_es"),
    Case(ProgressReport, {"code": "HLED-2021-11-PR1"}, "narrative_es"),
]
CASE_IDS = [c.model.__name__ for c in CASES]


def admin_url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:workplan_{model._meta.model_name}_{view}", args=args)


def get_ok(client: Client, url: str, **params: Any) -> TestResponse:
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response


def form_data(response: TestResponse) -> dict[str, Any]:
    """The POST body the change form would send unchanged: main form, inlines, management forms."""
    context: Any = response.context
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


def role_formset_errors(response: TestResponse) -> str:
    """Every error the re-displayed agency-role inline carries, as text."""
    context: Any = response.context
    formset = next(
        i.formset for i in context["inline_admin_formsets"] if i.formset.model is ProjectAgencyRole
    )
    return " ".join([str(formset.non_form_errors())] + [str(f.errors) for f in formset.forms])


def role_index(data: dict[str, Any], agency: Agency) -> int:
    """The inline form number that holds `agency` in change-form data."""
    for key, value in data.items():
        match = re.fullmatch(r"agency_roles-(\d+)-agency", key)
        if match and str(value) == str(agency.pk):
            return int(match.group(1))
    raise AssertionError(f"{agency.code} is not in the agency role inline")


@pytest.fixture
def superuser_client(real_plan: None, admin_client: Client) -> Client:
    """A logged-in superuser, with the real plan loaded."""
    return admin_client


# --- every model: changelist, change form, add form, search ----------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_changelist_lists_every_object(superuser_client: Client, case: Case) -> None:
    response = get_ok(superuser_client, admin_url(case.model, "changelist"))
    changelist: Any = response.context["cl"]
    assert changelist.result_count == case.model._default_manager.count() > 0
    assert case.obj().code in response.content.decode()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_change_form_of_a_real_object(superuser_client: Client, case: Case) -> None:
    obj = case.obj()
    response = get_ok(superuser_client, admin_url(case.model, "change", obj.pk))
    context: Any = response.context
    assert context["original"] == obj
    assert context["adminform"].form.instance.pk == obj.pk
    html = response.content.decode()
    assert obj.code in html
    assert getattr(obj, case.spanish_field) in html


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_add_form(superuser_client: Client, case: Case) -> None:
    response = get_ok(superuser_client, admin_url(case.model, "add"))
    context: Any = response.context
    assert context["add"] is True
    assert "code" in context["adminform"].form.fields


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_changelist_search_by_spanish_text(superuser_client: Client, case: Case) -> None:
    obj = case.obj()
    term = getattr(obj, case.spanish_field)
    response = get_ok(superuser_client, admin_url(case.model, "changelist"), q=term)
    changelist: Any = response.context["cl"]
    assert obj in list(changelist.result_list)
    assert changelist.result_count < case.model._default_manager.count()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_changelist_search_by_code(superuser_client: Client, case: Case) -> None:
    obj = case.obj()
    response = get_ok(superuser_client, admin_url(case.model, "changelist"), q=obj.code)
    changelist: Any = response.context["cl"]
    assert obj in list(changelist.result_list)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_changelist_search_without_match(superuser_client: Client, case: Case) -> None:
    response = get_ok(superuser_client, admin_url(case.model, "changelist"), q="zzqx-no-match")
    changelist: Any = response.context["cl"]
    assert changelist.result_count == 0


def test_project_changelist_filter_by_country(superuser_client: Client) -> None:
    response = get_ok(superuser_client, admin_url(Project, "changelist"), countries__country="SV")
    changelist: Any = response.context["cl"]
    codes = {p.code for p in changelist.result_list}
    assert codes == set(
        Project.objects.filter(countries__country="SV").values_list("code", flat=True)
    )
    assert codes
    assert len(codes) < Project.objects.count()


def test_anonymous_user_is_sent_to_login(real_plan: None, client: Client) -> None:
    response = client.get(admin_url(Project, "changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


# --- read-only time stamps -------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_timestamps_are_read_only(superuser_client: Client, case: Case) -> None:
    obj = case.obj()
    response = get_ok(superuser_client, admin_url(case.model, "change", obj.pk))
    context: Any = response.context
    adminform = context["adminform"]
    html = response.content.decode()
    for name in TIMESTAMPS:
        assert name in adminform.readonly_fields
        assert name not in adminform.form.fields
        assert f'name="{name}"' not in html
        # Shown, though: the read-only field is in the page with its label.
        assert f"field-{name}" in html


def test_posted_timestamps_are_ignored(superuser_client: Client) -> None:
    agency = Agency.objects.get(code="MX-SE")
    url = admin_url(Agency, "change", agency.pk)
    data = form_data(get_ok(superuser_client, url))
    data["name_en"] = "Ministry of the Economy"
    data["created_at"] = "2000-01-01 00:00:00"
    data["updated_at"] = "2000-01-01 00:00:00"

    response = superuser_client.post(url, data)

    assert response.status_code == 302
    saved = Agency.objects.get(pk=agency.pk)
    assert saved.name_en == "Ministry of the Economy"
    assert saved.created_at == agency.created_at
    assert saved.updated_at > agency.updated_at


# --- the project's agency roles --------------------------------------------------------------


def test_project_change_page_has_agency_role_inline(superuser_client: Client) -> None:
    project = Project.objects.get(code="HLED-2021-05")
    response = get_ok(superuser_client, admin_url(Project, "change", project.pk))
    context: Any = response.context
    inlines = {i.formset.model: i.formset for i in context["inline_admin_formsets"]}
    assert ProjectAgencyRole in inlines
    formset = inlines[ProjectAgencyRole]
    assert formset.prefix == "agency_roles"
    shown = {form.instance.agency.code for form in formset.forms}
    assert shown == set(project.agency_roles.values_list("agency__code", flat=True))
    html = response.content.decode()
    assert 'id="agency_roles-group"' in html
    assert f'name="agency_roles-TOTAL_FORMS" value="{len(shown)}"' in html


def autocomplete_params(html: str, field: str) -> dict[str, str]:
    """The app/model/field the admin's autocomplete widget for `field` sends, read from the page."""
    match = re.search(rf'<select[^>]*name="{re.escape(field)}"[^>]*>', html)
    assert match, f"no select for {field}"
    tag = match.group(0)
    params = {}
    for attribute in ("app-label", "model-name", "field-name"):
        value = re.search(rf'data-{attribute}="([^"]*)"', tag)
        assert value, (attribute, tag)
        params[attribute.replace("-", "_")] = value.group(1)
    return params


def test_agency_autocomplete_of_the_role_inline(superuser_client: Client) -> None:
    project = Project.objects.get(code="HLED-2021-05")
    html = get_ok(superuser_client, admin_url(Project, "change", project.pk)).content.decode()
    params = autocomplete_params(html, "agency_roles-0-agency")
    assert params == {
        "app_label": "workplan",
        "model_name": "projectagencyrole",
        "field_name": "agency",
    }
    usaid = Agency.objects.get(acronym="USAID")

    response = get_ok(superuser_client, reverse("admin:autocomplete"), term="USAID", **params)

    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["results"] == [{"id": str(usaid.pk), "text": str(usaid)}]
    assert body["pagination"] == {"more": False}


def test_agency_autocomplete_searches_spanish_names(superuser_client: Client) -> None:
    response = get_ok(
        superuser_client,
        reverse("admin:autocomplete"),
        app_label="workplan",
        model_name="projectagencyrole",
        field_name="agency",
        term="Secretaría",
    )
    ids = {int(r["id"]) for r in response.json()["results"]}
    expected = set(
        Agency.objects.filter(name_es__contains="Secretaría").values_list("pk", flat=True)
    )
    assert ids == expected
    assert len(ids) >= 3  # SRE, SE, SHCP


def test_agency_autocomplete_without_term_lists_all(superuser_client: Client) -> None:
    response = get_ok(
        superuser_client,
        reverse("admin:autocomplete"),
        app_label="workplan",
        model_name="projectagencyrole",
        field_name="agency",
    )
    assert len(response.json()["results"]) == Agency.objects.count()


def test_agency_autocomplete_refuses_unknown_field(superuser_client: Client) -> None:
    response = superuser_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "workplan", "model_name": "projectagencyrole", "field_name": "nothing"},
    )
    assert response.status_code == 403


def test_adding_a_role_in_the_admin_copies_the_agency_country(superuser_client: Client) -> None:
    project = Project.objects.get(code="HLED-2021-01")
    ustr = Agency.objects.get(code="US-USTR")
    url = admin_url(Project, "change", project.pk)
    data = form_data(get_ok(superuser_client, url))
    n = int(data["agency_roles-TOTAL_FORMS"])
    data["agency_roles-TOTAL_FORMS"] = n + 1
    data |= {
        f"agency_roles-{n}-project": project.pk,
        f"agency_roles-{n}-agency": ustr.pk,
        f"agency_roles-{n}-role": "2",
        f"agency_roles-{n}-is_lead": "on",
        f"agency_roles-{n}-source": "stated",
    }

    response = superuser_client.post(url, data)

    assert response.status_code == 302
    role = ProjectAgencyRole.objects.get(project=project, agency=ustr)
    assert (role.country, role.is_lead, role.role, role.source) == ("US", True, "2", "stated")


def test_same_agency_twice_in_the_admin_is_a_form_error(superuser_client: Client) -> None:
    project = Project.objects.get(code="HLED-2021-01")
    se = Agency.objects.get(code="MX-SE")
    url = admin_url(Project, "change", project.pk)
    data = form_data(get_ok(superuser_client, url))
    n = int(data["agency_roles-TOTAL_FORMS"])
    data["agency_roles-TOTAL_FORMS"] = n + 1
    data |= {
        f"agency_roles-{n}-project": project.pk,
        f"agency_roles-{n}-agency": se.pk,
        f"agency_roles-{n}-role": "1",
        f"agency_roles-{n}-source": "stated",
    }

    response = superuser_client.post(url, data)

    assert response.status_code == 200
    errors = role_formset_errors(response)
    assert "already exists" in errors or "duplicate" in errors, errors
    assert ProjectAgencyRole.objects.filter(project=project, agency=se).count() == 1


def test_second_lead_of_a_country_in_the_admin_is_a_form_error(
    superuser_client: Client,
) -> None:
    """The one-lead-per-country rule must come back as a form error, not a server error."""
    project = Project.objects.get(code="HLED-2021-03")  # MX-SRE, MX-SHCP, US-DHS
    url = admin_url(Project, "change", project.pk)
    data = form_data(get_ok(superuser_client, url))
    for code in ("MX-SRE", "MX-SHCP"):
        data[f"agency_roles-{role_index(data, Agency.objects.get(code=code))}-is_lead"] = "on"

    response = superuser_client.post(url, data)

    assert response.status_code == 200
    assert "lead" in role_formset_errors(response).lower()
    assert not ProjectAgencyRole.objects.filter(project=project, is_lead=True).exists()


def test_one_lead_per_country_in_the_admin_is_saved(superuser_client: Client) -> None:
    project = Project.objects.get(code="HLED-2021-03")
    url = admin_url(Project, "change", project.pk)
    data = form_data(get_ok(superuser_client, url))
    for code in ("MX-SHCP", "US-DHS"):
        data[f"agency_roles-{role_index(data, Agency.objects.get(code=code))}-is_lead"] = "on"

    response = superuser_client.post(url, data)

    assert response.status_code == 302
    leads = project.agency_roles.filter(is_lead=True).order_by("country")
    assert [(r.country, r.agency.code) for r in leads] == [("MX", "MX-SHCP"), ("US", "US-DHS")]


def test_saving_an_unchanged_object_in_the_admin_changes_nothing(
    superuser_client: Client,
) -> None:
    pillar = Pillar.objects.get(code="P1")
    url = admin_url(Pillar, "change", pillar.pk)
    data = form_data(get_ok(superuser_client, url))
    events = AuditEvent.objects.count()

    response = superuser_client.post(url, data)

    assert response.status_code == 302
    fresh = Pillar.objects.get(pk=pillar.pk)
    assert (fresh.version, fresh.updated_at) == (pillar.version, pillar.updated_at)
    assert AuditEvent.objects.count() == events
