"""The change feed's view of the audit trail: what partners replay to stay in sync."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from workplan.models import Agency, AuditEvent, plan_types
from workplan.policy import Actor, is_plan_admin

PLURALS = {
    "pillar": "pillars",
    "goal": "goals",
    "agency": "agencies",
    "project": "projects",
    "meeting": "meetings",
    "progress": "progress",
}


def object_path(object_type: str, code: str, version: str = "v1") -> str:
    return f"/api/{version}/{PLURALS[object_type]}/{code}/"


def caller_agency_code(user: Any) -> str | None:
    agency_id = Actor.of(user).agency_id
    if agency_id is None:
        return None
    return Agency.objects.filter(pk=agency_id).values_list("code", flat=True).first()


def events_visible_to(user: Any, agency_code: str | None) -> QuerySet[AuditEvent]:
    """Events about objects the caller could see before or after the change."""
    events = AuditEvent.objects.filter(object_type__in=plan_types())
    if is_plan_admin(user):
        return events
    condition = Q(audience__contains="|*|")
    if agency_code:
        condition |= Q(audience__contains=f"|{agency_code}|")
    return events.filter(condition)


def visible_after(event: AuditEvent, *, admin: bool, agency_code: str | None) -> bool:
    if event.state.get("archived"):
        return False
    return admin or event.public_after or (agency_code in event.agencies_after)


def feed_entry(
    event: AuditEvent, *, base_url: str, admin: bool = True, agency_code: str | None = None
) -> dict[str, Any]:
    """One change as partners see it.

    `object` is the whole state after the change, so a replica can simply store it;
    it is null (and `visible` false) when the caller may no longer see the object:
    archived, or unpublished outside the caller's agency. A replica drops such objects.
    """
    visible = visible_after(event, admin=admin, agency_code=agency_code)
    return {
        "cursor": str(event.pk),
        # Fixed width (always microseconds), so the strings sort in time order too.
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "action": event.action,
        "object_type": event.object_type,
        "code": event.object_code,
        "url": base_url.rstrip("/") + object_path(event.object_type, event.object_code),
        "agency": event.agency.code if event.agency_id and event.agency else None,
        "visible": visible,
        "changes": (
            {name: change["after"] for name, change in event.changes.items()} if visible else {}
        ),
        "object": event.state if visible else None,
    }
