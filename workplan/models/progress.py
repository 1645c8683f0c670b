from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length

from workplan.choices import SourceKind
from workplan.querysets import PlanQuerySet

from .base import PlanObject, code_field, translated
from .meetings import Meeting
from .plan import Goal
from .projects import Project, ProjectAgencyRole

VALUE_LIMIT = 10**15


def value_field(label: str) -> models.DecimalField:
    return models.DecimalField(
        label,
        max_digits=17,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(-VALUE_LIMIT), MaxValueValidator(VALUE_LIMIT)],
    )


class ProgressReport(PlanObject):
    """A dated account of progress on a project or on a goal (exactly one), with its source.

    A report on a project is seen by whoever may see the project (`published_field`
    and `agency_path` go through it): everyone when the project is published, else its
    agencies and the plan admins; reports on goals are public. Agency editors report on
    their agency's projects; plan admins on any project and on goals.

    What a report measures (an indicator with its baseline, target and value, over a
    period) is optional: the governments published progress as narrative, not figures
    against targets, so the real plan leaves these empty.
    """

    public_type = "progress"
    public_order = 6
    audit_fields = (
        "code",
        "project",
        "goal",
        "meeting",
        "date",
        "narrative_en",
        "narrative_es",
        "source_kind",
        "source_title",
        "source_publisher",
        "source_date",
        "source_url",
        "period_start",
        "period_end",
        "indicator_en",
        "indicator_es",
        "unit",
        "baseline_value",
        "target_value",
        "actual_value",
    )
    published_field = "project__is_published"
    agency_path = "project__agency_roles__agency"

    code = code_field()
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="progress_reports",
        help_text="The project reported on (or give a goal).",
    )
    goal = models.ForeignKey(
        Goal,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="progress_reports",
        help_text="The goal reported on, for progress no single project accounts for.",
    )
    meeting = models.ForeignKey(
        Meeting,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="progress_reports",
        help_text="The meeting of the dialogue the progress was reported at, if any.",
    )
    date = models.DateField(db_index=True, help_text="When the progress was reported.")
    narrative_en = models.TextField("narrative (English)")
    narrative_es = models.TextField("narrative (Spanish)")
    source_kind = models.CharField(
        max_length=10, choices=SourceKind.choices, default=SourceKind.STATED, db_index=True
    )
    source_title = models.CharField(max_length=500)
    source_publisher = models.CharField(max_length=300, blank=True)
    source_date = models.DateField(null=True, blank=True, help_text="Date of publication.")
    source_url = models.URLField(max_length=500, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    indicator_en = models.CharField("indicator (English)", max_length=300, blank=True)
    indicator_es = models.CharField("indicator (Spanish)", max_length=300, blank=True)
    unit = models.CharField(
        max_length=40, blank=True, help_text="Unit of the values (e.g. people, USD, %)."
    )
    baseline_value = value_field("baseline")
    target_value = value_field("target")
    actual_value = value_field("value")

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["date", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(project__isnull=False, goal__isnull=True)
                | Q(project__isnull=True, goal__isnull=False),
                name="progress_on_project_or_goal",
            ),
            models.CheckConstraint(
                condition=Q(period_end__isnull=True)
                | Q(period_start__isnull=True)
                | Q(period_end__gte=F("period_start")),
                name="progress_period_end_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(indicator_en="")
                | Q(
                    baseline_value__isnull=True,
                    target_value__isnull=True,
                    actual_value__isnull=True,
                ),
                name="progress_values_need_indicator",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.date} {translated(self, 'narrative')[:60]}"

    @classmethod
    def issue_code(cls) -> str:
        """`PR-000001`, `PR-000002`, ...: one more than the highest issued so far (archived
        reports keep theirs, so a code is never issued twice)."""
        last = (
            cls._default_manager.filter(code__regex=r"^PR-[0-9]{6,}$")
            .annotate(length=Length("code"))
            .order_by("-length", "-code")
            .values_list("code", flat=True)
            .first()
        )
        number = int(last[3:]) + 1 if last else 1
        return f"PR-{number:06d}"

    def audit_related(self) -> dict[str, Any]:
        # Who may see the report follows its project; kept in its state so the change
        # feed and webhooks know, and updated when the project's publication or agencies
        # change (Project.audit_dependents).
        if self.project_id is None:
            return {"project_is_published": None, "project_agencies": []}
        published = (
            Project.objects.filter(pk=self.project_id)
            .values_list("is_published", flat=True)
            .first()
        )
        agencies = sorted(
            ProjectAgencyRole.objects.filter(project_id=self.project_id).values_list(
                "agency__code", flat=True
            )
        )
        return {"project_is_published": published, "project_agencies": agencies}

    @classmethod
    def audience(cls, state: dict[str, Any]) -> tuple[bool, list[str]]:
        """Reports on goals are public; on a project, they are seen as the project is."""
        if not state or state.get("archived"):
            return False, []
        if state.get("project") is None:
            return True, []
        return bool(state.get("project_is_published")), list(state.get("project_agencies", []))

    def restore_blocker(self) -> str | None:
        for parent in (self.project, self.goal, self.meeting):
            if parent is not None and parent.archived_at is not None:
                return f"Restore {parent._meta.verbose_name} {parent.code} first."
        return None

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if (self.project_id is None) == (self.goal_id is None):
            errors["project"] = "Report on a project or on a goal: give exactly one of them."
        if self.period_start and self.period_end and self.period_end < self.period_start:
            errors["period_end"] = "The period ends before it starts."
        values = (self.baseline_value, self.target_value, self.actual_value)
        if not self.indicator_en and any(v is not None for v in values):
            errors["indicator_en"] = "Name the indicator that the values measure."
        if self.indicator_en and not self.indicator_es:
            errors["indicator_es"] = "Give the indicator in Spanish too."
        if errors:
            raise ValidationError(errors)
