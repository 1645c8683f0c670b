"""Codes from public codelists, stored as their codes.

IATI codelists (ActivityStatus, OrganisationRole, OrganisationType) are small and
stable, so they are kept here as choices; ISO 3166-1 and ISO 4217 come from pycountry.
"""

from functools import cache

import pycountry
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """What a partner user may do for its agency (workplan.policy reads it)."""

    READER = "reader", "Reader"
    EDITOR = "editor", "Agency editor"
    ADMIN = "admin", "Plan admin"


class ActivityStatus(models.TextChoices):
    """IATI ActivityStatus codelist."""

    PIPELINE = "1", _("Pipeline/identification")
    IMPLEMENTATION = "2", _("Implementation")
    FINALISATION = "3", _("Finalisation")
    CLOSED = "4", _("Closed")
    CANCELLED = "5", _("Cancelled")
    SUSPENDED = "6", _("Suspended")


class OrganisationRole(models.TextChoices):
    """IATI OrganisationRole codelist."""

    FUNDING = "1", _("Funding")
    ACCOUNTABLE = "2", _("Accountable")
    EXTENDING = "3", _("Extending")
    IMPLEMENTING = "4", _("Implementing")


class OrganisationType(models.TextChoices):
    """IATI OrganisationType codelist."""

    GOVERNMENT = "10", _("Government")
    LOCAL_GOVERNMENT = "11", _("Local Government")
    OTHER_PUBLIC_SECTOR = "15", _("Other Public Sector")
    INTERNATIONAL_NGO = "21", _("International NGO")
    NATIONAL_NGO = "22", _("National NGO")
    REGIONAL_NGO = "23", _("Regional NGO")
    PARTNER_COUNTRY_NGO = "24", _("Partner Country based NGO")
    PUBLIC_PRIVATE_PARTNERSHIP = "30", _("Public Private Partnership")
    MULTILATERAL = "40", _("Multilateral")
    FOUNDATION = "60", _("Foundation")
    PRIVATE_SECTOR = "70", _("Private Sector")
    PRIVATE_SECTOR_PROVIDER = "71", _("Private Sector in Provider Country")
    PRIVATE_SECTOR_RECIPIENT = "72", _("Private Sector in Aid Recipient Country")
    PRIVATE_SECTOR_THIRD = "73", _("Private Sector in Third Country")
    ACADEMIC = "80", _("Academic, Training and Research")
    OTHER = "90", _("Other")


class AssignmentSource(models.TextChoices):
    """Where a project's participating agency comes from."""

    STATED = "stated", _("Stated in the published plan")
    INFERRED = "inferred", _("Inferred from the agency's remit")


class MeetingKind(models.TextChoices):
    """What kind of meeting of the dialogue it was."""

    MINISTERIAL = "ministerial", _("Ministerial meeting")
    REVIEW = "review", _("Progress review")


class MeetingProjectKind(models.TextChoices):
    """What a meeting did with a project."""

    REVIEWED = "reviewed", _("Reviewed at the meeting")
    LAUNCHED = "launched", _("Launched at the meeting")


class SourceKind(models.TextChoices):
    """Where a progress report comes from."""

    STATED = "stated", _("Stated by a government in a published statement")
    ENTERED = "entered", _("Entered by an agency")


class ResultType(models.TextChoices):
    """IATI ResultType codelist."""

    OUTPUT = "1", _("Output")
    OUTCOME = "2", _("Outcome")
    IMPACT = "3", _("Impact")
    OTHER = "9", _("Other")


class IndicatorMeasure(models.TextChoices):
    """IATI IndicatorMeasure codelist."""

    UNIT = "1", _("Unit")
    PERCENTAGE = "2", _("Percentage")
    NOMINAL = "3", _("Nominal")
    ORDINAL = "4", _("Ordinal")
    QUALITATIVE = "5", _("Qualitative")


@cache
def country_choices() -> list[tuple[str, str]]:
    """ISO 3166-1 alpha-2 codes with their English names."""
    return sorted((c.alpha_2, c.name) for c in pycountry.countries)


@cache
def currency_choices() -> list[tuple[str, str]]:
    """ISO 4217 alphabetic codes with their English names."""
    return sorted((c.alpha_3, c.name) for c in pycountry.currencies)
