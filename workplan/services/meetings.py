"""Meetings: their chairs, sources and the projects they reviewed or launched.

Written with the meeting, in the same service call (`plan_object_create/change`), so
they are checked, versioned and audited with it. A list given replaces the current one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from django.core.exceptions import ValidationError

from workplan.models import Agency, Meeting, MeetingChair, MeetingProject, MeetingSource, Project
from workplan.policy import Actor

from .plan_objects import RELATED_WRITERS, RelatedWriter


class ChairSpec(TypedDict):
    agency: Agency
    person_name: str
    position_en: NotRequired[str]
    position_es: NotRequired[str]


class SourceSpec(TypedDict):
    title: str
    publisher: NotRequired[str]
    date: NotRequired[Any]
    url: NotRequired[str]


class MeetingProjectSpec(TypedDict):
    project: Project
    kind: NotRequired[str]


RELATED_FIELDS = ("chairs", "sources", "projects")


def _no_errors(actor: Actor, data: Mapping[str, Any], meeting: Any) -> dict[str, str]:
    # Only plan admins write meetings (no agency_path): the policy has said so already.
    return {}


def _once(keys: list[Any], field: str, message: str) -> None:
    if len(keys) != len(set(keys)):
        raise ValidationError({field: message})


def _set_chairs(meeting: Meeting, chairs: list[ChairSpec]) -> None:
    _once(
        [(c["agency"].pk, c["person_name"]) for c in chairs],
        "chairs",
        "List each chair once per agency.",
    )
    wanted = {(c["agency"].pk, c["person_name"]): c for c in chairs}
    existing = {
        (r.agency_id, r.person_name): r for r in MeetingChair.objects.filter(meeting=meeting)
    }
    for key, row in existing.items():
        if key not in wanted:
            row.delete()
    for key, spec in wanted.items():
        values = {
            "position_en": spec.get("position_en", ""),
            "position_es": spec.get("position_es", ""),
        }
        row = existing.get(key) or MeetingChair(
            meeting=meeting, agency=spec["agency"], person_name=spec["person_name"]
        )
        if row.pk and all(getattr(row, k) == v for k, v in values.items()):
            continue
        for k, v in values.items():
            setattr(row, k, v)
        row.full_clean(exclude=["meeting", "country"])
        row.save()


def _set_sources(meeting: Meeting, sources: list[SourceSpec]) -> None:
    _once([s["title"] for s in sources], "sources", "List each source (by title) once.")
    wanted = {s["title"]: s for s in sources}
    existing = {r.title: r for r in MeetingSource.objects.filter(meeting=meeting)}
    for title, row in existing.items():
        if title not in wanted:
            row.delete()
    for title, spec in wanted.items():
        values = {
            "publisher": spec.get("publisher", ""),
            "date": spec.get("date"),
            "url": spec.get("url", ""),
        }
        row = existing.get(title) or MeetingSource(meeting=meeting, title=title)
        if row.pk and all(getattr(row, k) == v for k, v in values.items()):
            continue
        for k, v in values.items():
            setattr(row, k, v)
        row.full_clean(exclude=["meeting"])
        row.save()


def _set_projects(meeting: Meeting, projects: list[MeetingProjectSpec]) -> None:
    _once([p["project"].pk for p in projects], "projects", "List each project once.")
    archived = sorted(p["project"].code for p in projects if p["project"].archived_at is not None)
    if archived:
        raise ValidationError({"projects": f"Archived project(s): {', '.join(archived)}."})
    wanted = {p["project"].pk: p for p in projects}
    MeetingProject.objects.filter(meeting=meeting).exclude(project_id__in=wanted).delete()
    existing = {r.project_id: r for r in MeetingProject.objects.filter(meeting=meeting)}
    for project_id, spec in wanted.items():
        kind = spec.get("kind") or "reviewed"
        row = existing.get(project_id) or MeetingProject(meeting=meeting, project=spec["project"])
        if row.pk and row.kind == kind:
            continue
        row.kind = kind
        row.full_clean(exclude=["meeting", "project"])
        row.save()


def meeting_related_set(meeting: Meeting, data: Mapping[str, Any]) -> None:
    """Replace the related rows named in `data` (chairs, sources, projects)."""
    if "chairs" in data:
        _set_chairs(meeting, data["chairs"])
    if "sources" in data:
        _set_sources(meeting, data["sources"])
    if "projects" in data:
        _set_projects(meeting, data["projects"])


RELATED_WRITERS[Meeting] = RelatedWriter(
    fields=RELATED_FIELDS, check=_no_errors, write=meeting_related_set
)
