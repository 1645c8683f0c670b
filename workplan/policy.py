"""Who may do what to which object: the one place that decides rights.

Every caller asks here: the API's base viewset and bulk endpoint, the admin, the
commands, and the services, which assert it themselves so that no channel can skip
it. No rule depends on the channel: a staff user in the admin acts under the same
role as the same user's API token; commands act for the plan itself (`SYSTEM`).

Roles (`workplan.choices.Role`, held by `AgencyMembership`):

- anonymous: reads published, active objects (unless `API_ANONYMOUS_READ` is off);
- reader: also its agency's unpublished objects;
- agency editor: as a reader, and creates, updates and archives the objects its
  agency takes part in (models that declare `agency_path`), without publishing them
  or changing other agencies' participation;
- plan admin (and superusers, and commands): everything, restores archived objects,
  issues tokens and manages webhooks.

Models declare what the policy needs (`PlanObject.published_field`, `agency_path`),
so the rules below hold for every kind of plan object without naming any.

The plan's history follows the same rules: an `Audience` is whose view of the audit
trail the change feed and webhooks show (each API version renders it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q, QuerySet

from workplan.choices import Role

if TYPE_CHECKING:
    from workplan.models import AgencyMembership, ApiToken, AuditEvent, PlanObject


class Action(StrEnum):
    VIEW = "view"
    CREATE = "create"
    UPDATE = "update"
    PUBLISH = "publish"
    ARCHIVE = "archive"
    RESTORE = "restore"
    CHANGE_PARTICIPATION = "change_participation"
    ISSUE_TOKENS = "issue_tokens"
    VIEW_WEBHOOKS = "view_webhooks"
    MANAGE_WEBHOOKS = "manage_webhooks"
    # Read the audit trail (who changed what, from which channel): the whole plan's.
    VIEW_AUDIT = "view_audit"


WRITES = frozenset(Action) - {Action.VIEW, Action.VIEW_WEBHOOKS, Action.VIEW_AUDIT}
ADMIN_ONLY = frozenset(
    {
        Action.VIEW_WEBHOOKS,
        Action.VIEW_AUDIT,
        Action.PUBLISH,
        Action.RESTORE,
        Action.CHANGE_PARTICIPATION,
        Action.ISSUE_TOKENS,
        Action.MANAGE_WEBHOOKS,
    }
)


class NotPermitted(Exception):
    """The actor may not do this. `unauthenticated`: it would need to identify itself."""

    def __init__(self, message: str, *, unauthenticated: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unauthenticated = unauthenticated


def membership_of(user: Any) -> AgencyMembership | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.membership
    except models.ObjectDoesNotExist:
        return None


@dataclass(frozen=True)
class Actor:
    """Who makes a change or a read, and through what; recorded in the audit trail.

    `via` (api, admin, command) is only recorded: no right depends on it.
    """

    user: Any = None
    token: ApiToken | None = None
    via: str = "api"
    request_id: str = ""
    system: bool = False  # commands and the loader act for the plan itself

    @classmethod
    def of(cls, who: Any) -> Actor:
        """An Actor for a user (or the actor itself), for reads that only need the role."""
        return who if isinstance(who, Actor) else cls(user=who)

    @property
    def is_authenticated(self) -> bool:
        return self.system or bool(getattr(self.user, "is_authenticated", False))

    @cached_property
    def membership(self) -> AgencyMembership | None:
        return membership_of(self.user)

    @cached_property
    def role(self) -> str | None:
        if self.system:
            return Role.ADMIN
        user = self.user
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return None
        if user.is_superuser:
            return Role.ADMIN
        membership = self.membership
        if membership is None:
            return None
        if membership.role != Role.ADMIN and membership.agency_id is None:
            return None
        return membership.role

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_editor(self) -> bool:
        return self.role == Role.EDITOR

    @property
    def agency_id(self) -> int | None:
        """The agency the actor acts for, or None."""
        if self.system or not getattr(self.user, "is_active", False):
            return None
        membership = self.membership
        return membership.agency_id if membership is not None else None

    @property
    def read_only_token(self) -> bool:
        from workplan.models import TokenScope

        return self.token is not None and self.token.scope != TokenScope.WRITE


SYSTEM = Actor(via="command", system=True)


def is_plan_admin(who: Any) -> bool:
    return Actor.of(who).is_admin


# -- reads -----------------------------------------------------------------------------


def agency_filter(model: type[PlanObject], agency_id: int) -> Q:
    """Objects of `model` that the agency takes part in (a subquery, not a join, so a
    list never repeats an object)."""
    assert model.agency_path is not None
    ids = model._default_manager.filter(**{model.agency_path: agency_id}).values("pk")
    return Q(pk__in=ids)


def published_condition(model: type[PlanObject]) -> Q:
    """Objects of `model` that are public by their published flag. A flag reached through
    an optional parent (`project__is_published` on a report that may be on a goal instead)
    leaves objects without that parent public: nothing of theirs is unpublished."""
    path = model.published_field
    assert path is not None
    condition = Q(**{path: True})
    first = path.split("__")[0]
    if first != path and model._meta.get_field(first).null:
        condition |= Q(**{f"{first}__isnull": True})
    return condition


def parent_field(model: type[Any]) -> str | None:
    """The foreign key through which objects of `model` take their agencies (a progress
    report's `project`), or None when they name their agencies themselves or have none."""
    path = getattr(model, "agency_path", None)
    if not path or "__" not in path:
        return None
    first = path.split("__")[0]
    field = model._meta.get_field(first)
    return first if field.many_to_one else None


def visible[Q_: QuerySet](who: Any, queryset: Q_, *, include_archived: bool = False) -> Q_:
    """What the actor may read: published (or always public) objects, its agency's
    unpublished ones, everything for plan admins. Archived objects only on request
    (the admin lists them; the API shows them to nobody)."""
    actor = Actor.of(who)
    model = queryset.model
    if not include_archived:
        queryset = queryset.filter(archived_at__isnull=True)
    if actor.is_admin or model.published_field is None:
        return queryset
    condition = published_condition(model)
    if actor.agency_id is not None and model.agency_path is not None:
        condition |= agency_filter(model, actor.agency_id)
    return queryset.filter(condition)


def editable[Q_: QuerySet](who: Any, queryset: Q_) -> Q_:
    """What the actor may change: every active object for plan admins; for an agency
    editor, the active objects its agency takes part in."""
    actor = Actor.of(who)
    model = queryset.model
    queryset = queryset.filter(archived_at__isnull=True)
    if actor.read_only_token:
        return queryset.none()
    if actor.is_admin:
        return queryset
    if actor.is_editor and model.agency_path is not None and actor.agency_id is not None:
        return queryset.filter(agency_filter(model, actor.agency_id))
    return queryset.none()


# -- decisions ---------------------------------------------------------------------------


def reason(
    who: Any,
    action: Action,
    obj: PlanObject | None = None,
    *,
    model: type[Any] | None = None,
) -> NotPermitted | None:
    """Why the actor may not take `action` (on `obj`, or on objects of `model`); None if
    it may. Without `obj`, the answer is whether it may on some object of the model."""
    actor = Actor.of(who)
    model = model or (type(obj) if obj is not None else None)
    if action == Action.VIEW:
        if not actor.is_authenticated and not settings.API_ANONYMOUS_READ:
            return NotPermitted(
                "Authentication credentials were not provided.", unauthenticated=True
            )
        if obj is not None:
            rows = type(obj)._default_manager.filter(pk=obj.pk)
            if not visible(actor, rows, include_archived=actor.is_admin).exists():
                return NotPermitted("Not found.")
        return None
    if not actor.is_authenticated:
        return NotPermitted("Authentication credentials were not provided.", unauthenticated=True)
    if action in WRITES and actor.read_only_token:
        return NotPermitted("This token is read-only.")
    if actor.is_admin:
        return None
    if action in (Action.VIEW_WEBHOOKS, Action.MANAGE_WEBHOOKS):
        return NotPermitted("Only plan admins manage webhooks.")
    if action in ADMIN_ONLY or model is None or getattr(model, "agency_path", None) is None:
        return NotPermitted("Only plan admins may do this.")
    if not actor.is_editor:
        return NotPermitted("Your role does not allow changes to the plan.")
    if (
        obj is not None
        and action in (Action.UPDATE, Action.ARCHIVE)
        and not editable(actor, type(obj)._default_manager.filter(pk=obj.pk)).exists()
    ):
        return NotPermitted("Your agency does not take part in this project.")
    return None


def placement_reason(
    who: Any, model: type[Any], data: Mapping[str, Any], obj: PlanObject | None = None
) -> NotPermitted | None:
    """Why the actor may not put an object where `data` puts it; None if it may.

    An object that takes its agencies from a parent (`parent_field`: a progress report
    from its project) is written by agency editors only under a parent their agency
    takes part in: they may not create it elsewhere, move it there, or attach it to
    something else (a goal); plan admins may.
    """
    actor = Actor.of(who)
    name = parent_field(model)
    if name is None or actor.is_admin:
        return None
    if obj is not None and name not in data:
        return None  # stays where it is, which the actor may already change
    parent = data.get(name)
    label = model._meta.get_field(name).verbose_name
    if parent is None:
        return NotPermitted(f"Only plan admins may do this without a {label}.")
    rows = type(parent)._default_manager.filter(pk=parent.pk)
    if not editable(actor, rows).exists():
        return NotPermitted(f"Your agency does not take part in this {label}.")
    return None


def can(
    who: Any, action: Action, obj: PlanObject | None = None, *, model: type[Any] | None = None
) -> bool:
    return reason(who, action, obj, model=model) is None


def check(
    who: Any, action: Action, obj: PlanObject | None = None, *, model: type[Any] | None = None
) -> None:
    """Raise NotPermitted unless the actor may take `action`."""
    refusal = reason(who, action, obj, model=model)
    if refusal is not None:
        raise refusal


# -- what an agency editor may put in a write ---------------------------------------------


def participation_errors(
    who: Any,
    *,
    submitted: list[tuple[int, tuple[str, bool, str]]] | None,
    current: dict[int, tuple[str, bool, str]] | None,
    agency_codes: dict[int, str],
) -> dict[str, str]:
    """Field errors for a write that names the agencies taking part in an object.

    `submitted`: (agency id, (role, is lead, source)) in the order sent, or None when the
    write leaves participation alone; `current`: the object's participation now, or None
    for a new object. An agency editor must keep its own agency in, and may not add,
    change or remove any other agency's participation (that is CHANGE_PARTICIPATION).
    """
    actor = Actor.of(who)
    if can(actor, Action.CHANGE_PARTICIPATION):
        return {}
    if submitted is None:
        if current is None:
            return {"participating_agencies": "Name your agency among the participating agencies."}
        return {}
    own = actor.agency_id
    if own not in {agency_id for agency_id, _ in submitted}:
        return {"participating_agencies": "Your agency must take part in the project."}
    current = current or {}
    for index, (agency_id, proposed) in enumerate(submitted):
        if agency_id != own and current.get(agency_id) != proposed:
            return {
                f"participating_agencies.{index}.agency": (
                    "Only plan admins change another agency's participation."
                )
            }
    removed = set(current) - {agency_id for agency_id, _ in submitted}
    if removed:
        codes = ", ".join(sorted(agency_codes.get(pk, str(pk)) for pk in removed))
        return {"participating_agencies": f"Only plan admins remove other agencies ({codes})."}
    return {}


# -- the plan's history (change feed, webhooks) -----------------------------------------------


@dataclass(frozen=True)
class Audience:
    """Whose view of the plan's history the audit trail is read for.

    `everything`: every change in full (plan admins, webhook subscriptions of no agency).
    Otherwise changes to objects that were public, or that `agency_code`'s agency could
    see, before or after the change, as each object's model declared it (`audience()`)
    when the change was recorded (`AuditEvent.audience`, `public_after`, `agencies_after`).
    """

    everything: bool = False
    agency_code: str | None = None

    @classmethod
    def of(cls, who: Any) -> Audience:
        """A user's (or an Actor's) view: plan admins see everything."""
        from workplan.models import Agency

        actor = Actor.of(who)
        if actor.is_admin:
            return cls(everything=True)
        agency_id = actor.agency_id
        if agency_id is None:
            return cls()
        code = Agency.objects.filter(pk=agency_id).values_list("code", flat=True).first()
        return cls(agency_code=code)

    @classmethod
    def of_agency(cls, agency_code: str | None) -> Audience:
        """What an agency sees; no agency means everything (the plan's own systems)."""
        return cls(everything=agency_code is None, agency_code=agency_code)

    def _tags(self) -> list[str]:
        return ["|*|", *([f"|{self.agency_code}|"] if self.agency_code else [])]

    def events(self) -> QuerySet[AuditEvent]:
        """Events about plan objects this audience could see before or after the change."""
        from workplan.models import AuditEvent, plan_types

        events = AuditEvent.objects.filter(object_type__in=plan_types())
        if self.everything:
            return events
        condition = Q()
        for tag in self._tags():
            condition |= Q(audience__contains=tag)
        return events.filter(condition)

    def sees(self, event: AuditEvent) -> bool:
        """One event, by the rule of `events()`."""
        return self.everything or any(tag in event.audience for tag in self._tags())

    def sees_after(self, event: AuditEvent) -> bool:
        """Whether it may see the object as the change left it: never once archived."""
        if event.state.get("archived"):
            return False
        return self.everything or event.public_after or self.agency_code in event.agencies_after
