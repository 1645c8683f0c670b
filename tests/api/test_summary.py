"""/api/v1/summary/: every number can be recomputed by walking the list endpoints."""

from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import assert_problem, get_ok, list_all, make_user, token_client
from tests.factories import (
    IndicatorFactory,
    IndicatorPeriodFactory,
    ProgressReportFactory,
    ProjectAgencyRoleFactory,
    ProjectCountryFactory,
    ProjectFactory,
    ResultFactory,
)
from workplan.choices import AssignmentSource, Role, SourceKind
from workplan.models import Agency, Goal

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan_with_hidden(real_plan: None) -> dict[str, Any]:
    """The real plan, plus unpublished work of MX-SE (with a report) that only MX-SE and the
    plan admins see, and a published project of it with an inferred participation."""
    se = Agency.objects.get(code="MX-SE")
    goal = Goal.objects.get(code="P2-G1")
    hidden = ProjectFactory(goal=goal, is_published=False, status="1")
    ProjectAgencyRoleFactory(project=hidden, agency=se)
    ProjectCountryFactory(project=hidden, country="MX")
    ProgressReportFactory(project=hidden, source_kind=SourceKind.ENTERED)
    shown = ProjectFactory(goal=goal, status="2")
    ProjectAgencyRoleFactory(project=shown, agency=se, source=AssignmentSource.INFERRED)

    # Indicators of every kind: met (ascending and not), not met, awaiting an actual, no
    # target; the latest period with a target decides; the hidden project's count only
    # for those who see it.
    def indicator(project: Any, ascending: bool, *periods: tuple[Any, ...]) -> None:
        measured = IndicatorFactory(result=ResultFactory(project=project), ascending=ascending)
        for end, target, actual in periods:
            IndicatorPeriodFactory(
                indicator=measured,
                period_start=None if end is None else end.replace(month=1, day=1),
                period_end=end,
                target_value=target,
                actual_value=actual,
            )

    indicator(shown, True, (date(2024, 12, 31), Decimal(10), Decimal(12)))
    indicator(shown, False, (date(2024, 12, 31), Decimal(10), Decimal(8)))
    indicator(
        shown,
        True,
        (date(2025, 12, 31), Decimal(50), Decimal(40)),
        (date(2024, 12, 31), Decimal(30), Decimal(35)),
        (None, None, Decimal(99)),
    )
    indicator(shown, True, (date(2026, 12, 31), Decimal(5), None))
    indicator(shown, True, (date(2026, 12, 31), None, Decimal(5)))
    indicator(hidden, True, (date(2024, 12, 31), Decimal(1), Decimal(1)))
    return {
        "anonymous": token_client(),
        "reader_of_se": token_client(make_user("se-reader", Role.READER, se)),
        "editor_of_doc": token_client(make_user("doc-editor", Role.EDITOR, "US-DOC")),
        "admin": token_client(make_user("the-admin", Role.ADMIN)),
    }


def indicator_counts(client: Any, codes: set[str]) -> Counter:
    """Indicators of the projects `codes`, from /results/ and /indicators/: met when the
    latest period with a target value (by end, then start, then code) reached it."""
    results = {r["code"] for r in list_all(client, "results") if r["project"]["code"] in codes}
    counts: Counter = Counter()
    for indicator in list_all(client, "indicators"):
        if indicator["result"] not in results:
            continue
        counts["count"] += 1
        targeted = [p for p in indicator["periods"] if p["target"] and p["target"]["value"]]
        if not targeted:
            continue
        counts["with_target"] += 1
        latest = max(
            targeted,
            key=lambda p: (
                p["end"] is not None,
                p["end"] or "",
                p["start"] is not None,
                p["start"] or "",
                p["code"],
            ),
        )
        if not latest["actual"] or latest["actual"]["value"] is None:
            counts["awaiting_actual"] += 1
            continue
        actual, target = Decimal(latest["actual"]["value"]), Decimal(latest["target"]["value"])
        reached = actual >= target if indicator["ascending"] else actual <= target
        counts["met" if reached else "not_met"] += 1
    return counts


def recompute(client: Any, query: str = "") -> dict[str, Any]:
    """The summary's numbers, as a partner computes them from the list endpoints."""
    projects = list_all(client, "projects", query)
    reports = list_all(client, "progress")
    codes = {p["code"] for p in projects}
    filtered = bool(query)
    if filtered:
        # Reports on goals count when only pillars (or goals) are chosen.
        pillar = query.removeprefix("pillar=") if query.startswith("pillar=") else None
        reports = [
            r
            for r in reports
            if (r["project"] and r["project"]["code"] in codes)
            or (r["project"] is None and r["pillar"]["code"] == pillar)
        ]
    latest: dict[str, dict[str, Any]] = {}
    for report in reports:
        key = report["pillar"]["code"]
        if key not in latest or (report["date"], report["code"]) > (
            latest[key]["date"],
            latest[key]["code"],
        ):
            latest[key] = report
    return {
        "count": len(projects),
        "by_pillar": Counter(p["pillar"]["code"] for p in projects),
        "by_goal": Counter(p["goal"]["code"] for p in projects),
        "by_agency": Counter(
            a["agency"]["code"] for p in projects for a in p["participating_agencies"]
        ),
        "by_country": Counter(c for p in projects for c in p["countries"]),
        "by_status": Counter(p["status"] for p in projects),
        "latest": {
            k: (r["code"], r["date"], r["project"] and r["project"]["code"], r["goal"]["code"])
            for k, r in latest.items()
        },
        "report_kinds": Counter(r["source"]["kind"] for r in reports),
        "role_sources": Counter(a["source"] for p in projects for a in p["participating_agencies"]),
        "indicators": indicator_counts(client, codes),
    }


def summarised(client: Any, query: str = "") -> dict[str, Any]:
    body = get_ok(client, f"/api/v1/summary/?{query}")
    projects = body["projects"]
    facts = body["facts"]

    def counts(rows: list[dict[str, Any]]) -> Counter:
        return Counter({row["code"]: row["count"] for row in rows if row["count"]})

    return {
        "count": projects["count"],
        **{key: counts(projects[key]) for key in projects if key.startswith("by_")},
        "latest": {
            r["pillar"]: (r["code"], r["date"], r["project"], r["goal"])
            for r in body["latest_progress"]
        },
        "report_kinds": counts(facts["progress_reports"]),
        "role_sources": counts(facts["agency_roles"]),
        "indicators": Counter({k: v for k, v in body["indicators"].items() if v}),
    }


CALLERS = ["anonymous", "reader_of_se", "editor_of_doc", "admin"]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("query", ["", "pillar=P2", "agency=SE", "country=MX&status=2"])
def test_every_number_matches_the_list_endpoints(plan_with_hidden, no_throttling, caller, query):
    client = plan_with_hidden[caller]
    assert summarised(client, query) == recompute(client, query)


def test_callers_see_different_numbers_when_unpublished_projects_exist(
    plan_with_hidden, no_throttling
):
    totals = {
        caller: get_ok(plan_with_hidden[caller], "/api/v1/summary/")["projects"]["count"]
        for caller in CALLERS
    }
    # The unpublished project of MX-SE counts for its agency and the admins only.
    assert totals["reader_of_se"] == totals["admin"] == totals["anonymous"] + 1
    assert totals["editor_of_doc"] == totals["anonymous"]
    entered = {
        caller: get_ok(plan_with_hidden[caller], "/api/v1/summary/")["facts"]["progress_reports"]
        for caller in ("anonymous", "admin")
    }
    assert entered["anonymous"] != entered["admin"]


def test_the_real_plan_in_numbers(real_plan, api):
    body = get_ok(api, "/api/v1/summary/")
    assert [row["code"] for row in body["projects"]["by_pillar"]] == ["P1", "P2", "P3", "P4"]
    assert body["projects"]["count"] == sum(r["count"] for r in body["projects"]["by_pillar"])
    assert body["projects"]["count"] == get_ok(api, "/api/v1/projects/")["count"]
    stated = {r["code"]: r["count"] for r in body["facts"]["agency_roles"]}
    assert set(stated) == {"stated", "inferred"}


def test_labels_follow_the_negotiated_language(real_plan, api):
    english = get_ok(api, "/api/v1/summary/")
    spanish = api.get("/api/v1/summary/", HTTP_ACCEPT_LANGUAGE="es")
    assert spanish["Content-Language"] == "es"
    spanish = spanish.json()
    assert (
        english["projects"]["by_pillar"][0]["name"] != spanish["projects"]["by_pillar"][0]["name"]
    )
    mexico = next(r for r in spanish["projects"]["by_country"] if r["code"] == "MX")
    assert mexico["name"] == "México"
    both = get_ok(api, "/api/v1/summary/?lang=all")
    pillar = both["projects"]["by_pillar"][0]
    assert pillar["translations"]["es"]["name"] == spanish["projects"]["by_pillar"][0]["name"]
    assert pillar["name"] == english["projects"]["by_pillar"][0]["name"]
    assert "translations" not in english["projects"]["by_pillar"][0]


def test_etag_and_304(real_plan, api):
    first = api.get("/api/v1/summary/")
    etag = first["ETag"]
    again = api.get("/api/v1/summary/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    # Another language or another selection is another document.
    assert api.get("/api/v1/summary/?lang=es")["ETag"] != etag
    assert api.get("/api/v1/summary/?pillar=P1")["ETag"] != etag
    # A change in the plan changes the summary.
    ProjectFactory(goal=Goal.objects.get(code="P1-G1"))
    assert api.get("/api/v1/summary/", HTTP_IF_NONE_MATCH=etag).status_code == 200


@pytest.mark.parametrize(
    "query,field",
    [
        ("pillar=P9", "pillar"),
        ("colour=red", "colour"),
        ("ordering=code", "ordering"),
        ("status=77", "status"),
        ("lang=fr", "lang"),
    ],
)
def test_bad_parameters_are_refused_like_the_project_list(real_plan, api, query, field):
    assert_problem(api.get(f"/api/v1/summary/?{query}"), 400, field=field)


def test_indicators_met_follow_the_latest_target_and_the_callers_view(
    plan_with_hidden, no_throttling
):
    def indicators(caller: str) -> dict[str, int]:
        return get_ok(plan_with_hidden[caller], "/api/v1/summary/")["indicators"]

    # The real plan's three published figures have actuals but no targets.
    admin = indicators("admin")
    assert admin == {"count": 9, "with_target": 5, "met": 3, "not_met": 1, "awaiting_actual": 1}
    # The met indicator on the unpublished project counts only for those who see it.
    assert indicators("anonymous") == {**admin, "count": 8, "with_target": 4, "met": 2}
    assert indicators("reader_of_se") == admin
