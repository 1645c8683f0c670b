"""A project's results, their indicators and the indicators' periods, as IATI models them.

A `Result` (IATI `result`) is a change a project means to bring about; an `Indicator`
measures it, from an optional baseline; an `IndicatorPeriod` holds the target and the
actual value of one period. All three are seen as their project is (published, or its
agencies and the plan admins) and written by the editors of its agencies and by plan
admins: `published_field` and `agency_path` go through the project.

Each is a plan object of its own (code, version, audit trail, change feed), so partners
write an indicator or a period without resending the result, and a change to one value
is one audited change. Codes are issued when none is given (`RE-000001`, `IN-000001`,
`IP-000001`), as progress reports' are.
"""

from decimal import Decimal, InvalidOperation
from typing import Any, Self

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Length

from workplan.choices import IndicatorMeasure, ResultType, SourceKind
from workplan.querysets import PlanQuerySet

from .base import PlanObject, code_field, translated
from .progress import VALUE_LIMIT
from .projects import Project, ProjectAgencyRole


class MeasuredValueField(models.DecimalField):
    """A measured value with exactly its field's decimal places, whichever channel wrote
    it: a value cleaned here (`full_clean`, which the services run) is stored and audited
    as the database returns it ("800.00", not "800"), so the change feed's state equals
    what the API then reads."""

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if value is None or not value.is_finite():
            return value  # the field's own validation refuses what is not a number
        try:
            return value.quantize(Decimal(1).scaleb(-(self.decimal_places or 0)))
        except InvalidOperation:
            return value  # too large to quantize: the bounds' validators refuse it


def value_field(label: str) -> MeasuredValueField:
    return MeasuredValueField(
        label,
        max_digits=17,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(-VALUE_LIMIT), MaxValueValidator(VALUE_LIMIT)],
    )


def _issue(model: type[PlanObject], prefix: str) -> str:
    """`<prefix>-000001`, ...: one more than the highest issued so far (archived objects
    keep theirs, so a code is never issued twice)."""
    last = (
        model._default_manager.filter(**{"code__regex": rf"^{prefix}-[0-9]{{6,}}$"})
        .annotate(length=Length("code"))
        .order_by("-length", "-code")
        .values_list("code", flat=True)
        .first()
    )
    number = int(last[len(prefix) + 1 :]) + 1 if last else 1
    return f"{prefix}-{number:06d}"


class ProjectScoped(PlanObject):
    """A plan object seen as its project is: its audited state carries the project's
    publication and agencies, so the change feed and webhooks know who may see it."""

    # The lookup from the object to its project's id (`project_id`, `result__project_id`).
    project_lookup: str = "project_id"

    class Meta:
        abstract = True

    def project_pk(self) -> int | None:
        if self.project_lookup == "project_id":
            return getattr(self, "project_id", None)
        return (
            type(self)
            ._default_manager.filter(pk=self.pk)
            .values_list(self.project_lookup.replace("_id", "__id"), flat=True)
            .first()
        )

    def audit_related(self) -> dict[str, Any]:
        project_id = self.project_pk()
        project = None
        agencies: list[str] = []
        if project_id is not None:
            project = Project.objects.filter(pk=project_id).values("code", "is_published").first()
            agencies = sorted(
                ProjectAgencyRole.objects.filter(project_id=project_id).values_list(
                    "agency__code", flat=True
                )
            )
        related: dict[str, Any] = {
            "project_is_published": project["is_published"] if project else None,
            "project_agencies": agencies,
        }
        if self.project_lookup != "project_id":
            related = {"project": project["code"] if project else None, **related}
        return related

    @classmethod
    def audience(cls, state: dict[str, Any]) -> tuple[bool, list[str]]:
        """Seen as its project is: by everyone when it is published, else by its agencies."""
        if not state or state.get("archived"):
            return False, []
        return bool(state.get("project_is_published")), list(state.get("project_agencies", []))


class Result(ProjectScoped):
    """A result a project means to achieve (IATI `result`): an output, an outcome, an
    impact or other, measured by its indicators."""

    public_type = "result"
    public_order = 7
    audit_fields = (
        "code",
        "project",
        "type",
        "aggregation_status",
        "title_en",
        "title_es",
        "description_en",
        "description_es",
    )
    published_field = "project__is_published"
    agency_path = "project__agency_roles__agency"

    code = code_field()
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        related_name="results",
        help_text="The project the result belongs to.",
    )
    type = models.CharField(
        max_length=1,
        choices=ResultType.choices,
        default=ResultType.OUTPUT,
        db_index=True,
        help_text="IATI ResultType code.",
    )
    aggregation_status = models.BooleanField(
        null=True,
        blank=True,
        help_text="IATI aggregation-status: whether the result's data suit aggregation "
        "(blank where not said).",
    )
    title_en = models.CharField("title (English)", max_length=300)
    title_es = models.CharField("title (Spanish)", max_length=300)
    description_en = models.TextField("description (English)", blank=True)
    description_es = models.TextField("description (Spanish)", blank=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {translated(self, 'title')}"

    @classmethod
    def issue_code(cls) -> str:
        return _issue(cls, "RE")

    def archive_blocker(self) -> str | None:
        if self.indicators.filter(archived_at__isnull=True).exists():
            return "Archive the result's indicators first."
        return None

    def restore_blocker(self) -> str | None:
        if self.project.archived_at is not None:
            return f"Restore project {self.project.code} first."
        return None

    def audit_dependents(self) -> list[PlanObject]:
        # Its indicators and their periods name its project and are seen as it is.
        return [
            *Indicator.objects.filter(result=self, archived_at__isnull=True),
            *IndicatorPeriod.objects.filter(indicator__result=self, archived_at__isnull=True),
        ]


class IndicatorQuerySet(PlanQuerySet):
    def with_met(self) -> Self:
        """Annotate `latest_target`, `latest_actual` and `met` from each indicator's latest
        active period with a target (latest by end, then start, then code), computed in
        the database. `met` is true when the actual reached the target (at least the
        target for ascending indicators, at most for descending ones), false when it did
        not, and null when there is no such period or it has no actual yet."""
        latest = (
            IndicatorPeriod.objects.filter(
                indicator=OuterRef("pk"), archived_at__isnull=True, target_value__isnull=False
            )
            .order_by(
                F("period_end").desc(nulls_last=True),
                F("period_start").desc(nulls_last=True),
                "-code",
            )
            .values
        )
        return self.annotate(
            latest_target=Subquery(latest("target_value")[:1]),
            latest_actual=Subquery(latest("actual_value")[:1]),
        ).annotate(
            met=Case(
                When(Q(latest_target__isnull=True) | Q(latest_actual__isnull=True), then=None),
                When(ascending=True, latest_actual__gte=F("latest_target"), then=Value(True)),
                When(ascending=False, latest_actual__lte=F("latest_target"), then=Value(True)),
                default=Value(False),
                output_field=models.BooleanField(null=True),
            )
        )


class Indicator(ProjectScoped):
    """What measures a result (IATI `indicator`), with an optional baseline."""

    public_type = "indicator"
    public_order = 8
    project_lookup = "result__project_id"
    audit_fields = (
        "code",
        "result",
        "measure",
        "ascending",
        "title_en",
        "title_es",
        "description_en",
        "description_es",
        "baseline_year",
        "baseline_value",
        "baseline_comment_en",
        "baseline_comment_es",
    )
    published_field = "result__project__is_published"
    agency_path = "result__project__agency_roles__agency"

    code = code_field()
    result = models.ForeignKey(
        Result,
        on_delete=models.PROTECT,
        related_name="indicators",
        help_text="The result the indicator measures.",
    )
    measure = models.CharField(
        max_length=1,
        choices=IndicatorMeasure.choices,
        default=IndicatorMeasure.UNIT,
        help_text="IATI IndicatorMeasure code.",
    )
    ascending = models.BooleanField(
        default=True,
        help_text="Whether a higher value is better (a target is met at or above it).",
    )
    title_en = models.CharField("title (English)", max_length=300)
    title_es = models.CharField("title (Spanish)", max_length=300)
    description_en = models.TextField("description (English)", blank=True)
    description_es = models.TextField("description (Spanish)", blank=True)
    baseline_year = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1900), MaxValueValidator(2100)],
        help_text="The year of the baseline value.",
    )
    baseline_value = value_field("baseline value")
    baseline_comment_en = models.TextField("baseline comment (English)", blank=True)
    baseline_comment_es = models.TextField("baseline comment (Spanish)", blank=True)

    objects = IndicatorQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {translated(self, 'title')}"

    @classmethod
    def issue_code(cls) -> str:
        return _issue(cls, "IN")

    def archive_blocker(self) -> str | None:
        if self.periods.filter(archived_at__isnull=True).exists():
            return "Archive the indicator's periods first."
        return None

    def restore_blocker(self) -> str | None:
        if self.result.archived_at is not None:
            return f"Restore result {self.result.code} first."
        return None

    def audit_dependents(self) -> list[PlanObject]:
        return list(IndicatorPeriod.objects.filter(indicator=self, archived_at__isnull=True))

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.measure == IndicatorMeasure.QUALITATIVE and self.baseline_value is not None:
            errors["baseline_value"] = "A qualitative indicator has no baseline value."
        if self.baseline_value is not None and self.baseline_year is None:
            errors["baseline_year"] = "Give the year of the baseline value."
        if errors:
            raise ValidationError(errors)


class IndicatorPeriod(ProjectScoped):
    """An indicator's target and actual value over a period (IATI `period`).

    Dates are optional: a figure published without the period it covers is kept as an
    actual with no dates, not given invented ones (the IATI export leaves such periods
    out, as IATI needs both dates). The source says where the actual was published.
    """

    public_type = "period"
    public_order = 9
    project_lookup = "indicator__result__project_id"
    audit_fields = (
        "code",
        "indicator",
        "period_start",
        "period_end",
        "target_value",
        "target_comment_en",
        "target_comment_es",
        "actual_value",
        "actual_comment_en",
        "actual_comment_es",
        "source_kind",
        "source_title",
        "source_publisher",
        "source_date",
        "source_url",
    )
    published_field = "indicator__result__project__is_published"
    agency_path = "indicator__result__project__agency_roles__agency"

    code = code_field()
    indicator = models.ForeignKey(
        Indicator,
        on_delete=models.PROTECT,
        related_name="periods",
        help_text="The indicator measured over the period.",
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True, db_index=True)
    target_value = value_field("target value")
    target_comment_en = models.TextField("target comment (English)", blank=True)
    target_comment_es = models.TextField("target comment (Spanish)", blank=True)
    actual_value = value_field("actual value")
    actual_comment_en = models.TextField("actual comment (English)", blank=True)
    actual_comment_es = models.TextField("actual comment (Spanish)", blank=True)
    source_kind = models.CharField(
        max_length=10, choices=SourceKind.choices, default=SourceKind.STATED
    )
    source_title = models.CharField(
        max_length=500, blank=True, help_text="Where the actual value was published."
    )
    source_publisher = models.CharField(max_length=300, blank=True)
    source_date = models.DateField(null=True, blank=True, help_text="Date of publication.")
    source_url = models.URLField(max_length=500, blank=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        verbose_name = "indicator period"
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__isnull=True)
                | Q(period_start__isnull=True)
                | Q(period_end__gte=F("period_start")),
                name="indicator_period_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.period_start or '…'} – {self.period_end or '…'}"

    @classmethod
    def issue_code(cls) -> str:
        return _issue(cls, "IP")

    def restore_blocker(self) -> str | None:
        if self.indicator.archived_at is not None:
            return f"Restore indicator {self.indicator.code} first."
        return None

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.period_start and self.period_end and self.period_end < self.period_start:
            errors["period_end"] = "The period ends before it starts."
        if self.indicator_id is not None and self.indicator.measure == IndicatorMeasure.QUALITATIVE:
            for name in ("target_value", "actual_value"):
                if getattr(self, name) is not None:
                    errors[name] = "A qualitative indicator has no values; use the comment."
        if errors:
            raise ValidationError(errors)
