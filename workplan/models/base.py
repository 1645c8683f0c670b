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


class PlanObject(TimeStampedModel):
    """An object of the plan: a public code, a version for safe concurrent writes, archiving.

    `version` moves by one on every write and is what the API's ETag and If-Match
    compare. Objects are archived, never deleted, so their codes are never reused.
    """

    code: str  # each concrete model declares its code field

    version = models.PositiveIntegerField(default=1, editable=False)
    archived_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)

    class Meta:
        abstract = True

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


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
