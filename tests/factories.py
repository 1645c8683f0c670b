"""Factories for tests. Invented data lives only here and in the benchmark data set."""

from typing import Any

import factory
from django.conf import settings
from factory.django import DjangoModelFactory, Password

from workplan.choices import OrganisationRole, Role
from workplan.models import (
    Agency,
    AgencyMembership,
    ApiToken,
    Goal,
    Pillar,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
    TokenScope,
)
from workplan.policy import SYSTEM
from workplan.services import api_token_issue


class PillarFactory(DjangoModelFactory):
    class Meta:
        model = Pillar

    number = factory.Sequence(lambda n: n + 10)
    code = factory.LazyAttribute(lambda o: f"P{o.number}")
    name_en = factory.Sequence(lambda n: f"Pillar {n}")
    name_es = factory.Sequence(lambda n: f"Pilar {n}")
    description_en = "About the pillar."
    description_es = "Acerca del pilar."


class GoalFactory(DjangoModelFactory):
    class Meta:
        model = Goal

    pillar = factory.SubFactory(PillarFactory)
    number = factory.Sequence(lambda n: n + 1)
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
