"""The audit trail: every write records who, when, through what, and the state before
and after, in domain terms. API versions render these events for the change feed and
webhooks; nothing here knows the wire format."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from workplan.models import AuditEvent, PlanObject
from workplan.policy import Actor

# Any constant: the key of the advisory lock that orders writers.
WRITE_LOCK_KEY = 4_207_202_112


def _lock_writers() -> None:
    """Make writers take turns, so audit ids follow commit order and locks never cross.

    PostgreSQL hands out ids at insert time: a slow transaction could commit id N after
    a partner already read N+1 and moved its cursor past N, so the change feed would
    skip N. A transaction-scoped advisory lock, held until commit, serializes writers.
    It is taken FIRST, before any row lock, by every write: a writer never waits for it
    while holding a row another writer needs, so bulk and single writes cannot deadlock.
    SQLite already allows one writer at a time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])


@contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction for a write to the plan: the writers' lock first, then anything."""
    with transaction.atomic():
        _lock_writers()
        yield


def snapshot(obj: PlanObject) -> dict[str, Any]:
    """The object's audited state (what its model declares), as JSON values."""
    return obj.audit_snapshot()


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"before": before.get(name), "after": value}
        for name, value in after.items()
        if before.get(name) != value
    }


def _audience_tag(public_before: bool, public_after: bool, agencies: set[str]) -> str:
    tags = {"*"} if public_before or public_after else set()
    tags |= agencies
    return "|" + "|".join(sorted(tags)) + "|" if tags else ""


def audit_record(
    *,
    action: str,
    obj: models.Model,
    actor: Actor,
    before: dict[str, Any],
    after: dict[str, Any] | None = None,
) -> AuditEvent | None:
    """Record a change with the state before and after; an update that changed nothing
    records nothing. Plan objects' events go to subscribed webhooks once the
    transaction commits; other records (tokens, subscriptions) are for the trail only."""
    is_plan_object = isinstance(obj, PlanObject)
    if after is None:
        assert isinstance(obj, PlanObject)
        after = snapshot(obj)
    changes = diff(before, after)
    if action == "update" and not changes:
        return None
    _lock_writers()  # already held by write_transaction(); taken again, harmlessly
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    if is_plan_object:
        audience = type(obj).audience  # type: ignore[attr-defined]
        public_before, agencies_before = audience(before)
        public_after, agencies_after = audience(after)
        object_type, code = type(obj).public_type, obj.code  # type: ignore[attr-defined]
    else:
        public_before = public_after = False
        agencies_before, agencies_after = [], []
        object_type, code = obj._meta.model_name or "", str(obj.pk)
    event = AuditEvent.objects.create(
        occurred_at=timezone.now(),
        action=action,
        object_type=object_type,
        object_id=obj.pk,
        object_code=code,
        user=user,
        username=user.get_username() if user else "",
        token=actor.token,
        token_prefix=actor.token.prefix if actor.token else "",
        agency_id=actor.agency_id if user else None,
        via=actor.via,
        request_id=actor.request_id[:200],
        changes=changes,
        state=after,
        public_before=public_before,
        public_after=public_after,
        agencies_before=agencies_before,
        agencies_after=agencies_after,
        audience=_audience_tag(
            public_before, public_after, set(agencies_before) | set(agencies_after)
        ),
    )
    if is_plan_object:
        from workplan.webhooks import webhook_events_enqueue

        webhook_events_enqueue(event)
    return event
