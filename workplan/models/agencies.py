from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from workplan.choices import OrganisationType, country_choices
from workplan.querysets import PlanQuerySet

from .base import PlanObject, code_field, translated


class Agency(PlanObject):
    """A government body of either country taking part in the plan."""

    public_type = "agency"
    public_order = 3
    audit_fields = (
        "code",
        "acronym",
        "country",
        "name_en",
        "name_es",
        "organisation_type",
        "parent",
        "website",
    )

    code = code_field()
    acronym = models.CharField(
        max_length=20, blank=True, help_text="Official acronym; blank where there is none."
    )
    country = models.CharField(
        max_length=2, choices=country_choices, help_text="ISO 3166-1 alpha-2 code."
    )
    name_en = models.CharField("name (English)", max_length=200)
    name_es = models.CharField("name (Spanish)", max_length=200)
    organisation_type = models.CharField(
        max_length=2,
        choices=OrganisationType.choices,
        default=OrganisationType.GOVERNMENT,
        help_text="IATI OrganisationType code.",
    )
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    website = models.URLField(blank=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["country", "code"]
        verbose_name_plural = "agencies"
        constraints = [
            models.UniqueConstraint(
                fields=["acronym"],
                condition=~models.Q(acronym=""),
                name="agency_acronym_unique_when_set",
            ),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("pk")), name="agency_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.acronym or self.code} — {translated(self, 'name')}"

    def archive_blocker(self) -> str | None:
        if self.project_roles.filter(project__archived_at__isnull=True).exists():
            return "The agency takes part in active projects; remove it from them first."
        if self.children.active().exists():
            return "Archive the agency's sub-agencies first."
        return None

    def restore_blocker(self) -> str | None:
        if self.parent is not None and self.parent.archived_at is not None:
            return f"Restore agency {self.parent.code} first."
        return None

    def clean(self) -> None:
        # A parent chain must end: A under B under A could never be archived.
        seen = {self.pk} if self.pk else set()
        parent = self.parent
        while parent is not None:
            if parent.pk in seen or parent is self:
                raise ValidationError({"parent": "An agency cannot be under itself."})
            seen.add(parent.pk)
            parent = parent.parent

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        # Project roles keep a copy of the country for the one-lead-per-country constraint.
        self.project_roles.exclude(country=self.country).update(country=self.country)
