"""Exports of the plan: CSV rows and IATI 2.03 activity XML, generated as streams.

Both take a queryset that is already filtered and scoped to the caller, and walk it
in chunks so memory stays flat however large the plan grows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from django.conf import settings

from workplan.choices import ActivityStatus
from workplan.models import ProgressReport, Project

CHUNK = 200

CSV_COLUMNS = [
    "code",
    "url",
    "title_en",
    "title_es",
    "description_en",
    "description_es",
    "status",
    "status_name",
    "is_published",
    "pillar",
    "goal",
    "announced_on",
    "planned_start",
    "planned_end",
    "actual_start",
    "actual_end",
    "countries",
    "agencies",
    "lead_agencies",
    "budget_amount",
    "budget_currency",
    "created_at",
    "updated_at",
]


def _iso(value: Any) -> str:
    return value.isoformat() if value else ""


def project_csv_row(project: Project, url: str) -> list[str]:
    roles = list(project.agency_roles.all())
    return [
        project.code,
        url,
        project.title_en,
        project.title_es,
        project.description_en,
        project.description_es,
        project.status,
        ActivityStatus(project.status).label,
        "true" if project.is_published else "false",
        project.goal.pillar.code,
        project.goal.code,
        _iso(project.announced_on),
        _iso(project.planned_start),
        _iso(project.planned_end),
        _iso(project.actual_start),
        _iso(project.actual_end),
        ";".join(c.country for c in project.countries.all()),
        # agency code and IATI OrganisationRole code, e.g. "MX-SE:4;US-DOC:4"
        ";".join(f"{r.agency.code}:{r.role}" for r in roles),
        ";".join(r.agency.code for r in roles if r.is_lead),
        "" if project.budget_amount is None else str(project.budget_amount),
        project.budget_currency,
        _iso(project.created_at),
        _iso(project.updated_at),
    ]


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading formula character gets a `'` before it.

    As OWASP recommends for CSV injection; the quote is visible in the cell, and the
    text after it is the value unchanged.
    """
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value


def stream_csv(projects: Iterable[Project], url_for: Any) -> Iterator[str]:
    """UTF-8 CSV with a header row, one row per project; lists are joined with ';'."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for project in projects:
        writer.writerow([csv_cell(cell) for cell in project_csv_row(project, url_for(project))])
        if buffer.tell() > 16384:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# -- progress reports ------------------------------------------------------------------

PROGRESS_CSV_COLUMNS = [
    "code",
    "url",
    "date",
    "project",
    "goal",
    "pillar",
    "meeting",
    "narrative_en",
    "narrative_es",
    "source_kind",
    "source_title",
    "source_publisher",
    "source_date",
    "source_url",
    "period_start",
    "period_end",
    "indicator_en",
    "indicator_es",
    "unit",
    "baseline_value",
    "target_value",
    "actual_value",
    "created_at",
    "updated_at",
]


def _number(value: Any) -> str:
    return "" if value is None else str(value)


def progress_csv_row(report: ProgressReport, url: str) -> list[str]:
    goal = report.project.goal if report.project is not None else report.goal
    return [
        report.code,
        url,
        _iso(report.date),
        report.project.code if report.project is not None else "",
        goal.code if goal is not None else "",
        goal.pillar.code if goal is not None else "",
        report.meeting.code if report.meeting is not None else "",
        report.narrative_en,
        report.narrative_es,
        report.source_kind,
        report.source_title,
        report.source_publisher,
        _iso(report.source_date),
        report.source_url,
        _iso(report.period_start),
        _iso(report.period_end),
        report.indicator_en,
        report.indicator_es,
        report.unit,
        _number(report.baseline_value),
        _number(report.target_value),
        _number(report.actual_value),
        _iso(report.created_at),
        _iso(report.updated_at),
    ]


NUMBER_CELL = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?$")


def stream_rows(columns: list[str], rows: Iterable[list[str]]) -> Iterator[str]:
    """UTF-8 CSV with a header row, in chunks of about 16 KiB. Text cells are kept from
    running as formulas (`csv_cell`); numbers (a negative value too) are left as they are."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell if NUMBER_CELL.match(cell) else csv_cell(cell) for cell in row])
        if buffer.tell() > 16384:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def stream_progress_csv(reports: Iterable[ProgressReport], url_for: Any) -> Iterator[str]:
    """One row per progress report, with the goal and pillar it falls under."""
    return stream_rows(
        PROGRESS_CSV_COLUMNS, (progress_csv_row(report, url_for(report)) for report in reports)
    )


# -- IATI ---------------------------------------------------------------------------

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# IATI ActivityDateType codes
PLANNED_START, ACTUAL_START, PLANNED_END, ACTUAL_END = "1", "2", "3", "4"
ACCOUNTABLE = "2"  # IATI OrganisationRole


def _narratives(parent: ET.Element, texts: dict[str, str]) -> None:
    for lang, text in texts.items():
        if text:
            ET.SubElement(parent, "narrative", {XML_LANG: lang}).text = text


def iati_activity(project: Project) -> ET.Element:
    ref = settings.IATI_REPORTING_ORG_REF
    activity = ET.Element(
        "iati-activity",
        {
            "last-updated-datetime": project.updated_at.replace(microsecond=0).isoformat(),
            XML_LANG: "en",
            **({"default-currency": project.budget_currency} if project.budget_currency else {}),
        },
    )
    ET.SubElement(activity, "iati-identifier").text = f"{ref}-{project.code}"
    reporting = ET.SubElement(
        activity, "reporting-org", {"ref": ref, "type": settings.IATI_REPORTING_ORG_TYPE}
    )
    _narratives(reporting, settings.IATI_REPORTING_ORG_NAME)
    _narratives(ET.SubElement(activity, "title"), {"en": project.title_en, "es": project.title_es})
    description = ET.SubElement(activity, "description", {"type": "1"})
    _narratives(
        description,
        {
            "en": project.description_en or project.title_en,
            "es": project.description_es or project.title_es,
        },
    )
    roles = list(project.agency_roles.all())
    for role in roles:
        org = ET.SubElement(
            activity,
            "participating-org",
            {"ref": role.agency.code, "role": role.role, "type": role.agency.organisation_type},
        )
        _narratives(org, {"en": role.agency.name_en, "es": role.agency.name_es})
    if not roles:
        # IATI requires a participating organisation: the reporting one answers for it.
        org = ET.SubElement(
            activity,
            "participating-org",
            {"ref": ref, "role": ACCOUNTABLE, "type": settings.IATI_REPORTING_ORG_TYPE},
        )
        _narratives(org, settings.IATI_REPORTING_ORG_NAME)
    ET.SubElement(activity, "activity-status", {"code": project.status})
    dates = [
        (PLANNED_START, project.planned_start),
        (ACTUAL_START, project.actual_start),
        (PLANNED_END, project.planned_end),
        (ACTUAL_END, project.actual_end),
    ]
    if not any(value for _, value in dates):
        # IATI requires a date. With none published, the announcement (or, failing that,
        # the day the record was created) stands in as the planned start, and says so.
        stand_in = project.announced_on or project.created_at.date()
        element = ET.SubElement(
            activity, "activity-date", {"type": PLANNED_START, "iso-date": stand_in.isoformat()}
        )
        if project.announced_on:
            texts = {
                "en": "Date the work plan announced the activity; no start date was published.",
                "es": "Fecha en que el plan de trabajo anunció la actividad; no se publicó "
                "fecha de inicio.",
            }
        else:
            texts = {
                "en": "Date the activity was recorded; no start date was published.",
                "es": "Fecha en que se registró la actividad; no se publicó fecha de inicio.",
            }
        _narratives(element, texts)
    for date_type, value in dates:
        if value:
            ET.SubElement(
                activity, "activity-date", {"type": date_type, "iso-date": value.isoformat()}
            )
    for country in project.countries.all():
        ET.SubElement(activity, "recipient-country", {"code": country.country})
    if project.budget_amount is not None and project.planned_start and project.planned_end:
        budget = ET.SubElement(activity, "budget", {"type": "1", "status": "1"})
        ET.SubElement(budget, "period-start", {"iso-date": project.planned_start.isoformat()})
        ET.SubElement(budget, "period-end", {"iso-date": project.planned_end.isoformat()})
        ET.SubElement(
            budget,
            "value",
            {"currency": project.budget_currency, "value-date": project.planned_start.isoformat()},
        ).text = str(project.budget_amount)
    for element in iati_results(project_results(project)):
        activity.append(element)
    return activity


# -- IATI results ------------------------------------------------------------------------
# Kept apart from the activity: `iati_results` takes plain rows (a project's results with
# their indicators and periods, as `project_results` reads them or as `.values()` gives
# them), so any way of reading projects can use it.

RESULT_FIELDS = (
    "type",
    "aggregation_status",
    "title_en",
    "title_es",
    "description_en",
    "description_es",
)
INDICATOR_FIELDS = (
    "measure",
    "ascending",
    "title_en",
    "title_es",
    "description_en",
    "description_es",
    "baseline_year",
    "baseline_value",
    "baseline_comment_en",
    "baseline_comment_es",
)
PERIOD_FIELDS = (
    "period_start",
    "period_end",
    "target_value",
    "target_comment_en",
    "target_comment_es",
    "actual_value",
    "actual_comment_en",
    "actual_comment_es",
)


def project_results(project: Project) -> list[dict[str, Any]]:
    """The project's active results as rows, each with its active indicators and their
    active periods, by code. Uses `active_results` when the caller prefetched it."""
    from workplan.models import Result

    results: Any = getattr(project, "active_results", None)
    if results is None:
        results = Result.objects.filter(project=project, archived_at__isnull=True).prefetch_related(
            *RESULT_PREFETCHES
        )
    return [
        {
            **{name: getattr(result, name) for name in RESULT_FIELDS},
            "indicators": [
                {
                    **{name: getattr(indicator, name) for name in INDICATOR_FIELDS},
                    "periods": [
                        {name: getattr(period, name) for name in PERIOD_FIELDS}
                        for period in indicator.active_periods
                    ],
                }
                for indicator in result.active_indicators
            ],
        }
        for result in results
    ]


def _prefetches() -> list[Any]:
    from django.db.models import Prefetch

    from workplan.models import Indicator, IndicatorPeriod

    periods = Prefetch(
        "periods",
        queryset=IndicatorPeriod.objects.filter(archived_at__isnull=True).order_by("code"),
        to_attr="active_periods",
    )
    indicators = Prefetch(
        "indicators",
        queryset=Indicator.objects.filter(archived_at__isnull=True)
        .order_by("code")
        .prefetch_related(periods),
        to_attr="active_indicators",
    )
    return [indicators]


RESULT_PREFETCHES = _prefetches()


def results_prefetch() -> Any:
    """What a project queryset prefetches so `project_results` runs no query per project."""
    from django.db.models import Prefetch

    from workplan.models import Result

    return Prefetch(
        "results",
        queryset=Result.objects.filter(archived_at__isnull=True)
        .order_by("code")
        .prefetch_related(*RESULT_PREFETCHES),
        to_attr="active_results",
    )


def _boolean(value: bool) -> str:
    return "1" if value else "0"


def _value(value: Any) -> dict[str, str]:
    return {} if value is None else {"value": str(value)}


def _comment(parent: ET.Element, row: dict[str, Any], base: str) -> None:
    texts = {lang: row.get(f"{base}_{lang}") or "" for lang in ("en", "es")}
    if any(texts.values()):
        _narratives(ET.SubElement(parent, "comment"), texts)


def iati_results(results: Iterable[dict[str, Any]]) -> list[ET.Element]:
    """IATI 2.03 `result` elements (type, title, description; indicators with measure,
    ascending, baseline and periods with target and actual).

    What IATI requires and a record may lack is left out rather than invented: a result
    without indicators, a baseline without a year, a period without both its dates.
    """
    elements = []
    for result in results:
        if not result["indicators"]:
            continue
        attributes = {"type": result["type"]}
        if result["aggregation_status"] is not None:
            attributes["aggregation-status"] = _boolean(result["aggregation_status"])
        element = ET.Element("result", attributes)
        _narratives(
            ET.SubElement(element, "title"), {"en": result["title_en"], "es": result["title_es"]}
        )
        if result["description_en"] or result["description_es"]:
            _narratives(
                ET.SubElement(element, "description"),
                {"en": result["description_en"], "es": result["description_es"]},
            )
        for row in result["indicators"]:
            indicator = ET.SubElement(
                element,
                "indicator",
                {"measure": row["measure"], "ascending": _boolean(row["ascending"])},
            )
            _narratives(
                ET.SubElement(indicator, "title"), {"en": row["title_en"], "es": row["title_es"]}
            )
            if row["description_en"] or row["description_es"]:
                _narratives(
                    ET.SubElement(indicator, "description"),
                    {"en": row["description_en"], "es": row["description_es"]},
                )
            if row["baseline_year"] is not None:
                baseline = ET.SubElement(
                    indicator,
                    "baseline",
                    {"year": str(row["baseline_year"]), **_value(row["baseline_value"])},
                )
                _comment(baseline, row, "baseline_comment")
            for period_row in row["periods"]:
                if period_row["period_start"] is None or period_row["period_end"] is None:
                    continue
                period = ET.SubElement(indicator, "period")
                for name in ("period_start", "period_end"):
                    ET.SubElement(
                        period, name.replace("_", "-"), {"iso-date": period_row[name].isoformat()}
                    )
                for kind in ("target", "actual"):
                    value = period_row[f"{kind}_value"]
                    if value is None and not (
                        period_row[f"{kind}_comment_en"] or period_row[f"{kind}_comment_es"]
                    ):
                        continue
                    measured = ET.SubElement(period, kind, _value(value))
                    _comment(measured, period_row, f"{kind}_comment")
        elements.append(element)
    return elements


def stream_iati(projects: Iterable[Project]) -> Iterator[bytes]:
    """An `iati-activities` document (IATI standard 2.03), one activity per project."""
    generated = datetime.now(UTC).replace(microsecond=0).isoformat()
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<iati-activities version="2.03" generated-datetime="{generated}">\n'
    ).encode()
    # The head goes out with the first activity, so the first chunk runs the query.
    for project in projects:
        yield head + ET.tostring(iati_activity(project), encoding="utf-8") + b"\n"
        head = b""
    yield head + b"</iati-activities>\n"
