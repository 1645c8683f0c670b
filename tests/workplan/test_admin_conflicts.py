"""Stale saves in the admin: a change form read before someone else's write saves nothing.

The real admin, driven with the test client as a logged-in superuser: the change page
is read (its form data, the hidden `loaded_version` and the inline management forms
included), the same project is changed through the API with If-Match, and the form
read earlier is posted with another change. The admin must refuse it with the conflict
message and its "Reload it" link, write nothing, and keep the API's value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.workplan.test_admin import admin_url, form_data, get_ok
from workplan.admin import PlanObjectForm
from workplan.models import AuditEvent, Project, ProjectCountry, ProjectLink

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db

CODE = "HLED-2021-07"
API_PATH = f"/api/v1/projects/{CODE}/"
API_END = "2031-06-30"
CONFLICT = "was changed by someone else since you opened this page"


# -- helpers ---------------------------------------------------------------------------


@pytest.fixture
def superuser_client(real_plan: None, admin_client: Client) -> Client:
    return admin_client


@pytest.fixture
def api_admin(admin_user: Any) -> APIClient:
    """The API, as the same superuser (a plan admin there too)."""
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def project() -> Project:
    return Project.objects.get(code=CODE)


def stored(obj: Project) -> dict[str, Any]:
    """The project's row and its related rows, as stored now."""
    return {
        "row": Project.objects.values().get(pk=obj.pk),
        "countries": sorted(
            ProjectCountry.objects.filter(project=obj).values_list("country", flat=True)
        ),
        "links": sorted(ProjectLink.objects.filter(project=obj).values_list("url", flat=True)),
        "roles": sorted(obj.agency_roles.values_list("agency_id", "role", "is_lead", "source")),
    }


def patch_through_api(api: APIClient, **changes: Any) -> dict[str, Any]:
    """A safe API write: read the ETag, send it back in If-Match; it must succeed."""
    read = api.get(API_PATH)
    assert read.status_code == 200, read.content[:300]
    response = api.patch(API_PATH, changes, format="json", HTTP_IF_MATCH=read["ETag"])
    assert response.status_code == 200, response.content[:500]
    return response.json()


def add_inline_row(data: dict[str, Any], prefix: str, obj: Project, **values: Any) -> None:
    """Append a row to an inline formset in change-form data, as the admin's JS would."""
    n = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = n + 1
    data[f"{prefix}-{n}-project"] = obj.pk
    data |= {f"{prefix}-{n}-{name}": value for name, value in values.items()}


def assert_conflict(response: TestResponse, obj: Project, current_version: int) -> None:
    """The form came back (200, not a redirect) with the conflict and a reload link."""
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert CONFLICT in html
    assert f"it is now at version {current_version}" in html
    # The link is real HTML (not escaped text) and points at this object's change page.
    assert f'<a href="{admin_url(Project, "change", obj.pk)}">Reload it</a>' in html
    assert "nothing was saved" in html
    form: Any = response.context["adminform"].form
    assert form.errors  # the save was refused as a form error, not a message after a write


# -- the stale save ----------------------------------------------------------------------


def test_stale_admin_save_keeps_the_api_write(
    superuser_client: Client, api_admin: APIClient
) -> None:
    obj = project()
    url = admin_url(Project, "change", obj.pk)
    data = form_data(get_ok(superuser_client, url))  # the staff member opens the page
    assert int(data["loaded_version"]) == obj.version

    body = patch_through_api(api_admin, planned_end=API_END)  # a partner writes meanwhile
    assert body["planned_end"] == API_END
    after_api = stored(obj)
    assert after_api["row"]["version"] == obj.version + 1
    events = AuditEvent.objects.count()

    data["title_en"] = "Title typed in the admin"  # the staff member saves the old page
    response = superuser_client.post(url, data)

    assert_conflict(response, obj, obj.version + 1)
    # What they typed is still in the form, so nothing they wrote is lost.
    assert response.context["adminform"].form["title_en"].value() == "Title typed in the admin"
    assert stored(obj) == after_api  # nothing written: row, version, inlines
    assert str(project().planned_end) == API_END  # the API's value is kept
    assert AuditEvent.objects.count() == events


def test_stale_admin_save_that_would_undo_the_api_write_is_refused(
    superuser_client: Client, api_admin: APIClient
) -> None:
    """The old page carries the old planned_end: saving it must not put it back."""
    obj = project()
    url = admin_url(Project, "change", obj.pk)
    data = form_data(get_ok(superuser_client, url))
    patch_through_api(api_admin, planned_end=API_END)
    after_api = stored(obj)
    events = AuditEvent.objects.count()

    data["planned_end"] = "2030-01-01"  # the same field, another value
    response = superuser_client.post(url, data)

    assert_conflict(response, obj, obj.version + 1)
    assert stored(obj) == after_api
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("prefix", "values", "table"),
    [
        ("countries", {"country": "GT"}, "countries"),
        (
            "links",
            {"url": "https://example.org/stale", "label_en": "Stale", "label_es": "Vieja"},
            "links",
        ),
    ],
    ids=["country", "link"],
)
def test_stale_inline_only_change_is_refused(
    superuser_client: Client,
    api_admin: APIClient,
    prefix: str,
    values: dict[str, str],
    table: str,
) -> None:
    obj = project()
    url = admin_url(Project, "change", obj.pk)
    data = form_data(get_ok(superuser_client, url))
    patch_through_api(api_admin, planned_end=API_END)
    after_api = stored(obj)
    events = AuditEvent.objects.count()

    add_inline_row(data, prefix, obj, **values)  # only the inline changes
    response = superuser_client.post(url, data)

    assert_conflict(response, obj, obj.version + 1)
    assert stored(obj) == after_api
    assert AuditEvent.objects.count() == events
    # The row the staff member added is still shown, to be added again after a reload.
    formset = next(
        i.formset for i in response.context["inline_admin_formsets"] if i.formset.prefix == prefix
    )
    assert len(formset.forms) == int(data[f"{prefix}-TOTAL_FORMS"])


def test_second_of_two_admin_pages_is_refused(superuser_client: Client) -> None:
    """Two staff members (or tabs) open the same page; the second save is refused."""
    obj = project()
    url = admin_url(Project, "change", obj.pk)
    first = form_data(get_ok(superuser_client, url))
    second = form_data(get_ok(superuser_client, url))

    first["title_es"] = "Título de la primera pestaña"
    assert superuser_client.post(url, first).status_code == 302
    saved = stored(obj)
    events = AuditEvent.objects.count()

    second["description_en"] = "Written in the second tab."
    response = superuser_client.post(url, second)

    assert_conflict(response, obj, obj.version + 1)
    assert stored(obj) == saved
    assert project().title_es == "Título de la primera pestaña"
    assert AuditEvent.objects.count() == events


def test_posting_without_loaded_version_is_refused(superuser_client: Client) -> None:
    """A post that does not say which version it was read at never overwrites blindly."""
    obj = project()
    url = admin_url(Project, "change", obj.pk)
    data = form_data(get_ok(superuser_client, url))
    del data["loaded_version"]
    before = stored(obj)
    events = AuditEvent.objects.count()

    data["title_en"] = "No version given"
    response = superuser_client.post(url, data)

    assert response.status_code == 200
    assert CONFLICT in response.content.decode()
    assert stored(obj) == before
    assert AuditEvent.objects.count() == events


def test_write_between_form_check_and_save_is_refused_by_the_service(
    superuser_client: Client, api_admin: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form's own version check can pass just before another write commits; the
    service's compare-and-set then refuses, and the form comes back with the input."""
    obj = project()
    url = admin_url(Project, "change", obj.pk)
    data = form_data(get_ok(superuser_client, url))
    patch_through_api(api_admin, planned_end=API_END)
    after_api = stored(obj)
    events = AuditEvent.objects.count()
    # As if the API write landed after the form was checked: skip the form's check.
    monkeypatch.setattr(PlanObjectForm, "clean", lambda self: self.cleaned_data)

    data["title_en"] = "Typed before the race"
    response = superuser_client.post(url, data)

    assert response.status_code == 200
    form: Any = response.context["adminform"].form
    assert f"{CODE} has changed since version {obj.version}" in str(form.non_field_errors())
    assert form["title_en"].value() == "Typed before the race"
    assert stored(obj) == after_api
    assert AuditEvent.objects.count() == events


# -- fresh saves -----------------------------------------------------------------------------


def test_fresh_admin_save_is_written_and_audited_once(
    superuser_client: Client, admin_user: Any
) -> None:
    obj = project()
    url = admin_url(Project, "change", obj.pk)
    data = form_data(get_ok(superuser_client, url))
    events = AuditEvent.objects.count()

    data["planned_end"] = "2030-12-31"
    response = superuser_client.post(url, data)

    assert response.status_code == 302
    fresh = project()
    assert str(fresh.planned_end) == "2030-12-31"
    assert fresh.version == obj.version + 1
    assert fresh.updated_at > obj.updated_at
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.latest("pk")
    assert (event.action, event.object_type, event.object_code) == ("update", "project", CODE)
    assert (event.via, event.user_id, event.username) == ("admin", admin_user.pk, "admin")
    assert event.changes == {
        "planned_end": {
            "before": obj.planned_end.isoformat() if obj.planned_end else None,
            "after": "2030-12-31",
        }
    }
    # The API sees the admin's write at once, with the new version in its ETag.
    api = APIClient()
    api.force_authenticate(admin_user)
    read = api.get(API_PATH)
    assert read.json()["planned_end"] == "2030-12-31"
    assert read["ETag"].startswith(f'"{fresh.version}-')


def test_fresh_inline_only_save_moves_the_version_and_is_audited(
    superuser_client: Client,
) -> None:
    obj = project()
    url = admin_url(Project, "change", obj.pk)
    data = form_data(get_ok(superuser_client, url))
    events = AuditEvent.objects.count()
    before = stored(obj)
    assert "GT" not in before["countries"]

    add_inline_row(data, "countries", obj, country="GT")
    response = superuser_client.post(url, data)

    assert response.status_code == 302
    assert stored(obj)["countries"] == sorted([*before["countries"], "GT"])
    assert project().version == obj.version + 1
    event = AuditEvent.objects.get(pk__gt=AuditEvent.objects.order_by("pk")[events - 1].pk)
    assert event.via == "admin"
    assert set(event.changes) == {"countries"}
    assert "GT" in event.changes["countries"]["after"]


def test_saving_an_unchanged_project_writes_nothing(superuser_client: Client) -> None:
    """Main form and every inline posted as read: no version, no timestamp, no event."""
    obj = project()
    url = admin_url(Project, "change", obj.pk)
    data = form_data(get_ok(superuser_client, url))
    before = stored(obj)
    events = AuditEvent.objects.count()

    response = superuser_client.post(url, data)

    assert response.status_code == 302
    assert stored(obj) == before  # version and updated_at included
    assert AuditEvent.objects.count() == events
    # And the page read before the no-op save is still current: it saves normally.
    data["title_en"] = "Saved after a no-op save"
    assert superuser_client.post(url, data).status_code == 302
    assert project().title_en == "Saved after a no-op save"
