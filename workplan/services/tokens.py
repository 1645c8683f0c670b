"""API tokens: issued by plan admins (or commands), shown once, revoked; audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from workplan.models import Agency, AgencyMembership, ApiToken
from workplan.policy import Action, Actor, check

from .audit import audit_record, write_transaction


def _token_state(token: ApiToken) -> dict[str, Any]:
    return {
        "user": token.user.get_username(),
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "revoked": token.revoked_at is not None,
    }


def api_token_issue(*, actor: Actor, token: ApiToken) -> str:
    """Give an unsaved token its secret and save it; returns the plaintext, shown only once."""
    with write_transaction():
        check(actor, Action.ISSUE_TOKENS)
        plaintext, token.prefix, token.key_hash = ApiToken.generate()
        token.full_clean(exclude=["key_hash", "prefix"])
        token.save()
        audit_record(action="create", obj=token, actor=actor, before={}, after=_token_state(token))
    return plaintext


def api_token_create(
    *,
    actor: Actor,
    user: Any,
    scope: str,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Issue a token; returns it with its plaintext, which is shown once and never stored."""
    token = ApiToken(user=user, name=name, scope=scope, expires_at=expires_at)
    return token, api_token_issue(actor=actor, token=token)


def api_token_rename(*, actor: Actor, token: ApiToken, name: str) -> None:
    with write_transaction():
        check(actor, Action.ISSUE_TOKENS)
        before = _token_state(token)
        token.name = name
        token.save(update_fields=["name"])
        audit_record(
            action="update", obj=token, actor=actor, before=before, after=_token_state(token)
        )


def api_token_revoke(*, actor: Actor, token: ApiToken) -> None:
    with write_transaction():
        check(actor, Action.ISSUE_TOKENS)
        if token.revoked_at is not None:
            return
        before = _token_state(token)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            action="update", obj=token, actor=actor, before=before, after=_token_state(token)
        )


# How often a token's `last_used_at` is written: at most once a minute per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_token_mark_used(*, token: ApiToken, now: datetime | None = None) -> None:
    """Record that `token` authenticated a request (at most once per LAST_USED_RESOLUTION).

    Bookkeeping of the token itself, not a change to the plan or to anyone's rights: no
    policy check, no version and no audit event (the request's own write, if any, is
    audited), and a concurrent stamp may simply win. It lives here so that the services
    stay the one place that writes models.
    """
    now = now or timezone.now()
    if token.last_used_at is not None and now - token.last_used_at <= LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


def _membership_state(membership: AgencyMembership | None) -> dict[str, Any]:
    if membership is None:
        return {}
    code = membership.agency.code if membership.agency else None
    return {"user": membership.user.get_username(), "agency": code, "role": membership.role}


def agency_membership_set(
    *, actor: Actor, user: Any, agency: Agency | None, role: str
) -> AgencyMembership:
    """Give a user its agency and role (what the user and its tokens may do)."""
    with write_transaction():
        check(actor, Action.ISSUE_TOKENS)
        membership = AgencyMembership.objects.filter(user=user).first()
        before = _membership_state(membership)
        membership = membership or AgencyMembership(user=user)
        membership.agency, membership.role = agency, role
        membership.full_clean(exclude=["user"])
        membership.save()
        audit_record(
            action="update" if before else "create",
            obj=membership,
            actor=actor,
            before=before,
            after=_membership_state(membership),
        )
    return membership


def agency_membership_remove(*, actor: Actor, membership: AgencyMembership) -> None:
    with write_transaction():
        check(actor, Action.ISSUE_TOKENS)
        before = _membership_state(membership)
        audit_record(
            action="delete",
            obj=membership,
            actor=actor,
            before=before,
            after=dict.fromkeys(before) | {"deleted": True},
        )
        membership.delete()


def partner_user_set(*, actor: Actor, username: str, agency: Agency | None, role: str) -> Any:
    """Create or update a partner user with its agency and role (for commands)."""
    with write_transaction():
        check(actor, Action.ISSUE_TOKENS)
        user, _ = get_user_model().objects.get_or_create(username=username)
        agency_membership_set(actor=actor, user=user, agency=agency, role=role)
    return user
