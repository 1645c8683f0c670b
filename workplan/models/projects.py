from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from workplan.choices import (
    ActivityStatus,
    AssignmentSource,
    OrganisationRole,
    country_choices,
    currency_choices,
)
from workplan.querysets import PlanQuerySet

from .agencies import Agency
from .base import PlanObject, TimeStampedModel, code_field, translated
from .plan import Goal


class Project(PlanObject):
    """An activity that carries out a goal of the plan."""

    public_type = "project"
    public_order = 4
    audit_fields = (
        "code",
        "goal",
        "title_en",
        "title_es",
        "description_en",
        "description_es",
        "status",
        "announced_on",
        "planned_start",
        "planned_end",
        "actual_start",
        "actual_end",
        "budget_amount",
        "budget_currency",
        "is_published",
    )
    published_field = "is_published"
    agency_path = "agency_roles__agency"

    code = code_field()
    goal = models.ForeignKey(Goal, on_delete=models.PROTECT, related_name="projects")
    title_en = models.CharField("title (English)", max_length=300)
    title_es = models.CharField("title (Spanish)", max_length=300)
    description_en = models.TextField("description (English)", blank=True)
    description_es = models.TextField("description (Spanish)", blank=True)
    status = models.CharField(
        max_length=1,
        choices=ActivityStatus.choices,
        default=ActivityStatus.PIPELINE,
        db_index=True,
        help_text="IATI ActivityStatus code.",
    )
    announced_on = models.DateField(
        null=True, blank=True, help_text="When the plan announced the project."
    )
    planned_start = models.DateField(null=True, blank=True)
    planned_end = models.DateField(null=True, blank=True)
    actual_start = models.DateField(null=True, blank=True)
    actual_end = models.DateField(null=True, blank=True)
    budget_amount = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    budget_currency = models.CharField(
        max_length=3, choices=currency_choices, blank=True, help_text="ISO 4217 code."
    )
    is_published = models.BooleanField(
        default=False,
        help_text="Published projects are visible to everyone; unpublished ones only to "
        "their agencies and the plan admins.",
    )
    agencies = models.ManyToManyField(Agency, through="ProjectAgencyRole", related_name="projects")

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        indexes = [
            # The public list (published, active) in its default order, and walked by cursor.
            models.Index(
                fields=["code"],
                condition=models.Q(archived_at__isnull=True, is_published=True),
                name="project_public_by_code",
            ),
            # `goal=` and `pillar=` filters and the whole plan (goal by goal), by code.
            models.Index(fields=["goal", "code"], name="project_goal_code"),
            models.Index(fields=["status", "code"], name="project_status_code"),
            models.Index(fields=["planned_start", "id"], name="project_planned_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_end__isnull=True)
                | Q(planned_start__isnull=True)
                | Q(planned_end__gte=F("planned_start")),
                name="project_planned_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(actual_end__isnull=True)
                | Q(actual_start__isnull=True)
                | Q(actual_end__gte=F("actual_start")),
                name="project_actual_end_after_start",
            ),
            models.CheckConstraint(
                condition=(Q(budget_amount__isnull=True) & Q(budget_currency=""))
                | (Q(budget_amount__isnull=False) & ~Q(budget_currency="")),
                name="project_budget_amount_and_currency_together",
            ),
            models.CheckConstraint(
                condition=Q(budget_amount__isnull=True) | Q(budget_amount__gte=0),
                name="project_budget_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {translated(self, 'title')}"

    def audit_related(self) -> dict[str, Any]:
        # Fresh queries ordered by code, not the related managers: a caller may have
        # prefetched them in another order, and the snapshot must not depend on it.
        return {
            "countries": sorted(
                ProjectCountry.objects.filter(project=self).values_list("country", flat=True)
            ),
            "participating_agencies": [
                {"agency": code, "role": role, "is_lead": lead, "source": source}
                for code, role, lead, source in ProjectAgencyRole.objects.filter(project=self)
                .order_by("agency__code")
                .values_list("agency__code", "role", "is_lead", "source")
            ],
            "links": list(
                ProjectLink.objects.filter(project=self)
                .order_by("url")
                .values("url", "label_en", "label_es")
            ),
        }

    @classmethod
    def audience(cls, state: dict[str, Any]) -> tuple[bool, list[str]]:
        """Published projects are public; unpublished ones are seen by their agencies."""
        if not state or state.get("archived"):
            return False, []
        agencies = sorted(p["agency"] for p in state.get("participating_agencies", []))
        return bool(state.get("is_published")), agencies

    def archive_blocker(self) -> str | None:
        if self.progress_reports.filter(archived_at__isnull=True).exists():
            return "Archive the project's progress reports first."
        if self.results.filter(archived_at__isnull=True).exists():
            return "Archive the project's results first."
        return None

    def audit_dependents(self) -> list[PlanObject]:
        # Its progress reports and results (with their indicators and periods) are seen
        # as it is; meetings list it while it is public.
        from .results import Indicator, IndicatorPeriod

        return [
            *self.progress_reports.filter(archived_at__isnull=True),
            *self.meetings.filter(archived_at__isnull=True),
            *self.results.filter(archived_at__isnull=True),
            *Indicator.objects.filter(result__project=self, archived_at__isnull=True),
            *IndicatorPeriod.objects.filter(
                indicator__result__project=self, archived_at__isnull=True
            ),
        ]

    def restore_blocker(self) -> str | None:
        if self.goal.archived_at is not None:
            return f"Restore goal {self.goal.code} first."
        return None

    def clean(self) -> None:
        # Field-specific messages for what the check constraints also enforce.
        errors = {}
        for kind in ("planned", "actual"):
            start, end = getattr(self, f"{kind}_start"), getattr(self, f"{kind}_end")
            if start and end and end < start:
                errors[f"{kind}_end"] = f"The {kind} end date is before the {kind} start date."
        if (self.budget_amount is None) != (not self.budget_currency):
            errors["budget_currency" if self.budget_amount is not None else "budget_amount"] = (
                "A budget needs both an amount and a currency."
            )
        if errors:
            raise ValidationError(errors)


class ProjectCountry(models.Model):
    """A country a project takes place in (IATI recipient-country)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="countries")
    country = models.CharField(
        max_length=2, choices=country_choices, help_text="ISO 3166-1 alpha-2 code."
    )

    class Meta:
        ordering = ["country"]
        verbose_name_plural = "project countries"
        # `country=` finds the projects of a country (the unique pair starts with project).
        indexes = [models.Index(fields=["country", "project"], name="project_country_by_country")]
        constraints = [
            models.UniqueConstraint(fields=["project", "country"], name="project_country_once"),
        ]

    def __str__(self) -> str:
        return self.country


class ProjectAgencyRole(TimeStampedModel):
    """An agency's participation in a project, with its IATI OrganisationRole."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agency_roles")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="project_roles")
    role = models.CharField(
        max_length=1, choices=OrganisationRole.choices, help_text="IATI OrganisationRole code."
    )
    is_lead = models.BooleanField(
        default=False, help_text="This agency leads the project for its country."
    )
    # Copied from the agency so that "one lead per country" can be a database constraint.
    country = models.CharField(max_length=2, editable=False)
    source = models.CharField(
        max_length=10,
        choices=AssignmentSource.choices,
        default=AssignmentSource.STATED,
        help_text="Whether the published plan names this agency or it is inferred from its remit.",
    )

    class Meta:
        ordering = ["project", "country", "agency__code"]
        constraints = [
            models.UniqueConstraint(fields=["project", "agency"], name="one_role_per_agency"),
            models.UniqueConstraint(
                fields=["project", "country"],
                condition=Q(is_lead=True),
                name="one_lead_agency_per_country",
            ),
        ]

    def save(self, *args, **kwargs) -> None:
        self.country = self.agency.country
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.agency} in {self.project.code} ({self.get_role_display()})"


class ProjectLink(models.Model):
    """A public web page about a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="links")
    url = models.URLField(max_length=500)
    label_en = models.CharField("label (English)", max_length=200)
    label_es = models.CharField("label (Spanish)", max_length=200)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "url"], name="project_link_once"),
        ]

    def __str__(self) -> str:
        return self.url
