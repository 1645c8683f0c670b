"""Who may do what: roles of partner users, resolved once per user object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from workplan.models import AgencyMembership


class Role(models.TextChoices):
    READER = "reader", "Reader"
    EDITOR = "editor", "Agency editor"
    ADMIN = "admin", "Plan admin"


def membership_of(user: Any) -> AgencyMembership | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.membership
    except models.ObjectDoesNotExist:
        return None


def is_plan_admin(user: Any) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    membership = membership_of(user)
    return membership is not None and membership.role == Role.ADMIN


def agency_id_of(user: Any) -> int | None:
    """The agency a partner user acts for, or None."""
    if user is None or not getattr(user, "is_active", False):
        return None
    membership = membership_of(user)
    return membership.agency_id if membership is not None else None


def is_agency_editor(user: Any) -> bool:
    membership = membership_of(user)
    return (
        membership is not None
        and user.is_active
        and membership.role == Role.EDITOR
        and membership.agency_id is not None
    )
