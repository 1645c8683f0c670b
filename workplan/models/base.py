from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import get_language

# Public codes are the identifiers partners store and put in URLs: upper-case
# letters, digits and single hyphens, never reused once issued.
CODE_PATTERN = r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$"
CODE_URL_PATTERN = r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
code_validator = RegexValidator(
    CODE_PATTERN,
    "Use upper-case letters, digits and single hyphens (for example P1-G2).",
    code="invalid_code",
)

SUPPORTED_LANGUAGES = ("en", "es")


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True


def plain(value: Any) -> Any:
    """A field value as JSON: related objects by code, dates as ISO 8601, decimals as text."""
    if isinstance(value, models.Model):
        return getattr(value, "code", value.pk)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# Every concrete plan object type by its public type name, in the order they are listed.
PLAN_TYPES: dict[str, type["PlanObject"]] = {}


def plan_types() -> tuple[str, ...]:
    """The public type names of the plan's objects ("pillar", "goal", ...), in plan order."""
    return tuple(sorted(PLAN_TYPES, key=lambda name: PLAN_TYPES[name].public_order))


class PlanObject(TimeStampedModel):
    """An object of the plan: a public code, a version for safe concurrent writes, archiving.

    `version` moves by one on every write and is what the API's ETag and If-Match
    compare. Objects are archived, never deleted, so their codes are never reused.

    Each concrete model declares, here and nowhere else, what the rest of the domain
    needs to know of it (the services, the audit trail and the policy read these, so
    adding a kind of object touches no switch over types):

    - `public_type`, `public_order`: its name in the audit trail, the change feed and
      webhook event types, and its place in lists of types;
    - `audit_fields`: the fields its audit snapshot holds (plus `audit_related()`);
    - `published_field`: the flag that makes it public (None: public while active); a
      path through an optional parent (`project__is_published`) makes it public when the
      parent is published, or when it has no such parent;
    - `agency_path`: the lookup to the agencies taking part in it (None: only plan
      admins write it; set: those agencies' editors may); a path through a parent
      (`project__agency_roles__agency`) means editors attach it only to parents their
      agency takes part in;
    - `archive_blocker()`, `restore_blocker()`: why it may not be archived or restored;
    - `audit_dependents()`: other objects whose audited state reads this one's;
    - `issue_code()`: the code of a new object created without one (None: a code is
      required).
    """

    code: str  # each concrete model declares its code field
    public_type: ClassVar[str]
    public_order: ClassVar[int]
    audit_fields: ClassVar[tuple[str, ...]]
    published_field: ClassVar[str | None] = None
    agency_path: ClassVar[str | None] = None

    version = models.PositiveIntegerField(default=1, editable=False)
    archived_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("public_type")
        if name:
            PLAN_TYPES[name] = cls

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    # -- the audit snapshot -----------------------------------------------------------
    def audit_related(self) -> dict[str, Any]:
        """Related rows that belong to the object's state (none by default)."""
        return {}

    def audit_snapshot(self) -> dict[str, Any]:
        """The object's state as JSON values (related objects by code), as audited."""
        data = {name: plain(getattr(self, name)) for name in self.audit_fields}
        data["archived"] = self.archived_at is not None
        if self.pk:
            data |= self.audit_related()
        return data

    @classmethod
    def audience(cls, state: dict[str, Any]) -> tuple[bool, list[str]]:
        """Who may see an object in this audited state: (everyone?, agency codes that may).

        Nobody sees an archived or absent object (plan admins see everything anyway).
        """
        if not state or state.get("archived"):
            return False, []
        return True, []

    def audit_dependents(self) -> list["PlanObject"]:
        """Objects whose audited state includes something of this one (who may see them,
        which of its projects are public): the services record a change for each of them
        whose state this object's change alters, so the change feed stays exact."""
        return []

    @classmethod
    def issue_code(cls) -> str | None:
        """A new, never used code for an object created without one (None: none is issued).
        Called by the services under the writers' lock."""
        return None

    # -- archiving ----------------------------------------------------------------------
    def archive_blocker(self) -> str | None:
        """Why the object may not be archived now; None when it may."""
        return None

    def restore_blocker(self) -> str | None:
        """Why the object may not be restored now; None when it may."""
        return None


def code_field(**kwargs) -> models.CharField:
    return models.CharField(
        max_length=32,
        unique=True,
        validators=[code_validator],
        help_text="Stable public code used in URLs; never reused.",
        **kwargs,
    )


def translated(obj: models.Model, field: str, language: str | None = None) -> str:
    """The text of `field` in `language` (the active one by default), falling back to English."""
    language = language or get_language() or "en"
    if language not in SUPPORTED_LANGUAGES:
        language = "en"
    value = getattr(obj, f"{field}_{language}", "")
    return value or getattr(obj, f"{field}_en", "")
