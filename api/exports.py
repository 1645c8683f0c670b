"""Exports of the plan: CSV rows and IATI 2.03 activity XML, generated as streams.

Both take a queryset that is already filtered and scoped to the caller, and walk it
in chunks so memory stays flat however large the plan grows.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple
from xml.etree import ElementTree as ET

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from workplan.choices import ActivityStatus
from workplan.models import ProgressReport, ProjectAgencyRole, ProjectCountry

# Projects read per batch: the rows come through a server-side cursor (on PostgreSQL),
# and each batch's related rows (agencies, countries) take one query per kind.
BATCH = 1000

logger = logging.getLogger("api.exports")

# What every export's description says about failures and limits.
EXPORT_NOTES = (
    " A failure part way through cuts the connection: the chunked transfer then lacks its "
    "final empty chunk, so an export that ends cleanly is complete. Exports have a rate "
    "limit of their own, apart from reads (API_THROTTLE_EXPORT, default 60 an hour per "
    "token, user or anonymous address)."
)

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

# The project's own columns an export reads, with its goal's and pillar's codes.
PROJECT_VALUES = (
    "id",
    "code",
    "title_en",
    "title_es",
    "description_en",
    "description_es",
    "status",
    "is_published",
    "goal__code",
    "goal__pillar__code",
    "announced_on",
    "planned_start",
    "planned_end",
    "actual_start",
    "actual_end",
    "budget_amount",
    "budget_currency",
    "created_at",
    "updated_at",
)


class RoleRow(NamedTuple):
    """An agency taking part in a project, as the exports need it."""

    agency_code: str
    role: str
    is_lead: bool
    organisation_type: str
    name_en: str
    name_es: str


class ExportRow:
    """A project as the exports read it: plain values, no model instance.

    `roles` and `countries` are filled per batch (`attach_related`); `related` holds what
    further per-project data an export needs, fetched per batch the same way.
    """

    __slots__ = (
        *(name.replace("__", "_") for name in PROJECT_VALUES),
        "roles",
        "countries",
        "results",
    )

    id: int
    code: str
    title_en: str
    title_es: str
    description_en: str
    description_es: str
    status: str
    is_published: bool
    goal_code: str
    goal_pillar_code: str
    announced_on: date | None
    planned_start: date | None
    planned_end: date | None
    actual_start: date | None
    actual_end: date | None
    budget_amount: Decimal | None
    budget_currency: str
    created_at: datetime
    updated_at: datetime

    def __init__(self, values: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, values, strict=False):
            setattr(self, name, value)
        self.roles: list[RoleRow] = []
        self.countries: list[str] = []
        # Filled only for the exports that carry results (IATI): `attach_results`.
        self.results: list[dict[str, Any]] = []


ROLE_COLUMNS = (
    "project_id",
    "agency__code",
    "role",
    "is_lead",
    "agency__organisation_type",
    "agency__name_en",
    "agency__name_es",
)


def _of_projects(queryset: QuerySet, ids: list[int], columns: tuple[str, ...]) -> Any:
    """Rows of `queryset` for the projects `ids`, as tuples of `columns`.

    On PostgreSQL the ids go as one array parameter (`= ANY(%s)`): a thousand separate
    IN parameters cost more to build and send than the rows they fetch.
    """
    if connection.vendor != "postgresql":
        return queryset.filter(project_id__in=ids).values_list(*columns)
    sql, params = queryset.filter(project_id=-1).values_list(*columns).query.sql_with_params()
    marker = sql.index("= %s")
    index = sql[:marker].count("%s")
    params = (*params[:index], ids, *params[index + 1 :])
    with connection.cursor() as cursor:
        cursor.execute(sql[:marker] + "= ANY(%s)" + sql[marker + 4 :], params)
        return cursor.fetchall()


def attach_related(rows: list[ExportRow], *, with_results: bool = False) -> None:
    """Each row's agencies (by country, then code) and countries (and, `with_results`,
    its results): one query per kind for the whole batch."""
    by_id = {row.id: row for row in rows}
    ids = list(by_id)
    roles = ProjectAgencyRole.objects.order_by("project_id", "country", "agency__code")
    for project_id, *role in _of_projects(roles, ids, ROLE_COLUMNS):
        by_id[project_id].roles.append(RoleRow(*role))
    countries = ProjectCountry.objects.order_by("project_id", "country")
    for project_id, country in _of_projects(countries, ids, ("project_id", "country")):
        by_id[project_id].countries.append(country)
    if with_results:
        attach_results(rows)


def project_batches(
    queryset: QuerySet, batch: int | None = None, *, with_results: bool = False
) -> Iterator[list[ExportRow]]:
    """The queryset's projects in its order, `batch` at a time, with their related rows.

    Only the exported columns are read, through a server-side cursor on PostgreSQL
    (`iterator`), so memory holds one batch whatever the number of projects.
    """
    size = batch or BATCH
    values = queryset.select_related(None).prefetch_related(None).values_list(*PROJECT_VALUES)
    rows: list[ExportRow] = []
    for values_row in values.iterator(chunk_size=size):
        rows.append(ExportRow(values_row))
        if len(rows) >= size:
            attach_related(rows, with_results=with_results)
            yield rows
            rows = []
    if rows:
        attach_related(rows, with_results=with_results)
        yield rows


def _iso(value: Any) -> str:
    return value.isoformat() if value else ""


STATUS_NAMES = {code: str(label) for code, label in ActivityStatus.choices}


def project_csv_row(project: ExportRow, url: str) -> list[str]:
    roles = project.roles
    return [
        project.code,
        url,
        project.title_en,
        project.title_es,
        project.description_en,
        project.description_es,
        project.status,
        STATUS_NAMES[project.status],
        "true" if project.is_published else "false",
        project.goal_pillar_code,
        project.goal_code,
        _iso(project.announced_on),
        _iso(project.planned_start),
        _iso(project.planned_end),
        _iso(project.actual_start),
        _iso(project.actual_end),
        ";".join(project.countries),
        # agency code and IATI OrganisationRole code, e.g. "MX-SE:4;US-DOC:4"
        ";".join(f"{r.agency_code}:{r.role}" for r in roles),
        ";".join(r.agency_code for r in roles if r.is_lead),
        "" if project.budget_amount is None else str(project.budget_amount),
        project.budget_currency,
        _iso(project.created_at),
        _iso(project.updated_at),
    ]


def cut_on_failure(chunks: Iterator[Any], what: str) -> Iterator[Any]:
    """The stream, logged and re-raised if it fails part way.

    Once the first chunk has left, the status line (200) is gone too: the only honest
    way to end a failed export is to cut the connection, which the server does when the
    iterator raises (gunicorn closes it without the chunked transfer's last, empty
    chunk). The client then sees an incomplete transfer, never a short document that
    looks whole.
    """
    try:
        yield from chunks
    except Exception:
        logger.exception("The %s export failed part way; the connection is cut", what)
        raise


def export_stream(chunks: Iterator[Any], what: str) -> Iterator[Any]:
    """An export's body: its first chunk is made now, so a failure before anything is
    sent is an error response, not a cut stream; after that, a failure cuts it."""
    guarded = cut_on_failure(chunks, what)
    first = next(guarded, None)
    return itertools.chain([] if first is None else [first], guarded)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_FIRST = frozenset(FORMULA_TRIGGERS)  # csv_cell's test, inlined in the CSV loop


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading formula character gets a `'` before it.

    As OWASP recommends for CSV injection; the quote is visible in the cell, and the
    text after it is the value unchanged.
    """
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value


def stream_csv(queryset: QuerySet, url_prefix: str) -> Iterator[str]:
    """UTF-8 CSV with a header row, one row per project; lists are joined with ';'."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for batch in project_batches(queryset):
        for project in batch:
            url = f"{url_prefix}{project.code}/"
            writer.writerow(
                [
                    f"'{cell}" if cell[:1] in FORMULA_FIRST else cell
                    for cell in project_csv_row(project, url)
                ]
            )
            if buffer.tell() > 16384:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        # What was read goes out before the next batch is read.
        if buffer.tell():
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


def iati_activity(project: ExportRow) -> ET.Element:
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
    roles = project.roles
    for role in roles:
        org = ET.SubElement(
            activity,
            "participating-org",
            {"ref": role.agency_code, "role": role.role, "type": role.organisation_type},
        )
        _narratives(org, {"en": role.name_en, "es": role.name_es})
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
    for country in project.countries:
        ET.SubElement(activity, "recipient-country", {"code": country})
    if project.budget_amount is not None and project.planned_start and project.planned_end:
        budget = ET.SubElement(activity, "budget", {"type": "1", "status": "1"})
        ET.SubElement(budget, "period-start", {"iso-date": project.planned_start.isoformat()})
        ET.SubElement(budget, "period-end", {"iso-date": project.planned_end.isoformat()})
        ET.SubElement(
            budget,
            "value",
            {"currency": project.budget_currency, "value-date": project.planned_start.isoformat()},
        ).text = str(project.budget_amount)
    for element in iati_results(project.results):
        activity.append(element)
    return activity


# -- IATI results ------------------------------------------------------------------------
# Kept apart from the activity: `iati_results` takes plain rows (a project's results with
# their indicators and periods, as `attach_results` reads them per batch), so any way of
# reading projects can use it.

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


def attach_results(rows: list[ExportRow]) -> None:
    """Each row's active results, with their active indicators and periods, by code, as
    plain dicts: three queries for the whole batch."""
    from workplan.models import Indicator, IndicatorPeriod, Result

    by_id = {row.id: row for row in rows}
    results: dict[int, dict[str, Any]] = {}
    active = Result.objects.filter(archived_at__isnull=True).order_by("project_id", "code")
    for project_id, pk, *values in _of_projects(
        active, list(by_id), ("project_id", "id", *RESULT_FIELDS)
    ):
        result = {**dict(zip(RESULT_FIELDS, values, strict=True)), "indicators": []}
        results[pk] = result
        by_id[project_id].results.append(result)
    if not results:
        return
    indicators: dict[int, dict[str, Any]] = {}
    for result_id, pk, *values in (
        Indicator.objects.filter(archived_at__isnull=True, result_id__in=list(results))
        .order_by("result_id", "code")
        .values_list("result_id", "id", *INDICATOR_FIELDS)
    ):
        indicator = {**dict(zip(INDICATOR_FIELDS, values, strict=True)), "periods": []}
        indicators[pk] = indicator
        results[result_id]["indicators"].append(indicator)
    if not indicators:
        return
    for indicator_id, *values in (
        IndicatorPeriod.objects.filter(archived_at__isnull=True, indicator_id__in=list(indicators))
        .order_by("indicator_id", "code")
        .values_list("indicator_id", *PERIOD_FIELDS)
    ):
        indicators[indicator_id]["periods"].append(dict(zip(PERIOD_FIELDS, values, strict=True)))


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(text: str) -> str:
    text = _escape_text(text).replace('"', "&quot;")
    return text.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#09;")


def _attribute_name(name: str) -> str:
    return "xml:lang" if name == XML_LANG else name


def element_xml(element: ET.Element, out: list[str]) -> None:
    """`ET.tostring(element)`'s text, appended to `out`, for the plain elements built
    here (no namespaces but xml:lang, no tails, no comments). The standard library's
    serialiser is written in Python and handles every case; it cost two thirds of the
    IATI export's time."""
    attributes = "".join(
        f' {_attribute_name(name)}="{_escape_attribute(str(value))}"'
        for name, value in element.items()
    )
    if not element.text and not len(element):
        out.append(f"<{element.tag}{attributes} />")
        return
    out.append(f"<{element.tag}{attributes}>")
    if element.text:
        out.append(_escape_text(element.text))
    for child in element:
        element_xml(child, out)
    out.append(f"</{element.tag}>")


def stream_iati(queryset: QuerySet) -> Iterator[bytes]:
    """An `iati-activities` document (IATI standard 2.03), one activity per project.

    A complete document ends with `</iati-activities>`; a failed one is cut short
    (`cut_on_failure`) and is not well-formed XML."""
    generated = datetime.now(UTC).replace(microsecond=0).isoformat()
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<iati-activities version="2.03" generated-datetime="{generated}">\n'
    ).encode()
    # The head goes out with the first batch, so the first chunk runs the query.
    parts = [head]
    size = len(head)
    for batch in project_batches(queryset, with_results=True):
        for project in batch:
            text: list[str] = []
            element_xml(iati_activity(project), text)
            text.append("\n")
            part = "".join(text).encode()
            parts.append(part)
            size += len(part)
            if size > 65536:
                yield b"".join(parts)
                parts, size = [], 0
        # What was read goes out before the next batch is read.
        if parts:
            yield b"".join(parts)
            parts, size = [], 0
    parts.append(b"</iati-activities>\n")
    yield b"".join(parts)
