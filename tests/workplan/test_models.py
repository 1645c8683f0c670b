"""Database constraints of the work-plan models, and the few rules the models enforce in Python.

Each refusal is shown by the database raising IntegrityError, and the error is checked to
name the constraint (PostgreSQL) or its columns (SQLite), so that a test cannot pass because
some other constraint happened to fire. Each refusal has a neighbouring case that is accepted,
so the fixtures are known to be valid apart from the one thing under test.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.factories import (
    AgencyFactory,
    GoalFactory,
    PillarFactory,
    ProjectAgencyRoleFactory,
    ProjectCountryFactory,
    ProjectFactory,
)
from workplan.choices import OrganisationRole
from workplan.models import Agency, Goal, Pillar, Project, ProjectAgencyRole, ProjectCountry

pytestmark = pytest.mark.django_db

DAY = date(2022, 3, 1)
NEXT_DAY = date(2022, 3, 2)


@contextmanager
def refused(*markers: str) -> Iterator[None]:
    """Expect an IntegrityError whose message names one of `markers`.

    PostgreSQL names the constraint (or, for a UNIQUE column, the key in DETAIL); SQLite names
    a CHECK constraint but only the columns of a UNIQUE one, so callers pass both spellings.
    The savepoint keeps the test transaction usable after the error.
    """
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    message = str(excinfo.value)
    assert any(marker in message for marker in markers), message


def validation_errors(obj: Any) -> dict[str, list[str]]:
    """What `full_clean()` reports, by field; empty when the object is valid."""
    try:
        obj.full_clean()
    except ValidationError as exc:
        return exc.message_dict
    return {}


def unique_columns(table: str, *columns: str) -> tuple[str, str]:
    """The two spellings of a UNIQUE violation on `columns`: PostgreSQL's and SQLite's."""
    return (
        f"Key ({', '.join(columns)})=",
        "UNIQUE constraint failed: " + ", ".join(f"{table}.{c}" for c in columns),
    )


# --- codes -----------------------------------------------------------------------------------

CODED_FACTORIES: dict[str, Callable[..., Any]] = {
    "pillar": PillarFactory.create,
    "goal": GoalFactory.create,
    "agency": AgencyFactory.create,
    "project": ProjectFactory.create,
}


@pytest.mark.parametrize("kind", sorted(CODED_FACTORIES))
def test_code_is_unique_per_model(kind: str) -> None:
    factory = CODED_FACTORIES[kind]
    first = factory()
    factory()  # a second object with its own code is fine
    with refused(*unique_columns(f"workplan_{kind}", "code")):
        factory(code=first.code)


def test_same_code_in_two_models_is_allowed() -> None:
    pillar = PillarFactory.create(code="X1")
    project = ProjectFactory.create(code="X1")
    assert Pillar.objects.get(code="X1").pk == pillar.pk
    assert Project.objects.get(code="X1").pk == project.pk


@pytest.mark.parametrize(
    "code",
    ["p1", "P1-g2", "P 1", "P1 ", " P1", "-P1", "P1-", "P1--G2", "P1_G2", "P1.G2", "", "PÑ1"],
)
def test_code_validator_rejects_malformed_codes(code: str) -> None:
    pillar = PillarFactory.build(code=code, number=1)
    # Only the code is wrong: no other field is reported.
    assert set(validation_errors(pillar)) == {"code"}


@pytest.mark.parametrize("code", ["P1", "P1-G2", "HLED-2021-01", "MX-SE", "7"])
def test_code_validator_accepts_well_formed_codes(code: str) -> None:
    assert validation_errors(PillarFactory.build(code=code, number=1)) == {}


def test_code_validator_message_code() -> None:
    with pytest.raises(ValidationError) as excinfo:
        PillarFactory.build(code="bad code", number=1).full_clean()
    assert [e.code for e in excinfo.value.error_dict["code"]] == ["invalid_code"]


# --- pillars and goals -----------------------------------------------------------------------


def test_pillar_number_is_unique() -> None:
    pillar = PillarFactory.create()
    with refused(*unique_columns("workplan_pillar", "number")):
        PillarFactory.create(number=pillar.number, code="OTHER")


def test_pillar_number_zero_refused() -> None:
    PillarFactory.create(number=1)
    with refused("pillar_number_positive"):
        PillarFactory.create(number=0)


def test_goal_number_unique_within_pillar() -> None:
    goal = GoalFactory.create(number=1)
    with refused(
        "goal_number_unique_in_pillar", *unique_columns("workplan_goal", "pillar_id", "number")
    ):
        GoalFactory.create(pillar=goal.pillar, number=1, code="OTHER")


def test_goal_number_may_repeat_across_pillars() -> None:
    first = GoalFactory.create(number=1)
    second = GoalFactory.create(number=1)
    assert first.pillar_id != second.pillar_id
    assert Goal.objects.filter(number=1).count() == 2


def test_goal_number_zero_refused() -> None:
    pillar = PillarFactory.create()
    GoalFactory.create(pillar=pillar, number=1)
    with refused("goal_number_positive"):
        GoalFactory.create(pillar=pillar, number=0)


# --- project dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "constraint"),
    [("planned", "project_planned_end_after_start"), ("actual", "project_actual_end_after_start")],
)
def test_end_before_start_refused(prefix: str, constraint: str) -> None:
    with refused(constraint):
        ProjectFactory.create(**{f"{prefix}_start": NEXT_DAY, f"{prefix}_end": DAY})


@pytest.mark.parametrize("prefix", ["planned", "actual"])
@pytest.mark.parametrize(
    ("start", "end"),
    [(DAY, DAY), (DAY, NEXT_DAY), (DAY, None), (None, DAY), (None, None)],
    ids=["equal", "ordered", "start-only", "end-only", "neither"],
)
def test_dates_in_order_or_open_allowed(prefix: str, start: date | None, end: date | None) -> None:
    project = ProjectFactory.create(**{f"{prefix}_start": start, f"{prefix}_end": end})
    project.refresh_from_db()
    assert getattr(project, f"{prefix}_start") == start
    assert getattr(project, f"{prefix}_end") == end


@pytest.mark.parametrize(
    ("prefix", "constraint"),
    [("planned", "project_planned_end_after_start"), ("actual", "project_actual_end_after_start")],
)
def test_end_moved_before_start_by_update_refused(prefix: str, constraint: str) -> None:
    """The constraint holds for queryset updates too, which skip model validation."""
    project = ProjectFactory.create(**{f"{prefix}_start": DAY, f"{prefix}_end": NEXT_DAY})
    with refused(constraint):
        Project.objects.filter(pk=project.pk).update(**{f"{prefix}_end": date(2022, 2, 28)})


def test_planned_and_actual_dates_are_independent() -> None:
    """An activity may start later than planned and end before its planned start."""
    dates = {
        "planned_start": date(2022, 6, 1),
        "planned_end": date(2022, 12, 31),
        "actual_start": date(2022, 1, 1),
        "actual_end": date(2022, 5, 1),
    }
    project = ProjectFactory.create(**dates)
    assert validation_errors(project) == {}
    assert Project.objects.values(*dates).get(pk=project.pk) == dates


# --- project budget --------------------------------------------------------------------------


def test_budget_amount_without_currency_refused() -> None:
    with refused("project_budget_amount_and_currency_together"):
        ProjectFactory.create(budget_amount=Decimal("1000.00"), budget_currency="")


def test_budget_currency_without_amount_refused() -> None:
    with refused("project_budget_amount_and_currency_together"):
        ProjectFactory.create(budget_amount=None, budget_currency="USD")


def test_negative_budget_refused() -> None:
    with refused("project_budget_not_negative"):
        ProjectFactory.create(budget_amount=Decimal("-0.01"), budget_currency="USD")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [(None, ""), (Decimal("0.00"), "MXN"), (Decimal("12500000.50"), "USD")],
)
def test_budget_allowed(amount: Decimal | None, currency: str) -> None:
    project = ProjectFactory.create(budget_amount=amount, budget_currency=currency)
    project.refresh_from_db()
    assert (project.budget_amount, project.budget_currency) == (amount, currency)


# --- project countries -----------------------------------------------------------------------


def test_project_country_listed_once() -> None:
    country = ProjectCountryFactory.create(country="GT")
    ProjectCountryFactory.create(project=country.project, country="HN")
    with refused(
        "project_country_once",
        *unique_columns("workplan_projectcountry", "project_id", "country"),
    ):
        ProjectCountryFactory.create(project=country.project, country="GT")


def test_same_country_on_two_projects_allowed() -> None:
    first = ProjectCountryFactory.create(country="SV")
    second = ProjectCountryFactory.create(country="SV")
    assert first.project_id != second.project_id
    assert set(
        ProjectCountry.objects.filter(country="SV").values_list("project_id", flat=True)
    ) == {
        first.project_id,
        second.project_id,
    }


# --- agency roles ----------------------------------------------------------------------------

ROLE_ONCE = (
    "one_role_per_agency",
    *unique_columns("workplan_projectagencyrole", "project_id", "agency_id"),
)
ONE_LEAD = (
    "one_lead_agency_per_country",
    *unique_columns("workplan_projectagencyrole", "project_id", "country"),
)


def new_role(project: Project, country: str, *, is_lead: bool = False) -> ProjectAgencyRole:
    """A role in `project` for a new agency of `country`."""
    agency = AgencyFactory.create(country=country)
    return ProjectAgencyRoleFactory.create(project=project, agency=agency, is_lead=is_lead)


def test_one_role_per_agency_per_project() -> None:
    role = ProjectAgencyRoleFactory.create(role=OrganisationRole.IMPLEMENTING)
    with refused(*ROLE_ONCE):
        ProjectAgencyRoleFactory.create(
            project=role.project, agency=role.agency, role=OrganisationRole.FUNDING
        )


def test_same_agency_in_two_projects_allowed() -> None:
    role = ProjectAgencyRoleFactory.create(is_lead=True)
    ProjectAgencyRoleFactory.create(agency=role.agency, is_lead=True)
    assert role.agency.project_roles.filter(is_lead=True).count() == 2


def test_two_leads_from_one_country_refused() -> None:
    project = ProjectFactory.create()
    new_role(project, "MX", is_lead=True)
    with refused(*ONE_LEAD):
        new_role(project, "MX", is_lead=True)


def test_becoming_second_lead_of_a_country_refused() -> None:
    project = ProjectFactory.create()
    new_role(project, "US", is_lead=True)
    other = new_role(project, "US")
    other.is_lead = True
    with refused(*ONE_LEAD):
        other.save()


def test_one_lead_per_country_allowed() -> None:
    project = ProjectFactory.create()
    new_role(project, "MX", is_lead=True)
    new_role(project, "US", is_lead=True)
    # Any number of agencies of a country may take part without leading.
    new_role(project, "MX")
    new_role(project, "MX")
    assert project.agency_roles.filter(is_lead=True).count() == 2
    assert project.agency_roles.count() == 4


def test_role_save_copies_agency_country() -> None:
    agency = AgencyFactory.create(country="US")
    role = ProjectAgencyRole(
        project=ProjectFactory.create(), agency=agency, role=OrganisationRole.FUNDING, country="MX"
    )
    role.save()
    assert ProjectAgencyRole.objects.get(pk=role.pk).country == "US"


def test_role_save_follows_a_change_of_agency() -> None:
    role = ProjectAgencyRoleFactory.create(agency=AgencyFactory.create(country="MX"))
    role.agency = AgencyFactory.create(country="GT")
    role.save()
    assert ProjectAgencyRole.objects.get(pk=role.pk).country == "GT"


# --- agencies --------------------------------------------------------------------------------


def test_agency_cannot_be_its_own_parent() -> None:
    agency = AgencyFactory.create()
    agency.parent = agency
    with refused("agency_not_own_parent"):
        agency.save()


def test_agency_own_parent_refused_by_update() -> None:
    agency = AgencyFactory.create()
    with refused("agency_not_own_parent"):
        Agency.objects.filter(pk=agency.pk).update(parent=agency)


def test_agency_other_parent_allowed() -> None:
    parent = AgencyFactory.create()
    child = AgencyFactory.create(parent=parent)
    child.refresh_from_db()
    assert child.parent == parent
    assert list(parent.children.all()) == [child]


def test_agency_acronym_unique_when_set() -> None:
    agency = AgencyFactory.create(country="MX", acronym="SE")
    with refused("agency_acronym_unique_when_set", *unique_columns("workplan_agency", "acronym")):
        AgencyFactory.create(country="US", acronym=agency.acronym, code="US-SE")


def test_several_agencies_without_acronym_allowed() -> None:
    AgencyFactory.create(acronym="", code="US-EMB")
    AgencyFactory.create(acronym="", code="MX-EMB")
    AgencyFactory.create(acronym="", code="GT-EMB", country="GT")
    assert Agency.objects.filter(acronym="").count() == 3


def test_agency_own_parent_reported_by_full_clean() -> None:
    """The admin and the importer validate before saving: the rule must surface there too."""
    agency = AgencyFactory.create()
    agency.parent = agency
    assert set(validation_errors(agency)) == {"parent"}


def test_pillars_ordered_by_number() -> None:
    PillarFactory.create(number=3, code="P3")
    PillarFactory.create(number=1, code="P1")
    assert [p.number for p in Pillar.objects.all()] == [1, 3]
