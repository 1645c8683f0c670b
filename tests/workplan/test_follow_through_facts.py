"""The dialogue's later meetings and the progress the governments reported, as the real
fixture carries them, checked against tests/data/plan_facts.json ("meetings",
"meeting_facts", "progress"): every fact is in the fixture with its source, the fixture
says nothing the facts do not (no invented figures), and loading it twice changes nothing.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Q

from tests.workplan.test_load_workplan import FIXTURE, facts, load, summary
from workplan.models import (
    Agency,
    AuditEvent,
    Indicator,
    IndicatorPeriod,
    Meeting,
    ProgressReport,
    Result,
)

pytestmark = pytest.mark.django_db

NUMBER = re.compile(r"\d+")


def source(key: str) -> dict[str, Any]:
    return facts()["sources"][key]


def meeting_on(day: str) -> Meeting:
    return Meeting.objects.get(date=date.fromisoformat(day))


def numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text))


def agency(name: str) -> Agency:
    """An agency by acronym, or by English name for those without one."""
    return Agency.objects.get(Q(acronym=name) | Q(name_en=name))


# -- the facts file ------------------------------------------------------------------------------


def test_follow_through_facts_are_complete_and_sourced() -> None:
    data = facts()
    assert [m["date"] for m in data["meetings"]] == [
        "2021-09-09",
        "2022-09-12",
        "2023-09-29",
        "2024-04-19",
    ]
    assert len(data["progress"]) == 9
    assert {p["pillar"] for p in data["progress"]} == {1, 3, 4}
    for fact in data["meetings"] + data["meeting_facts"] + data["progress"]:
        assert fact["sources"] and set(fact["sources"]) <= set(data["sources"]), fact
    for fact in data["meeting_facts"] + data["progress"]:
        assert fact["says"] and fact["says_es"], fact
        # A figure a fact gives appears in what it says.
        assert set(fact["figures"]) <= numbers(" ".join(fact["says"])), fact


# -- meetings -----------------------------------------------------------------------------------


def test_the_four_meetings_with_their_kind_and_place(real_plan: None) -> None:
    meetings = list(Meeting.objects.order_by("date"))
    expected = facts()["meetings"]
    assert [(m.date.isoformat(), m.kind, m.place_en) for m in meetings] == [
        (f["date"], f["kind"], f["place_en"]) for f in expected
    ]
    for meeting in meetings:
        assert meeting.code == f"HLED-M-{meeting.date.isoformat()}"
        assert meeting.place_es and meeting.summary_en and meeting.summary_es


@pytest.mark.parametrize("day", ["2021-09-09", "2022-09-12", "2023-09-29", "2024-04-19"])
def test_each_meeting_has_the_chairs_the_facts_name(real_plan: None, day: str) -> None:
    fact = next(m for m in facts()["meetings"] if m["date"] == day)
    chairs = meeting_on(day).chairs.select_related("agency")
    for country in ("MX", "US"):
        got = {(c.agency.code, c.person_name) for c in chairs if c.country == country}
        expected = {(agency(name).code, person) for name, person in fact["chairs"][country]}
        assert got == expected, (day, country)
        assert all(agency(name).country == country for name, _ in fact["chairs"][country])
    for attendee in fact.get("attended", []):
        # Attended without chairing: named in the summary, not among the chairs.
        assert agency(attendee).code not in {c.agency.code for c in chairs}
    if fact.get("attended"):
        summary_en = meeting_on(day).summary_en
        assert "Department of Homeland Security" in summary_en and "USAID" in summary_en


@pytest.mark.parametrize("day", ["2021-09-09", "2022-09-12", "2023-09-29", "2024-04-19"])
def test_each_meeting_cites_its_published_sources(real_plan: None, day: str) -> None:
    fact = next(m for m in facts()["meetings"] if m["date"] == day)
    documents = [source(key) for key in fact["sources"] if "title" in source(key)]
    got = {
        (s.title, s.publisher, s.date.isoformat() if s.date else None, s.url)
        for s in meeting_on(day).sources.all()
    }
    # Exactly the documents the facts give, with the address only where they give one.
    assert got == {(d["title"], d["publisher"], d["date"], d.get("url", "")) for d in documents}


@pytest.mark.parametrize("fact", facts()["meeting_facts"], ids=lambda f: f["meeting"])
def test_each_meeting_summary_says_what_the_facts_say(real_plan: None, fact: dict) -> None:
    meeting = meeting_on(fact["meeting"])
    for phrase in fact["says"]:
        assert phrase in meeting.summary_en, phrase
    for phrase in fact["says_es"]:
        assert phrase in meeting.summary_es, phrase


def test_meeting_summaries_carry_no_figure_the_facts_do_not(real_plan: None) -> None:
    for meeting in Meeting.objects.all():
        day = meeting.date.isoformat()
        allowed = {
            figure
            for fact in facts()["meeting_facts"]
            if fact["meeting"] == day
            for figure in fact["figures"]
        }
        for text in (meeting.summary_en, meeting.summary_es, meeting.place_en, meeting.place_es):
            assert numbers(text) <= allowed, (meeting.code, text)


def test_meetings_reviewed_the_projects_progress_was_reported_on(real_plan: None) -> None:
    for meeting in Meeting.objects.all():
        reported = set(
            meeting.progress_reports.filter(project__isnull=False).values_list(
                "project__code", flat=True
            )
        )
        links = set(meeting.project_links.values_list("project__code", "kind"))
        assert links == {(code, "reviewed") for code in reported}, meeting.code


# -- progress -------------------------------------------------------------------------------------


def matching_reports(fact: dict[str, Any]) -> list[ProgressReport]:
    reports = ProgressReport.objects.filter(
        date=date.fromisoformat(fact["date"]), meeting__date=date.fromisoformat(fact["meeting"])
    ).select_related("project__goal__pillar", "goal__pillar")
    found = []
    for report in reports:
        if fact["on"] == "project":
            if report.project is None:
                continue
            place, pillar = report.project.title_en, report.project.goal.pillar.number
        else:
            if report.goal is None:
                continue
            place, pillar = report.goal.title_en, report.goal.pillar.number
        if pillar != fact["pillar"] or fact["subject"].lower() not in place.lower():
            continue
        if all(phrase in report.narrative_en for phrase in fact["says"]):
            found.append(report)
    return found


@pytest.mark.parametrize(
    "fact", facts()["progress"], ids=lambda f: f"{f['date']}-{f['subject']}-{f['on']}"
)
def test_each_reported_fact_is_one_report_with_its_source(real_plan: None, fact: dict) -> None:
    (report,) = matching_reports(fact)
    for phrase in fact["says_es"]:
        assert phrase in report.narrative_es, phrase
    for figure in fact["figures"]:
        assert figure in numbers(report.narrative_en) and figure in numbers(report.narrative_es)
    assert report.source_kind == "stated"
    (key,) = fact["sources"]
    cited = source(key)
    assert report.source_date == date.fromisoformat(cited["date"])
    if "title" in cited:
        assert (report.source_title, report.source_publisher, report.source_url) == (
            cited["title"],
            cited["publisher"],
            cited.get("url", ""),
        )
    else:
        # A review with no published document: named for what it was, nothing invented.
        assert "review" in report.source_title.lower()
        assert (report.source_publisher, report.source_url) == ("", "")


def test_every_report_of_the_fixture_is_a_fact(real_plan: None) -> None:
    matched = [r.pk for fact in facts()["progress"] for r in matching_reports(fact)]
    assert sorted(matched) == sorted(ProgressReport.objects.values_list("pk", flat=True))


def test_reports_carry_no_figure_or_measure_the_facts_do_not(real_plan: None) -> None:
    for fact in facts()["progress"]:
        (report,) = matching_reports(fact)
        for text in (report.narrative_en, report.narrative_es):
            assert numbers(text) <= set(fact["figures"]), (report.code, text)
        # Targets, baselines, periods and measured values were not published.
        assert (report.period_start, report.period_end) == (None, None)
        assert (report.indicator_en, report.indicator_es, report.unit) == ("", "", "")
        assert (report.baseline_value, report.target_value, report.actual_value) == (
            None,
            None,
            None,
        )


def test_report_codes_name_what_they_are_about(real_plan: None) -> None:
    for report in ProgressReport.objects.select_related("project", "goal"):
        about = report.project.code if report.project else report.goal.code
        assert re.fullmatch(rf"{re.escape(about)}-PR\d+", report.code), report.code


# -- loading -----------------------------------------------------------------------------------


def test_loading_again_changes_no_meeting_or_report(real_plan: None) -> None:
    events = AuditEvent.objects.count()
    stamps = {
        "meetings": list(Meeting.objects.values_list("pk", "version", "updated_at")),
        "reports": list(ProgressReport.objects.values_list("pk", "version", "updated_at")),
    }
    counts = summary(load())
    assert counts["meetings"] == {"created": 0, "updated": 0, "unchanged": 4}
    assert counts["progress reports"] == {"created": 0, "updated": 0, "unchanged": 9}
    assert AuditEvent.objects.count() == events
    assert stamps == {
        "meetings": list(Meeting.objects.values_list("pk", "version", "updated_at")),
        "reports": list(ProgressReport.objects.values_list("pk", "version", "updated_at")),
    }


def test_a_reload_keeps_edits_to_meetings_and_reports_and_takes_new_document_values(
    real_plan: None, tmp_path: Path
) -> None:
    from tests.conftest import client_for, make_user
    from workplan.choices import Role

    load()  # records the baselines of the plan as loaded
    editor = client_for(make_user("se-editor", Role.EDITOR, "MX-SE"))
    admin = client_for(make_user("plan-admin", Role.ADMIN))
    report_url = "/api/v1/progress/HLED-2021-10-PR1/"
    edited_es = "Texto corregido por la Secretaría de Economía."
    response = editor.patch(
        report_url, {"narrative_es": edited_es}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200, response.content[:500]
    meeting_url = "/api/v1/meetings/HLED-M-2024-04-19/"
    chairs = [{"agency": "US-DOC", "person_name": "Added by staff"}]
    response = admin.patch(meeting_url, {"chairs": chairs}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 200, response.content[:500]

    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    report = next(r for r in data["progress"] if r["code"] == "HLED-2021-10-PR1")
    report["narrative_en"] += " (revised)"
    report["narrative_es"] = "Otra versión del documento."
    meeting = next(m for m in data["meetings"] if m["code"] == "HLED-M-2024-04-19")
    meeting["summary_en"] = "Virtual review of progress, revised."
    meeting["chairs"] = [{"agency": "MX-SE", "person_name": "In the document"}]
    other = next(m for m in data["meetings"] if m["code"] == "HLED-M-2022-09-12")
    other["sources"].reverse()  # order alone changes nothing
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    output = load(str(path))

    assert "HLED-2021-10-PR1.narrative_es" in output and "HLED-M-2024-04-19.chairs" in output
    fresh = ProgressReport.objects.get(code="HLED-2021-10-PR1")
    assert fresh.narrative_es == edited_es  # kept
    assert fresh.narrative_en.endswith(" (revised)")  # nobody had edited it: taken
    fresh_meeting = Meeting.objects.get(code="HLED-M-2024-04-19")
    assert fresh_meeting.summary_en == "Virtual review of progress, revised."
    assert list(fresh_meeting.chairs.values_list("person_name", flat=True)) == ["Added by staff"]
    untouched = Meeting.objects.get(code="HLED-M-2022-09-12")
    assert not AuditEvent.objects.filter(
        object_code=untouched.code, occurred_at__gt=fresh.created_at, via="command"
    ).exists()
    counts = summary(output)
    assert counts["meetings"] == {"created": 0, "updated": 1, "unchanged": 3}
    assert counts["progress reports"] == {"created": 0, "updated": 1, "unchanged": 8}


# -- results, indicators and periods ------------------------------------------------------------


def matching_periods(fact: dict[str, Any]) -> list[IndicatorPeriod]:
    periods = IndicatorPeriod.objects.filter(
        indicator__title_en__startswith=fact["indicator"]
    ).select_related("indicator__result__project__goal__pillar")
    return [
        p
        for p in periods
        if p.indicator.result.project.goal.pillar.number == fact["pillar"]
        and fact["subject"].lower() in p.indicator.result.project.title_en.lower()
    ]


@pytest.mark.parametrize("fact", facts()["results"], ids=lambda f: f["indicator"])
def test_each_published_figure_is_an_actual_with_its_source(real_plan: None, fact: dict) -> None:
    (period,) = matching_periods(fact)
    assert period.actual_value == Decimal(fact["actual"])
    # A period only where the facts give its dates; nothing invented otherwise.
    dates = fact["period"] and [date.fromisoformat(d) for d in fact["period"]]
    assert [period.period_start, period.period_end] == (dates or [None, None])
    for phrase in fact["says"]:
        assert phrase in period.actual_comment_en, phrase
    for phrase in fact["says_es"]:
        assert phrase in period.actual_comment_es, phrase
    (key,) = fact["sources"]
    cited = source(key)
    assert period.source_kind == "stated"
    assert period.source_date == date.fromisoformat(cited["date"])
    if "title" in cited:
        assert (period.source_title, period.source_publisher) == (
            cited["title"],
            cited["publisher"],
        )
    else:
        assert "review" in period.source_title.lower() and period.source_publisher == ""
    # The same figure, with the same source, as the progress report of the project.
    report = ProgressReport.objects.get(
        project=period.indicator.result.project, source_date=period.source_date
    )
    assert fact["actual"] in numbers(report.narrative_en)
    assert report.source_title == period.source_title


def test_the_fixture_has_indicators_only_where_a_figure_was_published(real_plan: None) -> None:
    matched = [p.pk for fact in facts()["results"] for p in matching_periods(fact)]
    assert sorted(matched) == sorted(IndicatorPeriod.objects.values_list("pk", flat=True))
    # Every indicator and result holds a published figure.
    assert not Indicator.objects.filter(periods__isnull=True).exists()
    assert not Result.objects.filter(indicators__isnull=True).exists()
    # No targets or baselines were published: none is carried.
    assert not IndicatorPeriod.objects.filter(target_value__isnull=False).exists()
    assert not IndicatorPeriod.objects.exclude(target_comment_en="").exists()
    assert not Indicator.objects.filter(
        Q(baseline_year__isnull=False) | Q(baseline_value__isnull=False)
    ).exists()
    for period in IndicatorPeriod.objects.all():
        for text in (period.actual_comment_en, period.actual_comment_es):
            allowed = {n for f in facts()["results"] for n in numbers(" ".join(f["says"]))}
            allowed |= {f["actual"] for f in facts()["results"]}
            assert numbers(text) <= allowed, text


def test_result_codes_name_their_project(real_plan: None) -> None:
    for period in IndicatorPeriod.objects.select_related("indicator__result__project"):
        indicator = period.indicator
        result = indicator.result
        assert re.fullmatch(rf"{re.escape(result.project.code)}-R\d+", result.code)
        assert re.fullmatch(rf"{re.escape(result.code)}-I\d+", indicator.code)
        assert re.fullmatch(rf"{re.escape(indicator.code)}-P\d+", period.code)


def test_a_reload_keeps_edits_to_results_and_takes_new_document_values(
    real_plan: None, tmp_path: Path
) -> None:
    from tests.conftest import client_for, make_user
    from workplan.choices import Role

    load()
    editor = client_for(make_user("sep-editor", Role.ADMIN))
    url = "/api/v1/periods/HLED-2021-11-R1-I1-P1/"
    edited = {"actual": {"value": "12", "comment_en": "Corrected by the agency."}}
    assert editor.patch(url, edited, format="json", HTTP_IF_MATCH="*").status_code == 200
    url = "/api/v1/results/HLED-2021-10-R1/"
    assert (
        editor.patch(url, {"title_es": "Editado"}, format="json", HTTP_IF_MATCH="*").status_code
        == 200
    )

    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    result = next(r for r in data["results"] if r["code"] == "HLED-2021-10-R1")
    result["title_es"] = "Otra versión del documento"
    result["title_en"] += " (revised)"
    period = result["indicators"][0]["periods"][0]
    period["actual_comment_es"] = "Versión nueva del documento."
    other = next(r for r in data["results"] if r["code"] == "HLED-2021-11-R1")
    other["indicators"][0]["periods"][0]["actual_value"] = "99"
    changed = tmp_path / "plan.json"
    changed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    load(str(changed))

    result_row = Result.objects.get(code="HLED-2021-10-R1")
    assert result_row.title_es == "Editado"  # the edit is kept
    assert result_row.title_en.endswith("(revised)")  # untouched: the document's new value
    assert (
        IndicatorPeriod.objects.get(code="HLED-2021-10-R1-I1-P1").actual_comment_es
        == "Versión nueva del documento."
    )
    kept = IndicatorPeriod.objects.get(code="HLED-2021-11-R1-I1-P1")
    assert (kept.actual_value, kept.actual_comment_en) == (
        Decimal("12.00"),
        "Corrected by the agency.",
    )
