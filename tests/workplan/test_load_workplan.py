"""`load_workplan` and the real 2021 plan it loads.

What the plan must say is checked against /work/shared/workplan-facts.md, read at test time,
so that the fixture and the facts cannot drift apart unnoticed.
"""

import copy
import io
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import models

from tests.conftest import ROOT, SHARED
from workplan.choices import AssignmentSource
from workplan.models import (
    Agency,
    Goal,
    Pillar,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
)

pytestmark = pytest.mark.django_db

FACTS = SHARED / "workplan-facts.md"
FIXTURE = ROOT / "fixtures" / "workplan-2021.json"
TIMESTAMPED: tuple[type[models.Model], ...] = (Pillar, Goal, Agency, Project, ProjectAgencyRole)
BILINGUAL: tuple[type[models.Model], ...] = (Pillar, Goal, Agency, Project, ProjectLink)
SUMMARY_LINE = re.compile(
    r"(?P<kind>[a-z ]+): (?P<created>\d+) created, (?P<updated>\d+) updated, "
    r"(?P<unchanged>\d+) unchanged"
)


# --- helpers ---------------------------------------------------------------------------------


def facts_section(heading: str) -> str:
    """The body of the `## heading...` section of the facts file."""
    text = FACTS.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}.*?$\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section {heading!r} in {FACTS}"
    return match.group(1)


def facts_pillars() -> dict[int, tuple[str, str]]:
    """{number: (English name, Spanish name)} from the facts file's pillar list."""
    body = facts_section("The four pillars")
    items = re.split(r"^(?=\d+\. )", body, flags=re.M)
    pillars = {}
    for item in items:
        flat = " ".join(item.split())
        match = re.match(r"(\d+)\. (.+?) — ([^.]+)\.", flat)
        if match:
            pillars[int(match.group(1))] = (match.group(2), match.group(3))
    return pillars


def facts_items_per_pillar() -> dict[int, int]:
    """{pillar number: number of work-plan items announced under it}."""
    counts: dict[int, int] = {}
    current = None
    for line in facts_section("The work-plan items").splitlines():
        heading = re.match(r"Pillar (\d+)\s*$", line)
        if heading:
            current = int(heading.group(1))
            counts[current] = 0
        elif line.startswith("- ") and current is not None:
            counts[current] += 1
    return counts


def facts_agency_acronyms() -> dict[str, str]:
    """{acronym: ISO country} for the agencies the facts name with an acronym."""
    countries = {"Mexico": "MX", "United States": "US"}
    acronyms = {}
    country = None
    for line in facts_section("Agencies named").splitlines():
        if line.strip() in countries:
            country = countries[line.strip()]
        match = re.match(r"- ([A-Z]{2,}) — ", line)
        if match and country:
            acronyms[match.group(1)] = country
    return acronyms


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


def test_facts_file_parses() -> None:
    """Guards the parsers: if the facts file changes shape, the tests below must not go blind."""
    assert sorted(facts_pillars()) == [1, 2, 3, 4]
    assert sum(facts_items_per_pillar().values()) == 11
    assert {"SRE", "SE", "SHCP", "DOS", "DOC", "USTR", "DHS", "USAID"} <= set(
        facts_agency_acronyms()
    )


# --- the real plan ---------------------------------------------------------------------------


def test_four_pillars_numbered_one_to_four(real_plan: None) -> None:
    assert list(Pillar.objects.order_by("number").values_list("number", flat=True)) == [1, 2, 3, 4]


def test_pillar_names_match_the_facts(real_plan: None) -> None:
    expected = facts_pillars()
    actual = {p.number: (p.name_en, p.name_es) for p in Pillar.objects.all()}
    assert actual == expected


def test_eleven_projects_spread_over_pillars_as_announced(real_plan: None) -> None:
    assert Project.objects.count() == 11
    per_pillar = {
        row["goal__pillar__number"]: row["n"]
        for row in Project.objects.values("goal__pillar__number").annotate(n=models.Count("pk"))
    }
    assert per_pillar == facts_items_per_pillar()


def test_agencies_of_both_countries(real_plan: None) -> None:
    assert set(Agency.objects.values_list("country", flat=True)) == {"MX", "US"}
    for acronym, country in facts_agency_acronyms().items():
        agency = Agency.objects.get(acronym=acronym)
        assert agency.country == country, acronym


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
    roles = ProjectAgencyRole.objects.all()
    assert roles
    assert {r.source for r in roles} == {AssignmentSource.INFERRED}
    assert not roles.filter(is_lead=True).exists()


def test_role_country_is_the_agency_country(real_plan: None) -> None:
    for role in ProjectAgencyRole.objects.select_related("agency"):
        assert role.country == role.agency.country, role.pk


def test_pillar_two_projects_take_place_in_northern_central_america(real_plan: None) -> None:
    # Facts, "Places that pillar 2 names": southern Mexico, El Salvador, Guatemala, Honduras.
    projects = Project.objects.filter(goal__pillar__number=2)
    assert projects
    for project in projects:
        countries = set(project.countries.values_list("country", flat=True))
        assert {"MX", "SV", "GT", "HN"} <= countries, project.code


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
    for project in Project.objects.all():
        assert project.budget_amount is None, project.code
        assert project.budget_currency == "", project.code
        for name in ("planned_start", "planned_end", "actual_start", "actual_end"):
            assert getattr(project, name) is None, (project.code, name)


def test_codes_pass_validation(real_plan: None) -> None:
    for model in (Pillar, Goal, Agency, Project):
        for obj in model._default_manager.all():
            obj.full_clean()


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
    assert set(counts) == {"pillars", "goals", "agencies", "projects"}
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
    with pytest.raises(CommandError):
        load(tmp_path)


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
    with pytest.raises(CommandError):
        load(path)


def test_invalid_document_gives_command_error_and_writes_nothing(db: None, tmp_path: Path) -> None:
    """A document that fails validation is reported as a command error, not a traceback."""
    data = fixture_document()
    data["projects"][-1]["code"] = "hled 2021 11"  # not a valid code
    with pytest.raises(CommandError):
        load(write_document(tmp_path, data))


def test_invalid_document_is_refused_as_a_whole(db: None, tmp_path: Path) -> None:
    """The last project is invalid: nothing before it may have been written."""
    data = fixture_document()
    data["projects"][-1]["code"] = "hled 2021 11"
    with pytest.raises((CommandError, ValidationError)):
        load(write_document(tmp_path, data))
    for model in (Pillar, Goal, Agency, Project, ProjectAgencyRole, ProjectCountry):
        assert not model._default_manager.exists(), model.__name__
