"""Factories for tests. Invented data lives only here and in the benchmark data set."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import factory
from django.conf import settings
from factory.django import DjangoModelFactory, Password

from workplan.choices import MeetingKind, OrganisationRole, Role, SourceKind
from workplan.models import (
    Agency,
    AgencyMembership,
    ApiToken,
    Goal,
    Indicator,
    IndicatorPeriod,
    Meeting,
    MeetingChair,
    MeetingProject,
    MeetingSource,
    Pillar,
    ProgressReport,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
    Result,
    TokenScope,
)
from workplan.policy import SYSTEM
from workplan.services import api_token_issue


class PillarFactory(DjangoModelFactory):
    class Meta:
        model = Pillar

    # Within the models' bounds (1-999) however many a test process makes; a test makes
    # few, so the numbers (and codes) stay unique within it.
    number = factory.Sequence(lambda n: n % 980 + 10)
    code = factory.LazyAttribute(lambda o: f"P{o.number}")
    name_en = factory.Sequence(lambda n: f"Pillar {n}")
    name_es = factory.Sequence(lambda n: f"Pilar {n}")
    description_en = "About the pillar."
    description_es = "Acerca del pilar."


class GoalFactory(DjangoModelFactory):
    class Meta:
        model = Goal

    pillar = factory.SubFactory(PillarFactory)
    number = factory.Sequence(lambda n: n % 999 + 1)
    code = factory.LazyAttribute(lambda o: f"{o.pillar.code}-G{o.number}")
    title_en = factory.Sequence(lambda n: f"Goal {n}")
    title_es = factory.Sequence(lambda n: f"Objetivo {n}")


class AgencyFactory(DjangoModelFactory):
    class Meta:
        model = Agency

    country = "MX"
    acronym = factory.Sequence(lambda n: f"AG{n}")
    code = factory.LazyAttribute(lambda o: f"{o.country}-{o.acronym}")
    name_en = factory.Sequence(lambda n: f"Agency {n}")
    name_es = factory.Sequence(lambda n: f"Agencia {n}")


class ProjectFactory(DjangoModelFactory):
    class Meta:
        model = Project

    code = factory.Sequence(lambda n: f"TEST-{n:04d}")
    goal = factory.SubFactory(GoalFactory)
    title_en = factory.Sequence(lambda n: f"Project {n}")
    title_es = factory.Sequence(lambda n: f"Proyecto {n}")
    description_en = "What the project does."
    description_es = "Lo que hace el proyecto."
    is_published = True


class ProjectAgencyRoleFactory(DjangoModelFactory):
    class Meta:
        model = ProjectAgencyRole

    project = factory.SubFactory(ProjectFactory)
    agency = factory.SubFactory(AgencyFactory)
    role = OrganisationRole.IMPLEMENTING


class ProjectCountryFactory(DjangoModelFactory):
    class Meta:
        model = ProjectCountry

    project = factory.SubFactory(ProjectFactory)
    country = "MX"


class ProjectLinkFactory(DjangoModelFactory):
    class Meta:
        model = ProjectLink

    project = factory.SubFactory(ProjectFactory)
    url = factory.Sequence(lambda n: f"https://example.org/projects/{n}")
    label_en = "Announcement"
    label_es = "Anuncio"


class MeetingFactory(DjangoModelFactory):
    class Meta:
        model = Meeting

    date = factory.Sequence(lambda n: date(2030, 1, 1) + timedelta(days=n))
    code = factory.LazyAttribute(lambda o: f"HLED-M-{o.date.isoformat()}")
    kind = MeetingKind.MINISTERIAL
    place_en = "Monterrey"
    place_es = "Monterrey"
    summary_en = "What the meeting did."
    summary_es = "Lo que hizo la reunión."


class MeetingChairFactory(DjangoModelFactory):
    class Meta:
        model = MeetingChair

    meeting = factory.SubFactory(MeetingFactory)
    agency = factory.SubFactory(AgencyFactory)
    person_name = factory.Sequence(lambda n: f"Chair {n}")


class MeetingSourceFactory(DjangoModelFactory):
    class Meta:
        model = MeetingSource

    meeting = factory.SubFactory(MeetingFactory)
    title = factory.Sequence(lambda n: f"Joint statement {n}")
    publisher = "A ministry"
    date = factory.LazyAttribute(lambda o: o.meeting.date)
    url = factory.Sequence(lambda n: f"https://example.org/statements/{n}")


class MeetingProjectFactory(DjangoModelFactory):
    class Meta:
        model = MeetingProject

    meeting = factory.SubFactory(MeetingFactory)
    project = factory.SubFactory(ProjectFactory)


class ProgressReportFactory(DjangoModelFactory):
    """A report on a project (pass `project=None, goal=...` for one on a goal)."""

    class Meta:
        model = ProgressReport

    code = factory.Sequence(lambda n: f"TEST-PR-{n:04d}")
    project = factory.SubFactory(ProjectFactory)
    goal = None
    date = factory.Sequence(lambda n: date(2030, 1, 1) + timedelta(days=n))
    narrative_en = factory.Sequence(lambda n: f"Progress {n}.")
    narrative_es = factory.Sequence(lambda n: f"Avance {n}.")
    source_kind = SourceKind.ENTERED
    source_title = "Quarterly report"
    source_publisher = "An agency"
    source_date = factory.LazyAttribute(lambda o: o.date)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = settings.AUTH_USER_MODEL
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user-{n}")
    password = Password(None)  # unusable: partners authenticate with tokens


class AgencyMembershipFactory(DjangoModelFactory):
    """A partner user's role at an agency (`agency=None` with `role=Role.ADMIN`: a plan admin)."""

    class Meta:
        model = AgencyMembership

    user = factory.SubFactory(UserFactory)
    agency = factory.SubFactory(AgencyFactory)
    role = Role.READER


class ApiTokenFactory(DjangoModelFactory):
    """An API token issued as the service issues it; `token.plaintext` is its secret."""

    class Meta:
        model = ApiToken

    user = factory.SubFactory(UserFactory)
    scope = TokenScope.WRITE

    @classmethod
    def _create(cls, model_class: type[ApiToken], *args: Any, **kwargs: Any) -> ApiToken:
        token = model_class(*args, **kwargs)
        token.plaintext = api_token_issue(actor=SYSTEM, token=token)
        return token


class ResultFactory(DjangoModelFactory):
    class Meta:
        model = Result

    code = factory.Sequence(lambda n: f"TEST-RE-{n:04d}")
    project = factory.SubFactory(ProjectFactory)
    type = "1"
    title_en = factory.Sequence(lambda n: f"Result {n}")
    title_es = factory.Sequence(lambda n: f"Resultado {n}")


class IndicatorFactory(DjangoModelFactory):
    class Meta:
        model = Indicator

    code = factory.Sequence(lambda n: f"TEST-IN-{n:04d}")
    result = factory.SubFactory(ResultFactory)
    measure = "1"
    title_en = factory.Sequence(lambda n: f"Indicator {n}")
    title_es = factory.Sequence(lambda n: f"Indicador {n}")


class IndicatorPeriodFactory(DjangoModelFactory):
    class Meta:
        model = IndicatorPeriod

    code = factory.Sequence(lambda n: f"TEST-IP-{n:04d}")
    indicator = factory.SubFactory(IndicatorFactory)
    period_start = date(2030, 1, 1)
    period_end = date(2030, 6, 30)
    target_value = Decimal("100")
    actual_value = Decimal("80")
