from typing import Any

from django.db import models
from django.db.models import Q

from workplan.choices import MeetingKind, MeetingProjectKind
from workplan.querysets import PlanQuerySet

from .agencies import Agency
from .base import PlanObject, TimeStampedModel, code_field, translated
from .projects import Project

# A meeting is public, so it shows (and audits) only its links to projects anyone may
# see: published and active. A project that stops being public leaves its meetings.
PUBLIC_LINK = Q(project__is_published=True, project__archived_at__isnull=True)


def public_project_links(meeting: "Meeting") -> models.QuerySet["MeetingProject"]:
    return MeetingProject.objects.filter(PUBLIC_LINK, meeting=meeting)


class Meeting(PlanObject):
    """A meeting of the dialogue: a ministerial meeting, or a progress review between them.

    Public while active; only plan admins write meetings. Its chairs, sources and the
    projects it reviewed or launched are rows of their own, written with the meeting.
    """

    public_type = "meeting"
    public_order = 5
    audit_fields = (
        "code",
        "date",
        "kind",
        "place_en",
        "place_es",
        "summary_en",
        "summary_es",
    )

    code = code_field()
    date = models.DateField(db_index=True, help_text="The day the meeting was held.")
    kind = models.CharField(max_length=20, choices=MeetingKind.choices, db_index=True)
    place_en = models.CharField("place (English)", max_length=200)
    place_es = models.CharField("place (Spanish)", max_length=200)
    summary_en = models.TextField("summary (English)", blank=True)
    summary_es = models.TextField("summary (Spanish)", blank=True)
    projects = models.ManyToManyField(Project, through="MeetingProject", related_name="meetings")

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["date", "code"]

    def __str__(self) -> str:
        return f"{self.code} {translated(self, 'place')}"

    def audit_related(self) -> dict[str, Any]:
        # Fresh queries in a fixed order: the snapshot must not depend on prefetching.
        return {
            "chairs": [
                {
                    "agency": agency,
                    "person_name": person,
                    "position_en": position_en,
                    "position_es": position_es,
                }
                for agency, person, position_en, position_es in MeetingChair.objects.filter(
                    meeting=self
                )
                .order_by("country", "agency__code", "person_name")
                .values_list("agency__code", "person_name", "position_en", "position_es")
            ],
            "sources": [
                {**row, "date": row["date"].isoformat() if row["date"] else None}
                for row in MeetingSource.objects.filter(meeting=self)
                .order_by("date", "title")
                .values("title", "publisher", "date", "url")
            ],
            "projects": [
                {"project": code, "kind": kind}
                for code, kind in public_project_links(self)
                .order_by("project__code")
                .values_list("project__code", "kind")
            ],
        }

    def archive_blocker(self) -> str | None:
        codes = list(
            self.progress_reports.filter(archived_at__isnull=True)
            .order_by("code")
            .values_list("code", flat=True)[:5]
        )
        if codes:
            return (
                f"Progress reports name this meeting ({', '.join(codes)}); change or archive "
                "them first."
            )
        return None


class MeetingChair(TimeStampedModel):
    """Someone who chaired a meeting for an agency, and so for its country."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="chairs")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="meeting_chairs")
    person_name = models.CharField(max_length=200)
    position_en = models.CharField(
        "position (English)", max_length=200, blank=True, help_text="Blank where not stated."
    )
    position_es = models.CharField("position (Spanish)", max_length=200, blank=True)
    # Copied from the agency, so meetings filter by country without a join to agencies.
    country = models.CharField(max_length=2, editable=False, db_index=True)

    class Meta:
        ordering = ["meeting", "country", "agency__code", "person_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "agency", "person_name"], name="meeting_chair_once"
            ),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.country = self.agency.country
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.person_name} ({self.agency.code})"


class MeetingSource(models.Model):
    """A published document about a meeting: a joint statement, a fact sheet, remarks."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="sources")
    title = models.CharField(max_length=500, help_text="As published, in its own language.")
    publisher = models.CharField(max_length=300, blank=True, help_text="Blank where not known.")
    date = models.DateField(null=True, blank=True, help_text="Date of publication.")
    url = models.URLField(max_length=500, blank=True, help_text="Blank where none is known.")

    class Meta:
        ordering = ["meeting", "date", "title"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "title"], name="meeting_source_once"),
        ]

    def __str__(self) -> str:
        return self.title


class MeetingProject(models.Model):
    """A project a meeting reviewed or launched."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="project_links")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="meeting_links")
    kind = models.CharField(
        max_length=10, choices=MeetingProjectKind.choices, default=MeetingProjectKind.REVIEWED
    )

    class Meta:
        ordering = ["meeting", "project__code"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "project"], name="meeting_project_once"),
        ]

    def __str__(self) -> str:
        return f"{self.project.code} {self.get_kind_display().lower()}"
