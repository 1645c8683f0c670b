"""Results, indicators and periods (`/results/`, `/projects/{code}/results/`, `/indicators/`,
`/periods/`): what they show, what a write may say, issued codes, versions, filters, the
audit trail, and how they follow the project they are on. Rights are in
test_authorization_follow_through.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import assert_problem, client_for, make_user
from tests.factories import (
    AgencyFactory,
    GoalFactory,
    PillarFactory,
    ProjectAgencyRoleFactory,
    ProjectFactory,
)
from workplan.choices import Role
from workplan.models import AuditEvent, Indicator, IndicatorPeriod, Result
from workplan.policy import SYSTEM
from workplan.services import plan_object_archive, plan_object_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_throttling")]

RESULTS = "/api/v1/results/"
INDICATORS = "/api/v1/indicators/"
PERIODS = "/api/v1/periods/"


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    """A published project of MX-SE under P1-G1 and an unpublished one of US-DOC under P2-G1."""
    p1 = PillarFactory(number=1, code="P1")
    p2 = PillarFactory(number=2, code="P2")
    g1 = GoalFactory(pillar=p1, number=1, code="P1-G1")
    g2 = GoalFactory(pillar=p2, number=1, code="P2-G1")
    se = AgencyFactory(country="MX", acronym="SE", code="MX-SE")
    doc = AgencyFactory(country="US", acronym="DOC", code="US-DOC")
    published = ProjectFactory(code="HLED-2021-01", goal=g1, is_published=True)
    ProjectAgencyRoleFactory(project=published, agency=se)
    draft = ProjectFactory(code="HLED-2026-09", goal=g2, is_published=False)
    ProjectAgencyRoleFactory(project=draft, agency=doc)
    return {"se": se, "doc": doc, "published": published, "draft": draft}


@pytest.fixture
def admin(db: Any) -> APIClient:
    return client_for(make_user("plan-admin", Role.ADMIN))


@pytest.fixture
def editor(world: dict[str, Any]) -> APIClient:
    return client_for(make_user("se-editor", Role.EDITOR, world["se"]))


def result_body(**extra: Any) -> dict[str, Any]:
    return {
        "type": "1",
        "title_en": "Women entrepreneurs supported",
        "title_es": "Mujeres emprendedoras apoyadas",
        **extra,
    }


def indicator_body(result: str, **extra: Any) -> dict[str, Any]:
    return {
        "result": result,
        "measure": "1",
        "title_en": "Women supported",
        "title_es": "Mujeres apoyadas",
        **extra,
    }


def make_framework(project: Any, *, target: str = "100", actual: str | None = "120") -> Any:
    """A result with one indicator and one period, written as the plan (SYSTEM)."""
    result = plan_object_create(
        model=Result,
        data={"project": project, "title_en": "Output", "title_es": "Producto"},
        actor=SYSTEM,
    )
    indicator = plan_object_create(
        model=Indicator,
        data={"result": result, "title_en": "People", "title_es": "Personas"},
        actor=SYSTEM,
    )
    plan_object_create(
        model=IndicatorPeriod,
        data={
            "indicator": indicator,
            "period_start": "2025-01-01",
            "period_end": "2025-12-31",
            "target_value": Decimal(target),
            "actual_value": Decimal(actual) if actual is not None else None,
        },
        actor=SYSTEM,
    )
    return result


def test_a_result_is_read_with_its_indicators_and_their_periods(
    world: dict[str, Any], api: APIClient
) -> None:
    result = make_framework(world["published"])
    body = api.get(f"{RESULTS}{result.code}/?expand=labels").json()
    assert body["code"] == "RE-000001"
    assert body["project"]["code"] == "HLED-2021-01"
    assert (body["type"], body["type_label"]) == ("1", "Output")
    [indicator] = body["indicators"]
    assert indicator["code"] == "IN-000001"
    assert (indicator["measure"], indicator["ascending"]) == ("1", True)
    assert indicator["baseline"] is None
    [period] = indicator["periods"]
    assert period["code"] == "IP-000001"
    assert (period["start"], period["end"]) == ("2025-01-01", "2025-12-31")
    assert period["target"] == {"value": "100.00", "comment": ""}
    assert period["actual"] == {"value": "120.00", "comment": ""}
    assert period["source"] is None
    # The same objects at their own addresses.
    assert api.get(indicator["url"]).json()["periods"][0]["code"] == "IP-000001"
    assert api.get(period["url"]).json()["indicator"] == "IN-000001"


def test_results_of_an_unpublished_project_are_hidden_from_those_who_cannot_see_it(
    world: dict[str, Any], api: APIClient, editor: APIClient, admin: APIClient
) -> None:
    hidden = make_framework(world["draft"])
    shown = make_framework(world["published"])
    for resource, code in (
        (RESULTS, hidden.code),
        (INDICATORS, "IN-000001"),
        (PERIODS, "IP-000001"),
    ):
        assert api.get(f"{resource}{code}/").status_code == 404
        assert editor.get(f"{resource}{code}/").status_code == 404
        assert admin.get(f"{resource}{code}/").status_code == 200
    assert [r["code"] for r in api.get(RESULTS).json()["results"]] == [shown.code]
    assert [r["code"] for r in api.get(INDICATORS).json()["results"]] == ["IN-000002"]
    assert [r["code"] for r in api.get(PERIODS).json()["results"]] == ["IP-000002"]
    assert api.get("/api/v1/projects/HLED-2026-09/results/").status_code == 404
    doc_reader = client_for(make_user("doc-reader", Role.READER, world["doc"]))
    assert doc_reader.get(f"{RESULTS}{hidden.code}/").status_code == 200


def test_an_editor_writes_a_whole_framework_on_its_project(
    world: dict[str, Any], editor: APIClient
) -> None:
    response = editor.post("/api/v1/projects/hled-2021-01/results/", result_body(), format="json")
    assert response.status_code == 201, response.content
    code = response.json()["code"]
    assert response["Location"].endswith(f"/api/v1/results/{code}/")
    response = editor.post(
        INDICATORS,
        indicator_body(code, baseline={"year": 2021, "value": "0", "comment_en": "Start"}),
        format="json",
    )
    assert response.status_code == 201, response.content
    indicator = response.json()
    assert indicator["baseline"] == {"year": 2021, "value": "0.00", "comment": "Start"}
    response = editor.post(
        PERIODS,
        {
            "indicator": indicator["code"],
            "start": "2022-01-01",
            "end": "2022-09-12",
            "actual": {"value": "800", "comment_en": "Across 13 states"},
            "source": {"title": "Remarks", "date": "2022-09-12"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["source"]["title"] == "Remarks"
    assert response.json()["target"] is None
    result = editor.get(f"{RESULTS}{code}/").json()
    assert result["indicators"][0]["periods"][0]["actual"]["value"] == "800.00"
    types = list(AuditEvent.objects.filter(action="create").values_list("object_type", flat=True))
    assert types == ["result", "indicator", "period"]


def test_writes_need_if_match_and_refuse_a_stale_one(
    world: dict[str, Any], editor: APIClient
) -> None:
    make_framework(world["published"])
    for url, patch in (
        (f"{RESULTS}RE-000001/", {"title_en": "Changed"}),
        (f"{INDICATORS}IN-000001/", {"ascending": False}),
        (f"{PERIODS}IP-000001/", {"target": {"value": "90"}}),
    ):
        assert_problem(editor.patch(url, patch, format="json"), 428)
        etag = editor.get(url)["ETag"]
        response = editor.patch(url, patch, format="json", HTTP_IF_MATCH=etag)
        assert response.status_code == 200, response.content
        assert_problem(editor.patch(url, patch, format="json", HTTP_IF_MATCH=etag), 412)
        assert_problem(editor.delete(url), 428)
    period = IndicatorPeriod.objects.get(code="IP-000001")
    assert (period.target_value, period.version) == (Decimal("90"), 2)


def test_an_idempotency_key_creates_one_result(world: dict[str, Any], editor: APIClient) -> None:
    url = "/api/v1/projects/HLED-2021-01/results/"
    headers = {"HTTP_IDEMPOTENCY_KEY": "0b9d3a55-0c0b-4a7c-9d25-2f0c5e8f6a11"}
    first = editor.post(url, result_body(), format="json", **headers)
    again = editor.post(url, result_body(), format="json", **headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["code"] == again.json()["code"]
    assert Result.objects.count() == 1


def test_archiving_goes_from_the_periods_up(world: dict[str, Any], admin: APIClient) -> None:
    make_framework(world["published"])
    for url, blocked in (
        ("/api/v1/projects/HLED-2021-01/", True),
        (f"{RESULTS}RE-000001/", True),
        (f"{INDICATORS}IN-000001/", True),
        (f"{PERIODS}IP-000001/", False),
        (f"{INDICATORS}IN-000001/", False),
        (f"{RESULTS}RE-000001/", False),
    ):
        response = admin.delete(url, HTTP_IF_MATCH="*")
        if blocked:
            assert_problem(response, 409)
        else:
            assert response.status_code == 204, response.content
    assert admin.get(f"{RESULTS}RE-000001/").status_code == 404
    # Restored from the top down.
    assert_problem(admin.post(f"{PERIODS}IP-000001/restore/"), 409)
    assert admin.post(f"{RESULTS}RE-000001/restore/").status_code == 200


def test_bad_input_is_a_problem_naming_the_field(world: dict[str, Any], editor: APIClient) -> None:
    make_framework(world["published"])
    assert_problem(
        editor.post("/api/v1/projects/HLED-2021-01/results/", result_body(type="7"), format="json"),
        400,
        "type",
    )
    assert_problem(
        editor.post(INDICATORS, indicator_body("RE-999999"), format="json"), 400, "result"
    )
    assert_problem(
        editor.post(
            PERIODS,
            {"indicator": "IN-000001", "start": "2022-02-01", "end": "2022-01-01"},
            format="json",
        ),
        400,
        "end",
    )
    assert_problem(
        editor.post(
            INDICATORS, indicator_body("RE-000001", baseline={"value": "5"}), format="json"
        ),
        400,
        "baseline_year",
    )
    assert_problem(
        editor.post(INDICATORS, indicator_body("RE-000001", code="X-1"), format="json"), 400, "code"
    )
    # A project the caller cannot see is unknown, not forbidden.
    make_framework(world["draft"])
    assert_problem(
        editor.post(INDICATORS, indicator_body("RE-000002"), format="json"), 400, "result"
    )


def test_a_qualitative_indicator_has_no_values(world: dict[str, Any], admin: APIClient) -> None:
    make_framework(world["published"])
    response = admin.post(INDICATORS, indicator_body("RE-000001", measure="5"), format="json")
    assert response.status_code == 201
    code = response.json()["code"]
    assert_problem(
        admin.post(PERIODS, {"indicator": code, "actual": {"value": "3"}}, format="json"),
        400,
        "actual_value",
    )
    response = admin.post(
        PERIODS, {"indicator": code, "actual": {"comment_en": "Done"}}, format="json"
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("project=HLED-2021-01", ["RE-000001"]),
        ("goal=P1-G1", ["RE-000001"]),
        ("pillar=P2", ["RE-000002"]),
        ("agency=SE", ["RE-000001"]),
        ("agency=US-DOC", ["RE-000002"]),
        ("type=1", ["RE-000001", "RE-000002"]),
        ("updated_since=2999-01-01T00:00Z", []),
    ],
)
def test_result_filters(
    world: dict[str, Any], admin: APIClient, query: str, expected: list[str]
) -> None:
    make_framework(world["published"])
    make_framework(world["draft"])
    body = admin.get(f"{RESULTS}?{query}").json()
    assert [r["code"] for r in body["results"]] == expected


def test_indicator_and_period_filters(world: dict[str, Any], admin: APIClient) -> None:
    make_framework(world["published"])
    make_framework(world["draft"])
    assert [r["code"] for r in admin.get(f"{INDICATORS}?pillar=P2").json()["results"]] == [
        "IN-000002"
    ]
    assert [r["code"] for r in admin.get(f"{INDICATORS}?result=RE-000001").json()["results"]] == [
        "IN-000001"
    ]
    assert [r["code"] for r in admin.get(f"{PERIODS}?agency=SE").json()["results"]] == ["IP-000001"]
    assert [r["code"] for r in admin.get(f"{PERIODS}?indicator=IN-000002").json()["results"]] == [
        "IP-000002"
    ]
    assert_problem(admin.get(f"{PERIODS}?project=HLED-1999-01"), 400, "project")
    assert_problem(admin.get(f"{RESULTS}?colour=red"), 400, "colour")


@pytest.mark.parametrize(
    ("ascending", "target", "actual", "met"),
    [
        (True, "100", "120", True),
        (True, "100", "100", True),
        (True, "100", "80", False),
        (False, "10", "8", True),
        (False, "10", "12", False),
        (True, "100", None, None),
    ],
)
def test_met_compares_the_latest_periods_actual_with_its_target(
    world: dict[str, Any], ascending: bool, target: str, actual: str | None, met: bool | None
) -> None:
    result = make_framework(world["published"], target="1", actual="0")  # an older period
    indicator = result.indicators.get()
    indicator.ascending = ascending
    indicator.save()
    plan_object_create(
        model=IndicatorPeriod,
        data={
            "indicator": indicator,
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "target_value": Decimal(target),
            "actual_value": Decimal(actual) if actual is not None else None,
        },
        actor=SYSTEM,
    )
    assert Indicator.objects.with_met().get(pk=indicator.pk).met is met


def test_an_indicator_without_a_target_is_neither_met_nor_missed(world: dict[str, Any]) -> None:
    result = make_framework(world["published"])
    period = IndicatorPeriod.objects.get()
    plan_object_archive(obj=period, actor=SYSTEM)
    assert Indicator.objects.with_met().get(result=result).met is None


def test_results_follow_their_projects_publication_in_the_audit_trail(
    world: dict[str, Any], admin: APIClient
) -> None:
    make_framework(world["draft"])
    url = "/api/v1/projects/HLED-2026-09/"
    etag = admin.get(url)["ETag"]
    assert (
        admin.patch(url, {"is_published": True}, format="json", HTTP_IF_MATCH=etag).status_code
        == 200
    )
    for object_type in ("result", "indicator", "period"):
        event = AuditEvent.objects.filter(object_type=object_type).latest("pk")
        assert event.action == "update"
        assert event.public_after and not event.public_before
        assert event.state["project_is_published"] is True
