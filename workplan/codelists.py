"""Every codelist the API uses, with its entries named in English and Spanish.

The project has no gettext catalogue, so the Spanish names of the choices in
`workplan.choices` are kept here, in SPANISH (IATI publishes Spanish names for its
codelists; these follow them). ISO 3166-1 and ISO 4217 names come from pycountry and
its own Spanish catalogues (the iso-codes project's).

A new codelist from a TextChoices is one line in REGISTRY plus its Spanish names; a
test refuses a registered entry without one.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pycountry
from django.db import models

from workplan.choices import (
    ActivityStatus,
    AssignmentSource,
    IndicatorMeasure,
    MeetingKind,
    MeetingProjectKind,
    OrganisationRole,
    OrganisationType,
    ResultType,
    SourceKind,
)


@dataclass(frozen=True)
class Entry:
    code: str
    name_en: str
    name_es: str


@dataclass(frozen=True)
class Codelist:
    name: str
    description_en: str
    description_es: str
    load: Callable[[], tuple[Entry, ...]]

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self.load()

    def label(self, code: str, language: str) -> str:
        """The name of `code` in `language` ("en" or "es"); the code itself if unknown."""
        names = _names(self.name)
        return names.get(code, (code, code))[1 if language == "es" else 0]


SPANISH: dict[type[models.TextChoices], dict[str, str]] = {
    ActivityStatus: {
        "1": "Identificación",
        "2": "Ejecución",
        "3": "Finalización",
        "4": "Cerrada",
        "5": "Cancelada",
        "6": "Suspendida",
    },
    OrganisationRole: {
        "1": "Financiadora",
        "2": "Responsable",
        "3": "Intermediaria",
        "4": "Ejecutora",
    },
    OrganisationType: {
        "10": "Gobierno",
        "11": "Gobierno local",
        "15": "Otro organismo del sector público",
        "21": "ONG internacional",
        "22": "ONG nacional",
        "23": "ONG regional",
        "24": "ONG con sede en el país socio",
        "30": "Asociación público-privada",
        "40": "Organismo multilateral",
        "60": "Fundación",
        "70": "Sector privado",
        "71": "Sector privado del país proveedor",
        "72": "Sector privado del país receptor de la ayuda",
        "73": "Sector privado de un tercer país",
        "80": "Academia, formación e investigación",
        "90": "Otra",
    },
    AssignmentSource: {
        "stated": "Indicada en el plan publicado",
        "inferred": "Deducida de las atribuciones de la dependencia",
    },
    MeetingKind: {
        "ministerial": "Reunión ministerial",
        "review": "Revisión de avances",
    },
    MeetingProjectKind: {
        "reviewed": "Revisado en la reunión",
        "launched": "Presentado en la reunión",
    },
    ResultType: {
        "1": "Producto",
        "2": "Efecto directo",
        "3": "Impacto",
        "9": "Otro",
    },
    IndicatorMeasure: {
        "1": "Unidad",
        "2": "Porcentaje",
        "3": "Nominal",
        "4": "Ordinal",
        "5": "Cualitativo",
    },
    SourceKind: {
        "stated": "Declarado por un gobierno en un comunicado publicado",
        "entered": "Registrado por una dependencia",
    },
}


def from_choices(choices: type[models.TextChoices]) -> Callable[[], tuple[Entry, ...]]:
    def load() -> tuple[Entry, ...]:
        spanish = SPANISH.get(choices, {})
        return tuple(
            Entry(str(code), str(label), spanish.get(str(code), str(label)))
            for code, label in choices.choices
        )

    return cache(load)


@cache
def _spanish_catalogue(domain: str) -> gettext.NullTranslations:
    return gettext.translation(domain, pycountry.LOCALES_DIR, languages=["es"], fallback=True)


@cache
def countries() -> tuple[Entry, ...]:
    spanish = _spanish_catalogue("iso3166-1")
    return tuple(
        sorted(
            (Entry(c.alpha_2, c.name, spanish.gettext(c.name)) for c in pycountry.countries),
            key=lambda entry: entry.code,
        )
    )


@cache
def currencies() -> tuple[Entry, ...]:
    spanish = _spanish_catalogue("iso4217")
    return tuple(
        sorted(
            (Entry(c.alpha_3, c.name, spanish.gettext(c.name)) for c in pycountry.currencies),
            key=lambda entry: entry.code,
        )
    )


REGISTRY: dict[str, Codelist] = {
    codelist.name: codelist
    for codelist in (
        Codelist(
            "activity-status",
            "IATI ActivityStatus: the stage a project has reached (`status`).",
            "IATI ActivityStatus: la etapa en la que está un proyecto (`status`).",
            from_choices(ActivityStatus),
        ),
        Codelist(
            "organisation-role",
            "IATI OrganisationRole: what an agency does in a project (`role`).",
            "IATI OrganisationRole: lo que hace una dependencia en un proyecto (`role`).",
            from_choices(OrganisationRole),
        ),
        Codelist(
            "organisation-type",
            "IATI OrganisationType: the kind of organisation an agency is (`type`).",
            "IATI OrganisationType: el tipo de organización de una dependencia (`type`).",
            from_choices(OrganisationType),
        ),
        Codelist(
            "assignment-source",
            "Whether a project's agency is stated in the plan or inferred (`source`).",
            "Si la dependencia de un proyecto figura en el plan o se dedujo (`source`).",
            from_choices(AssignmentSource),
        ),
        Codelist(
            "meeting-kind",
            "The kind of meeting of the dialogue (`kind` of a meeting).",
            "El tipo de reunión del diálogo (`kind` de una reunión).",
            from_choices(MeetingKind),
        ),
        Codelist(
            "meeting-project-kind",
            "What a meeting did with a project (`kind` of a meeting's project).",
            "Lo que hizo una reunión con un proyecto (`kind` del proyecto de una reunión).",
            from_choices(MeetingProjectKind),
        ),
        Codelist(
            "source-kind",
            "Where a progress report comes from (`kind` of its source).",
            "De dónde proviene un informe de avance (`kind` de su fuente).",
            from_choices(SourceKind),
        ),
        Codelist(
            "result-type",
            "IATI ResultType: what level of change a project's result is (`type`).",
            "IATI ResultType: el nivel de cambio de un resultado de un proyecto (`type`).",
            from_choices(ResultType),
        ),
        Codelist(
            "indicator-measure",
            "IATI IndicatorMeasure: how an indicator is measured (`measure`).",
            "IATI IndicatorMeasure: cómo se mide un indicador (`measure`).",
            from_choices(IndicatorMeasure),
        ),
        Codelist(
            "country",
            "ISO 3166-1 alpha-2 country codes (`country`, `countries`).",
            "Códigos de país ISO 3166-1 alfa-2 (`country`, `countries`).",
            countries,
        ),
        Codelist(
            "currency",
            "ISO 4217 currency codes (`currency` of a budget).",
            "Códigos de moneda ISO 4217 (`currency` de un presupuesto).",
            currencies,
        ),
    )
}


@cache
def _names(name: str) -> dict[str, tuple[str, str]]:
    return {entry.code: (entry.name_en, entry.name_es) for entry in REGISTRY[name].entries}
