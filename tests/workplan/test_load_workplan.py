"""`load_workplan` and the real 2021 plan it loads.

What the plan must say is checked against tests/data/plan_facts.json (pillars, goals,
items, agencies and dates, each with its source), so that the fixture and the facts
cannot drift apart unnoticed.
"""

import copy
import functools
import io
import json
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import models

from tests.conftest import ROOT
from workplan.choices import AssignmentSource
from workplan.models import (
    Agency,
    AuditEvent,
    Goal,
    Pillar,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
)

pytestmark = pytest.mark.django_db

FACTS = ROOT / "tests" / "data" / "plan_facts.json"
FIXTURE = ROOT / "fixtures" / "workplan-2021.json"
TIMESTAMPED: tuple[type[models.Model], ...] = (Pillar, Goal, Agency, Project, ProjectAgencyRole)
BILINGUAL: tuple[type[models.Model], ...] = (Pillar, Goal, Agency, Project, ProjectLink)
SUMMARY_LINE = re.compile(
    r"(?P<kind>[a-z ]+): (?P<created>\d+) created, (?P<updated>\d+) updated, "
    r"(?P<unchanged>\d+) unchanged"
)


# --- helpers ---------------------------------------------------------------------------------


@functools.cache
def facts() -> dict[str, Any]:
    """What the published plan establishes (tests/data/plan_facts.json)."""
    return json.loads(FACTS.read_text(encoding="utf-8"))


def facts_pillar(number: int) -> dict[str, Any]:
    return next(p for p in facts()["pillars"] if p["number"] == number)


def load(path: Path | str | None = None) -> str:
    """Run the command and return what it printed."""
    out = io.StringIO()
    args = [str(path)] if path is not None else []
    call_command("load_workplan", *args, stdout=out)
    return out.getvalue()


def summary(output: str) -> dict[str, dict[str, int]]:
    """{kind: {"created": n, "updated": n, "unchanged": n}} parsed from the command's output."""
    parsed = {
        m["kind"].strip(): {k: int(m[k]) for k in ("created", "updated", "unchanged")}
        for m in SUMMARY_LINE.finditer(output)
    }
    assert parsed, output
    return parsed


def timestamps() -> dict[tuple[str, int], tuple[datetime, datetime]]:
    """(created_at, updated_at) of every time-stamped row, keyed by (model, pk)."""
    return {
        (model.__name__, pk): (created, updated)
        for model in TIMESTAMPED
        for pk, created, updated in model._default_manager.values_list(
            "pk", "created_at", "updated_at"
        )
    }


def child_rows() -> dict[str, set[tuple[Any, ...]]]:
    """Every child row with its pk, so that delete-and-recreate shows up as a change."""
    return {
        "countries": set(ProjectCountry.objects.values_list("pk", "project_id", "country")),
        "roles": set(
            ProjectAgencyRole.objects.values_list(
                "pk", "project_id", "agency_id", "role", "is_lead", "source", "country"
            )
        ),
        "links": set(ProjectLink.objects.values_list("pk", "project_id", "url", "label_en")),
    }


def fixture_document() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def write_document(tmp_path: Path, data: dict[str, Any], name: str = "plan.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def project_spec(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(p for p in data["projects"] if p["code"] == code)


# --- the facts file itself -------------------------------------------------------------------


def test_facts_are_complete_and_sourced() -> None:
    """Guards the facts: if the file loses a fact, the tests below must not go blind."""
    data = facts()
    assert [p["number"] for p in data["pillars"]] == [1, 2, 3, 4]
    assert len(data["items"]) == data["plan"]["items"] == 11
    assert {i["pillar"] for i in data["items"]} == {1, 2, 3, 4}
    assert {a["country"] for a in data["agencies"]} == {"MX", "US"}
    assert {"SRE", "SE", "SHCP", "DOS", "DOC", "USTR", "DHS", "USAID"} <= {
        a["acronym"] for a in data["agencies"]
    }
    facts_with_sources = [data["plan"], data["not_published"], *data["pillars"]]
    for fact in facts_with_sources + data["items"] + data["agencies"]:
        assert fact["sources"], fact
        assert set(fact["sources"]) <= set(data["sources"]), fact
    for key, source in data["sources"].items():
        date.fromisoformat(source["date"])
        assert source.get("what") or source.get("title"), key


# --- the real plan ---------------------------------------------------------------------------


def test_four_pillars_numbered_one_to_four(real_plan: None) -> None:
    assert list(Pillar.objects.order_by("number").values_list("number", flat=True)) == [1, 2, 3, 4]


def test_pillar_names_match_the_facts(real_plan: None) -> None:
    expected = {p["number"]: (p["name_en"], p["name_es"]) for p in facts()["pillars"]}
    actual = {p.number: (p.name_en, p.name_es) for p in Pillar.objects.all()}
    assert actual == expected


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_goals_cover_the_themes_of_their_pillar(real_plan: None, number: int) -> None:
    titles = " / ".join(
        Goal.objects.filter(pillar__number=number).values_list("title_en", flat=True)
    ).lower()
    assert titles
    for theme in facts_pillar(number)["themes"]:
        assert theme.lower() in titles, (number, theme, titles)


def test_eleven_projects_spread_over_pillars_as_announced(real_plan: None) -> None:
    assert Project.objects.count() == facts()["plan"]["items"]
    per_pillar = {
        row["goal__pillar__number"]: row["n"]
        for row in Project.objects.values("goal__pillar__number").annotate(n=models.Count("pk"))
    }
    assert per_pillar == Counter(item["pillar"] for item in facts()["items"])


def test_each_announced_item_is_one_project_of_its_pillar(real_plan: None) -> None:
    matched = []
    for item in facts()["items"]:
        codes = [
            p.code
            for p in Project.objects.filter(goal__pillar__number=item["pillar"])
            if item["subject"].lower() in p.title_en.lower()
        ]
        assert len(codes) == 1, (item, codes)
        matched += codes
    assert sorted(matched) == sorted(Project.objects.values_list("code", flat=True))


def test_projects_announced_on_the_day_the_plan_was_presented(real_plan: None) -> None:
    presented_on = date.fromisoformat(facts()["plan"]["presented_on"])
    assert fixture_document()["plan"]["presented_on"] == presented_on.isoformat()
    assert set(Project.objects.values_list("announced_on", flat=True)) == {presented_on}


def test_agencies_are_the_ones_the_dialogue_names(real_plan: None) -> None:
    expected = facts()["agencies"]
    assert set(Agency.objects.values_list("country", "name_en")) == {
        (a["country"], a["name_en"]) for a in expected
    }
    for fact in expected:
        agency = Agency.objects.get(country=fact["country"], name_en=fact["name_en"])
        if fact["acronym"]:
            assert agency.acronym == fact["acronym"], fact
        if fact["name_es"]:
            assert agency.name_es == fact["name_es"], fact


@pytest.mark.parametrize("country", ["MX", "US"])
def test_every_project_has_an_inferred_agency_of_each_country(
    real_plan: None, country: str
) -> None:
    projects = Project.objects.all()
    assert projects
    for project in projects:
        assert project.agency_roles.filter(
            agency__country=country, source=AssignmentSource.INFERRED
        ).exists(), project.code


def test_no_agency_role_claims_to_be_stated_or_lead(real_plan: None) -> None:
    """Facts: per-item agencies and leads were not published, so none may look stated."""
    not_published = set(facts()["not_published"]["what"])
    assert {"agencies per item", "lead agencies per item"} <= not_published
    roles = ProjectAgencyRole.objects.all()
    assert roles
    assert {r.source for r in roles} == {AssignmentSource.INFERRED}
    assert not roles.filter(is_lead=True).exists()


def test_role_country_is_the_agency_country(real_plan: None) -> None:
    for role in ProjectAgencyRole.objects.select_related("agency"):
        assert role.country == role.agency.country, role.pk


def test_pillar_two_projects_take_place_where_the_pillar_says(real_plan: None) -> None:
    places = set(facts_pillar(2)["places"])  # southern Mexico and northern Central America
    projects = Project.objects.filter(goal__pillar__number=2)
    assert projects
    for project in projects:
        countries = set(project.countries.values_list("country", flat=True))
        assert places <= countries, project.code


@pytest.mark.parametrize("model", BILINGUAL, ids=lambda m: m.__name__)
def test_every_text_field_filled_in_both_languages(
    real_plan: None, model: type[models.Model]
) -> None:
    names = [
        f.name
        for f in model._meta.get_fields()
        if isinstance(f, models.CharField | models.TextField) and f.name.endswith(("_en", "_es"))
    ]
    # Pairs only: a field in one language must have its twin.
    assert names
    assert {n[:-3] for n in names if n.endswith("_en")} == {
        n[:-3] for n in names if n.endswith("_es")
    }
    for obj in model._default_manager.all():
        for name in names:
            assert getattr(obj, name).strip(), (model.__name__, obj.pk, name)


def test_real_plan_has_no_budgets_or_dates(real_plan: None) -> None:
    """Facts: budgets and per-item dates were not published; the fixture must not invent them."""
    assert {"budgets", "start and end dates per item"} <= set(facts()["not_published"]["what"])
    projects = Project.objects.all()
    assert projects
    for project in projects:
        assert project.budget_amount is None, project.code
        assert project.budget_currency == "", project.code
        for name in ("planned_start", "planned_end", "actual_start", "actual_end"):
            assert getattr(project, name) is None, (project.code, name)


def test_codes_pass_validation(real_plan: None) -> None:
    """Every object validates, and its code follows the pattern of its kind."""
    invalid = {}
    checked = 0
    for model in (Pillar, Goal, Agency, Project):
        for obj in model._default_manager.all():
            checked += 1
            try:
                obj.full_clean()
            except ValidationError as exc:
                invalid[obj.code] = exc.message_dict
    assert invalid == {}
    assert checked == 4 + 11 + 11 + 11
    for pillar in Pillar.objects.all():
        assert pillar.code == f"P{pillar.number}"
    for goal in Goal.objects.select_related("pillar"):
        assert goal.code == f"{goal.pillar.code}-G{goal.number}"
    for agency in Agency.objects.all():
        assert re.fullmatch(rf"{agency.country}-[A-Z0-9]+", agency.code), agency.code
    for code in Project.objects.values_list("code", flat=True):
        assert re.fullmatch(r"HLED-2021-\d\d", code), code


# --- command output and idempotency ----------------------------------------------------------


def test_first_load_reports_what_it_created(db: None) -> None:
    output = load()
    assert str(FIXTURE) in output
    counts = summary(output)
    for kind, model in {
        "pillars": Pillar,
        "goals": Goal,
        "agencies": Agency,
        "projects": Project,
    }.items():
        assert counts[kind] == {
            "created": model._default_manager.count(),
            "updated": 0,
            "unchanged": 0,
        }, kind


def test_second_load_changes_nothing(real_plan: None) -> None:
    before_stamps = timestamps()
    before_children = child_rows()
    assert before_stamps

    output = load()

    assert timestamps() == before_stamps
    assert child_rows() == before_children
    counts = summary(output)
    assert set(counts) == {
        "pillars",
        "goals",
        "agencies",
        "projects",
        "meetings",
        "progress reports",
        "results",
        "indicators",
        "indicator periods",
    }
    for kind, numbers in counts.items():
        assert numbers["created"] == 0, (kind, output)
        assert numbers["updated"] == 0, (kind, output)
        assert numbers["unchanged"] > 0, (kind, output)
    assert counts["projects"]["unchanged"] == Project.objects.count()


# --- update in place -------------------------------------------------------------------------

CHANGED = "HLED-2021-05"  # the pillar 2 partnership: four countries, three agencies


def test_modified_document_updates_in_place(real_plan: None, tmp_path: Path) -> None:
    data = fixture_document()
    spec = project_spec(data, CHANGED)
    original = Project.objects.get(code=CHANGED)
    original_roles = {r.agency.code: r.pk for r in original.agency_roles.select_related("agency")}
    before = timestamps()

    spec["title_es"] = spec["title_es"] + " (revisado)"
    removed = spec["countries"].pop()
    added = {"agency": "MX-SHCP", "role": "1", "is_lead": True, "source": "stated"}
    assert added["agency"] not in original_roles
    spec["agencies"].append(added)

    output = load(write_document(tmp_path, data))

    project = Project.objects.get(code=CHANGED)
    assert project.pk == original.pk
    assert project.title_es == spec["title_es"]
    assert project.title_en == original.title_en
    assert set(project.countries.values_list("country", flat=True)) == set(spec["countries"])
    assert removed not in set(project.countries.values_list("country", flat=True))
    assert {
        (r.agency.code, r.role, r.is_lead, r.source, r.country)
        for r in project.agency_roles.select_related("agency")
    } == {
        (
            a["agency"],
            a["role"],
            a["is_lead"],
            a["source"],
            Agency.objects.get(code=a["agency"]).country,
        )
        for a in spec["agencies"]
    }
    # Roles already there are kept, not deleted and recreated.
    for code, pk in original_roles.items():
        assert project.agency_roles.get(agency__code=code).pk == pk

    after = timestamps()
    moved = {key for key in before if after[key][1] != before[key][1]}
    assert ("Project", project.pk) in moved
    assert {key for key in moved if key[0] == "Project"} == {("Project", project.pk)}
    assert {key for key in moved if key[0] in ("Pillar", "Goal", "Agency")} == set()
    # Only the new role row is new.
    assert set(after) - set(before) == {
        ("ProjectAgencyRole", project.agency_roles.get(agency__code="MX-SHCP").pk)
    }
    assert all(after[key][0] == before[key][0] for key in before)

    counts = summary(output)
    assert counts["projects"] == {"created": 0, "updated": 1, "unchanged": 10}


def test_change_to_children_only_still_updates_the_project(real_plan: None, tmp_path: Path) -> None:
    """Partners sync with updated_since: a project whose countries changed must look changed."""
    data = fixture_document()
    project_spec(data, CHANGED)["countries"].remove("HN")
    before = Project.objects.get(code=CHANGED).updated_at
    untouched = Project.objects.exclude(code=CHANGED).values_list("pk", "updated_at")
    untouched_before = set(untouched)

    output = load(write_document(tmp_path, data))

    assert Project.objects.get(code=CHANGED).updated_at > before
    assert set(untouched) == untouched_before
    assert summary(output)["projects"] == {"created": 0, "updated": 1, "unchanged": 10}


def test_lead_moves_between_agencies_of_one_country(db: None, tmp_path: Path) -> None:
    """Moving the lead must not trip the one-lead-per-country constraint half way through."""
    data = fixture_document()
    spec = project_spec(data, "HLED-2021-03")  # MX-SRE, MX-SHCP, US-DHS
    by_agency = {a["agency"]: a for a in spec["agencies"]}
    by_agency["MX-SRE"]["is_lead"] = True
    load(write_document(tmp_path, data, "first.json"))
    assert (
        ProjectAgencyRole.objects.get(
            project__code="HLED-2021-03", is_lead=True, country="MX"
        ).agency.code
        == "MX-SRE"
    )

    second = copy.deepcopy(data)
    by_agency = {a["agency"]: a for a in project_spec(second, "HLED-2021-03")["agencies"]}
    by_agency["MX-SRE"]["is_lead"] = False
    by_agency["MX-SHCP"]["is_lead"] = True
    load(write_document(tmp_path, second, "second.json"))

    leads = ProjectAgencyRole.objects.filter(project__code="HLED-2021-03", is_lead=True)
    assert [r.agency.code for r in leads] == ["MX-SHCP"]


def test_agency_country_corrected_in_document_reaches_its_roles(
    real_plan: None, tmp_path: Path
) -> None:
    """ProjectAgencyRole.country is a copy of the agency's country, kept for a constraint.

    When the importer corrects an agency's country in place, the copies must follow, or the
    one-lead-per-country rule is enforced against the wrong country.
    """
    data = fixture_document()
    embassy = next(a for a in data["agencies"] if a["code"] == "MX-EMBAMEX")
    embassy["country"] = "US"  # an embassy in Washington, filed under the host country
    spec = project_spec(data, "HLED-2021-01")
    spec["agencies"].append({"agency": "MX-EMBAMEX", "role": "4", "source": "inferred"})
    load(write_document(tmp_path, data, "first.json"))
    assert ProjectAgencyRole.objects.get(agency__code="MX-EMBAMEX").country == "US"

    embassy["country"] = "MX"  # corrected
    load(write_document(tmp_path, data, "second.json"))

    assert Agency.objects.get(code="MX-EMBAMEX").country == "MX"
    assert ProjectAgencyRole.objects.get(agency__code="MX-EMBAMEX").country == "MX"


def test_new_objects_in_document_are_created_and_others_left_alone(
    real_plan: None, tmp_path: Path
) -> None:
    data = {
        "goals": [{"code": "P4-G9", "pillar": "P4", "number": 9, "title_en": "T", "title_es": "T"}],
        "projects": [
            {
                "code": "HLED-2099-01",
                "goal": "P4-G9",
                "title_en": "New",
                "title_es": "Nuevo",
                "countries": ["MX"],
                "agencies": [{"agency": "MX-SE", "role": "2", "source": "stated"}],
            }
        ],
    }
    before = timestamps()

    output = load(write_document(tmp_path, data))

    project = Project.objects.get(code="HLED-2099-01")
    assert project.goal.pillar.number == 4
    assert Project.objects.count() == 12
    assert list(project.agency_roles.values_list("agency__code", "source")) == [("MX-SE", "stated")]
    after = timestamps()
    assert all(after[key] == value for key, value in before.items())
    counts = summary(output)
    assert counts["projects"] == {"created": 1, "updated": 0, "unchanged": 0}
    assert counts["goals"] == {"created": 1, "updated": 0, "unchanged": 0}


# --- bad input -------------------------------------------------------------------------------


def test_missing_file_gives_command_error(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Cannot read"):
        load(tmp_path / "nowhere.json")
    assert not Pillar.objects.exists()


def test_directory_gives_command_error(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Cannot read"):
        load(tmp_path)
    assert not Pillar.objects.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"pillars": [', b"\xff\xfe\x00garbage"],
    ids=["empty", "malformed", "truncated", "not-utf8"],
)
def test_unreadable_json_gives_command_error(db: None, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(CommandError):
        load(path)
    assert not Pillar.objects.exists()


def test_document_that_is_not_an_object_gives_command_error(db: None, tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(CommandError, match="must hold a JSON object"):
        load(path)
    assert not Pillar.objects.exists()


def test_invalid_document_gives_command_error_and_writes_nothing(db: None, tmp_path: Path) -> None:
    """A document that fails validation is reported as a command error, not a traceback.

    The last project is the invalid one: nothing before it may have been written.
    """
    data = fixture_document()
    data["projects"][-1]["code"] = "hled 2021 11"  # not a valid code
    with pytest.raises(CommandError, match=r"not a valid plan \(nothing was loaded\)") as excinfo:
        load(write_document(tmp_path, data))
    assert "code" in str(excinfo.value)
    for model in (Pillar, Goal, Agency, Project, ProjectAgencyRole, ProjectCountry, AuditEvent):
        assert not model._default_manager.exists(), model.__name__


def test_invalid_document_is_refused_as_a_whole(real_plan: None, tmp_path: Path) -> None:
    """Over a loaded plan, valid changes before the invalid project are not applied either."""
    data = fixture_document()
    data["pillars"][0]["name_en"] = "Renamed pillar"
    data["projects"][0]["title_en"] = "Renamed project"
    data["projects"][0]["countries"].append("CA")
    data["projects"][-1]["code"] = "hled 2021 11"
    before = (timestamps(), child_rows(), AuditEvent.objects.count())

    with pytest.raises(CommandError):
        load(write_document(tmp_path, data))

    assert (timestamps(), child_rows(), AuditEvent.objects.count()) == before
    assert Pillar.objects.get(number=1).name_en == facts_pillar(1)["name_en"]
    assert Project.objects.get(code=data["projects"][0]["code"]).title_en != "Renamed project"
