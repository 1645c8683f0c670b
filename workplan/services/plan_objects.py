"""Create, change, archive and restore any plan object: one path for every channel.

Each write: asks the policy (so no caller can skip it), takes the writers' lock before
any row lock, compares and moves the version in one UPDATE, validates, writes, and
records the audit event, all in one transaction. A kind of object with related rows
(a project's countries, agencies and links) registers a `RelatedWriter` for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from workplan.models import AuditAction, AuditEvent, PlanObject
from workplan.policy import Action, Actor, can, check, placement_reason

from .audit import audit_record, snapshot, write_transaction
from .errors import PlanRuleError, VersionMismatch


@dataclass(frozen=True)
class RelatedWriter:
    """How a kind of object writes the related rows that belong to its state."""

    fields: tuple[str, ...]
    # (actor, data, object or None for a new one) -> field errors of the actor's write
    check: Callable[[Actor, Mapping[str, Any], Any], dict[str, str]]
    # (object, data) -> writes the related rows named in data
    write: Callable[[Any, Mapping[str, Any]], None]


RELATED_WRITERS: dict[type[PlanObject], RelatedWriter] = {}


def _related(model: type[PlanObject]) -> RelatedWriter | None:
    return RELATED_WRITERS.get(model)


# -- versions ------------------------------------------------------------------------------


def _claim_version(obj: PlanObject, expected_version: int | None) -> None:
    """Move the version by one, only if it is still `expected_version`.

    The check and the write are one UPDATE, so of two writers holding the same
    version exactly one wins; the other gets VersionMismatch.
    """
    rows = type(obj)._default_manager.filter(pk=obj.pk)
    if expected_version is not None:
        rows = rows.filter(version=expected_version)
    if rows.update(version=F("version") + 1) != 1:
        raise VersionMismatch(f"{obj.code} has changed since version {expected_version}.")
    obj.version = type(obj)._default_manager.values_list("version", flat=True).get(pk=obj.pk)


def _claim_current(obj: PlanObject, expected_version: int | None) -> None:
    """Claim the version, then work on the row as it is now.

    Without an expected version (`If-Match: *`, bulk, the loader) the object in hand
    may be older than the row: writing it back would silently undo someone else's
    change. The UPDATE above holds the row lock, so reloading sees the latest state.
    """
    _claim_version(obj, expected_version)
    if expected_version is None:
        obj.refresh_from_db()


# -- rules of a write ------------------------------------------------------------------------


def _write_errors(
    actor: Actor, model: type[PlanObject], data: Mapping[str, Any], obj: PlanObject | None
) -> dict[str, str]:
    errors: dict[str, str] = {}
    published = model.published_field
    if published and published in data and not can(actor, Action.PUBLISH, obj, model=model):
        errors[published] = "Only plan admins publish or unpublish projects."
    related = _related(model)
    if related is not None:
        errors |= related.check(actor, data, obj)
    return errors


def _check_placement(
    actor: Actor, model: type[PlanObject], data: Mapping[str, Any], obj: PlanObject | None
) -> None:
    refusal = placement_reason(actor, model, data, obj)
    if refusal is not None:
        raise refusal


# -- objects whose state reads the written one ------------------------------------------------


def _dependents(obj: PlanObject) -> list[tuple[PlanObject, dict[str, Any]]]:
    """The objects whose audited state reads `obj`'s, with that state before the write."""
    return [(dependent, snapshot(dependent)) for dependent in obj.audit_dependents()]


def _record_dependents(dependents: list[tuple[PlanObject, dict[str, Any]]], actor: Actor) -> None:
    """Record a change for each dependent whose state the write altered (who may see a
    progress report, which public projects a meeting lists). The dependent's own fields
    did not change, so neither do its version and `updated_at`; the change feed and
    webhooks still learn of it, so a replica drops or gains it exactly as lists do."""
    for dependent, before in dependents:
        audit_record(action=AuditAction.UPDATE, obj=dependent, actor=actor, before=before)


def _apply_fields(obj: PlanObject, data: Mapping[str, Any]) -> None:
    related = _related(type(obj))
    skip = related.fields if related else ()
    for name, value in data.items():
        if name not in skip:
            setattr(obj, name, value)


# -- writes --------------------------------------------------------------------------------


def plan_object_create[M: PlanObject](
    *, model: type[M], data: Mapping[str, Any], actor: Actor
) -> M:
    """Create a plan object (with its related rows, for kinds that have them)."""
    with write_transaction():
        check(actor, Action.CREATE, model=model)
        _check_placement(actor, model, data, None)
        errors = _write_errors(actor, model, data, None)
        if errors:
            raise ValidationError(errors)
        obj = model()
        _apply_fields(obj, data)
        if not obj.code:
            obj.code = model.issue_code() or ""
        obj.full_clean()
        obj.save()
        related = _related(model)
        if related is not None:
            related.write(obj, data)
        audit_record(action=AuditAction.CREATE, obj=obj, actor=actor, before={})
    return obj


def plan_object_change(
    *,
    obj: PlanObject,
    data: Mapping[str, Any],
    actor: Actor,
    expected_version: int | None = None,
) -> AuditEvent | None:
    """Change an object in place; with `expected_version`, only if nobody changed it since.

    Returns the audit event, or None when the data changed nothing: then nothing is
    written at all (no new version, no new `updated_at`), so syncing partners see no change.
    """
    if "code" in data and data["code"] != obj.code:
        raise ValidationError({"code": "A code cannot change once it is issued."})
    with write_transaction():
        check(actor, Action.UPDATE, obj)
        _check_placement(actor, type(obj), data, obj)
        errors = _write_errors(actor, type(obj), data, obj)
        if errors:
            raise ValidationError(errors)
        with transaction.atomic():
            _claim_current(obj, expected_version)
            if obj.archived_at is not None:  # archived since the caller read it
                raise PlanRuleError(f"{obj.code} is archived; a plan admin can restore it.")
            before = snapshot(obj)
            dependents = _dependents(obj)
            _apply_fields(obj, data)
            obj.full_clean()
            obj.save()
            related = _related(type(obj))
            if related is not None:
                related.write(obj, data)
            event = audit_record(action=AuditAction.UPDATE, obj=obj, actor=actor, before=before)
            if event is None:
                transaction.set_rollback(True)
            else:
                _record_dependents(dependents, actor)
    if event is None:
        obj.refresh_from_db()
    return event


def plan_object_update[M: PlanObject](
    *, obj: M, data: Mapping[str, Any], actor: Actor, expected_version: int | None = None
) -> M:
    plan_object_change(obj=obj, data=data, actor=actor, expected_version=expected_version)
    return obj


def plan_object_archive[M: PlanObject](
    *, obj: M, actor: Actor, expected_version: int | None = None
) -> M:
    """Take an object out of the plan. Its code stays taken; an admin can restore it."""
    with write_transaction():
        check(actor, Action.ARCHIVE, obj)
        # Checked on the row as it is now (after the claim), not as the caller read it:
        # two archives of the same object must not both succeed.
        _claim_current(obj, expected_version)
        if obj.archived_at is not None:
            raise PlanRuleError(f"{obj.code} is already archived.")
        blocker = obj.archive_blocker()
        if blocker:
            raise PlanRuleError(blocker)
        before = snapshot(obj)
        dependents = _dependents(obj)
        obj.archived_at = timezone.now()
        obj.save(update_fields=["archived_at", "updated_at"])
        audit_record(action=AuditAction.ARCHIVE, obj=obj, actor=actor, before=before)
        _record_dependents(dependents, actor)
    return obj


def plan_object_restore[M: PlanObject](
    *, obj: M, actor: Actor, expected_version: int | None = None
) -> M:
    """Bring an archived object back into the plan (plan admins)."""
    with write_transaction():
        check(actor, Action.RESTORE, obj)
        _claim_current(obj, expected_version)  # then check the row as it is now
        if obj.archived_at is None:
            raise PlanRuleError(f"{obj.code} is not archived.")
        blocker = obj.restore_blocker()
        if blocker:
            raise PlanRuleError(blocker)
        before = snapshot(obj)
        dependents = _dependents(obj)
        obj.archived_at = None
        obj.save(update_fields=["archived_at", "updated_at"])
        audit_record(action=AuditAction.RESTORE, obj=obj, actor=actor, before=before)
        _record_dependents(dependents, actor)
    return obj
