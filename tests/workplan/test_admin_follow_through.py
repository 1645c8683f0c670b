"""Meetings and progress reports in the Django admin: saved through the services (with the
inlines' rows), audited, under the same rights as the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import make_user
from tests.workplan.test_admin import admin_url, form_data, get_ok
from tests.workplan.test_admin_memberships import admin_errors
from workplan.choices import Role
from workplan.models import (
    Agency,
    AuditEvent,
    Meeting,
    MeetingChair,
    ProgressReport,
    Project,
)

pytestmark = pytest.mark.django_db


def add_row(data: dict[str, Any], prefix: str, **values: Any) -> None:
    """Append a row to an inline's formset data."""
    n = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = n + 1
    data |= {f"{prefix}-{n}-{name}": value for name, value in values.items()}


def test_a_chair_added_in_the_admin_is_saved_with_the_meeting_and_audited(
    real_plan: None, admin_client: Client
) -> None:
    meeting = Meeting.objects.get(code="HLED-M-2024-04-19")
    dhs = Agency.objects.get(code="US-DHS")
    url = admin_url(Meeting, "change", meeting.pk)
    data = form_data(get_ok(admin_client, url))
    add_row(data, "chairs", meeting=meeting.pk, agency=dhs.pk, person_name="A. Chair")

    response = admin_client.post(url, data)

    assert response.status_code == 302, admin_errors(response)
    chair = MeetingChair.objects.get(meeting=meeting)
    assert (chair.agency, chair.country, chair.person_name) == (dhs, "US", "A. Chair")
    event = AuditEvent.objects.filter(object_code=meeting.code).latest("id")
    assert (event.action, event.via) == ("update", "admin")
    assert event.changes["chairs"]["after"] == [
        {"agency": "US-DHS", "person_name": "A. Chair", "position_en": "", "position_es": ""}
    ]
    assert Meeting.objects.get(pk=meeting.pk).version == meeting.version + 1


def test_a_meeting_saved_unchanged_in_the_admin_writes_nothing(
    real_plan: None, admin_client: Client
) -> None:
    meeting = Meeting.objects.get(code="HLED-M-2022-09-12")
    url = admin_url(Meeting, "change", meeting.pk)
    data = form_data(get_ok(admin_client, url))
    events = AuditEvent.objects.count()

    response = admin_client.post(url, data)

    assert response.status_code == 302, admin_errors(response)
    assert AuditEvent.objects.count() == events
    assert Meeting.objects.get(pk=meeting.pk).version == meeting.version


def test_a_progress_report_added_without_a_code_gets_one_issued(
    real_plan: None, admin_client: Client
) -> None:
    project = Project.objects.get(code="HLED-2021-02")
    url = admin_url(ProgressReport, "add")
    data = form_data(get_ok(admin_client, url))
    data |= {
        "code": "",
        "project": project.pk,
        "date": "2025-01-31",
        "narrative_en": "A pilot was agreed.",
        "narrative_es": "Se acordó un piloto.",
        "source_kind": "entered",
        "source_title": "Note to the dialogue",
    }

    response = admin_client.post(url, data)

    assert response.status_code == 302, admin_errors(response)
    report = ProgressReport.objects.get(project=project)
    assert report.code == "PR-000001"
    event = AuditEvent.objects.get(object_code="PR-000001")
    assert (event.action, event.via, event.object_type) == ("create", "admin", "progress")


def test_a_report_on_both_a_project_and_a_goal_is_a_form_error(
    real_plan: None, admin_client: Client
) -> None:
    project = Project.objects.get(code="HLED-2021-02")
    url = admin_url(ProgressReport, "add")
    data = form_data(get_ok(admin_client, url))
    data |= {
        "project": project.pk,
        "goal": project.goal.pk,
        "date": "2025-01-31",
        "narrative_en": "x",
        "narrative_es": "x",
        "source_kind": "stated",
        "source_title": "x",
    }
    count = ProgressReport.objects.count()

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "exactly one" in str(response.context["adminform"].form.errors)
    assert ProgressReport.objects.count() == count


@pytest.fixture
def staff_editor(real_plan: None, client: Client) -> Client:
    user = make_user("se-staff", Role.EDITOR, "MX-SE", is_staff=True)
    client.force_login(user)
    return client


def test_a_staff_editor_reports_only_on_its_agencys_projects(staff_editor: Client) -> None:
    url = admin_url(ProgressReport, "add")
    response = get_ok(staff_editor, url)
    choices = response.context["adminform"].form.fields["project"].queryset
    assert set(choices.values_list("code", flat=True)) == set(
        Project.objects.filter(agency_roles__agency__code="MX-SE").values_list("code", flat=True)
    )
    data = form_data(response)
    data |= {
        "project": Project.objects.get(code="HLED-2021-05").pk,  # SRE, DOS, USAID: not SE
        "date": "2025-01-31",
        "narrative_en": "x",
        "narrative_es": "x",
        "source_kind": "entered",
        "source_title": "x",
    }
    count = ProgressReport.objects.count()
    response = staff_editor.post(url, data)
    assert response.status_code == 200
    assert "project" in response.context["adminform"].form.errors
    assert ProgressReport.objects.count() == count

    data["project"] = Project.objects.get(code="HLED-2021-02").pk
    response = staff_editor.post(url, data)
    assert response.status_code == 302, admin_errors(response)
    event = AuditEvent.objects.get(object_code="PR-000001")
    assert event.agency.code == "MX-SE" and event.via == "admin"


def test_a_staff_editor_reads_meetings_but_cannot_add_or_change_them(
    staff_editor: Client,
) -> None:
    meeting = Meeting.objects.get(code="HLED-M-2022-09-12")
    get_ok(staff_editor, admin_url(Meeting, "changelist"))
    assert staff_editor.get(admin_url(Meeting, "add")).status_code == 403
    url = admin_url(Meeting, "change", meeting.pk)
    response = get_ok(staff_editor, url)
    assert response.context["has_change_permission"] is False
    response = staff_editor.post(url, {"summary_en": "Changed"})
    assert response.status_code == 403
    assert Meeting.objects.get(pk=meeting.pk).version == meeting.version
