"""A project's results, indicators and periods written with the project (bulk upsert).

Upsert by code, level by level: an item with the code of an existing object of the same
project (result), result (indicator) or indicator (period) changes the fields it sends;
an item with a new code, or without one (a code is issued), creates it. Objects the
request does not name are left as they are (archive them with their own DELETE): a
partner sending part of a framework never loses the rest. Every object is written
through `plan_object_create/change`, so the policy, versions and audit trail apply as
for single writes, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError

from workplan.models import Indicator, IndicatorPeriod, PlanObject, Project, Result
from workplan.policy import Actor

from .plan_objects import plan_object_change, plan_object_create

# What a kind holds, and the field by which what it holds names it.
CHILDREN: dict[type[PlanObject], tuple[str, str]] = {
    Result: ("indicators", "result"),
    Indicator: ("periods", "indicator"),
}


def _prefixed(exc: ValidationError, prefix: str) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError(
            {
                f"{prefix}.{name}" if name != "__all__" else prefix: messages
                for name, messages in exc.message_dict.items()
            }
        )
    return ValidationError({prefix: exc.messages})


def _upsert(
    model: type[PlanObject],
    parent_field: str,
    parent: PlanObject,
    items: Sequence[Mapping[str, Any]],
    actor: Actor,
    path: str,
) -> bool:
    """Create or change `items` under `parent`; True when anything was written."""
    codes = [item["code"] for item in items if item.get("code")]
    if len(codes) != len(set(codes)):
        raise ValidationError({path: "A code appears twice."})
    rows = model._default_manager.filter(**{"code__in": codes})
    existing = {obj.code: obj for obj in rows}
    changed = False
    for index, item in enumerate(items):
        where = f"{path}.{index}"
        data = {k: v for k, v in item.items() if k not in ("indicators", "periods")}
        obj = existing.get(item.get("code") or "")
        try:
            if obj is None:
                obj = plan_object_create(
                    model=model, data={**data, parent_field: parent}, actor=actor
                )
                changed = True
            else:
                if getattr(obj, f"{parent_field}_id") != parent.pk:
                    raise ValidationError({"code": "This code is already in use elsewhere."})
                if obj.archived_at is not None:
                    raise ValidationError({"code": f"{obj.code} is archived."})
                data.pop("code", None)
                changed |= plan_object_change(obj=obj, data=data, actor=actor) is not None
        except ValidationError as exc:
            raise _prefixed(exc, where) from exc
        if type(obj) in CHILDREN:
            name, field = CHILDREN[type(obj)]
            if name in item:
                changed |= _upsert(
                    Indicator if name == "indicators" else IndicatorPeriod,
                    field,
                    obj,
                    item[name],
                    actor,
                    f"{where}.{name}",
                )
    return changed


def project_results_upsert(
    *, project: Project, results: Sequence[Mapping[str, Any]], actor: Actor
) -> bool:
    """Upsert the project's results (with `indicators`, each with `periods`) by code.
    Returns whether anything was written. Field errors are named by their path
    (`results.0.indicators.1.title_en`)."""
    return _upsert(Result, "project", project, results, actor, "results")
