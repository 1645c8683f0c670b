from django.core.validators import MaxValueValidator
from django.db import models

from workplan.querysets import PlanQuerySet

from .base import PlanObject, code_field, translated


class Pillar(PlanObject):
    """One of the four pillars of the work plan."""

    public_type = "pillar"
    public_order = 1
    audit_fields = ("code", "number", "name_en", "name_es", "description_en", "description_es")

    code = code_field()
    number = models.PositiveSmallIntegerField(unique=True, validators=[MaxValueValidator(999)])
    name_en = models.CharField("name (English)", max_length=200)
    name_es = models.CharField("name (Spanish)", max_length=200)
    description_en = models.TextField("description (English)", blank=True)
    description_es = models.TextField("description (Spanish)", blank=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(number__gte=1), name="pillar_number_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {translated(self, 'name')}"

    def archive_blocker(self) -> str | None:
        if self.goals.active().exists():
            return "Archive the pillar's goals first."
        return None


class Goal(PlanObject):
    """A goal under a pillar."""

    public_type = "goal"
    public_order = 2
    audit_fields = (
        "code",
        "pillar",
        "number",
        "title_en",
        "title_es",
        "description_en",
        "description_es",
    )

    code = code_field()
    pillar = models.ForeignKey(Pillar, on_delete=models.PROTECT, related_name="goals")
    number = models.PositiveSmallIntegerField(validators=[MaxValueValidator(999)])
    title_en = models.CharField("title (English)", max_length=300)
    title_es = models.CharField("title (Spanish)", max_length=300)
    description_en = models.TextField("description (English)", blank=True)
    description_es = models.TextField("description (Spanish)", blank=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["pillar__number", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["pillar", "number"], name="goal_number_unique_in_pillar"
            ),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="goal_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {translated(self, 'title')}"

    def archive_blocker(self) -> str | None:
        if self.projects.active().exists():
            return "Archive or move the goal's projects first."
        if self.progress_reports.filter(archived_at__isnull=True).exists():
            return "Archive or move the progress reports on the goal first."
        return None

    def restore_blocker(self) -> str | None:
        if self.pillar.archived_at is not None:
            return f"Restore pillar {self.pillar.code} first."
        return None
