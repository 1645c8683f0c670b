"""Business rules of the work plan. The API, the admin and the commands all go through here.

Every write records an audit event with the fields before and after, moves the
object's version by one, and runs in one transaction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from workplan.access import agency_id_of, is_plan_admin
from workplan.models import (
    Agency,
    ApiToken,
    AuditAction,
    AuditEvent,
    Goal,
    Pillar,
    PlanObject,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
)

# -- errors ---------------------------------------------------------------------


class PlanRuleError(Exception):
    """The change conflicts with the state of the plan (the API answers 409)."""


class VersionMismatch(Exception):
    """The object changed since the client read it (the API answers 412)."""


# -- who acts ------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who makes a change, and through what; recorded in the audit trail."""

    user: Any = None
    token: ApiToken | None = None
    via: str = "api"
    request_id: str = ""

    @property
    def is_admin(self) -> bool:
        return is_plan_admin(self.user)

    @property
    def agency_id(self) -> int | None:
        return agency_id_of(self.user)


SYSTEM = Actor(via="command")

# -- snapshots and audit ---------------------------------------------------------

OBJECT_TYPE_OF: dict[type[PlanObject], str] = {
    Pillar: "pillar",
    Goal: "goal",
    Agency: "agency",
    Project: "project",
}

SNAPSHOT_FIELDS: dict[type[PlanObject], tuple[str, ...]] = {
    Pillar: ("code", "number", "name_en", "name_es", "description_en", "description_es"),
    Goal: ("code", "pillar", "number", "title_en", "title_es", "description_en", "description_es"),
    Agency: (
        "code",
        "acronym",
        "country",
        "name_en",
        "name_es",
        "organisation_type",
        "parent",
        "website",
    ),
    Project: (
        "code",
        "goal",
        "title_en",
        "title_es",
        "description_en",
        "description_es",
        "status",
        "announced_on",
        "planned_start",
        "planned_end",
        "actual_start",
        "actual_end",
        "budget_amount",
        "budget_currency",
        "is_published",
    ),
}


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return getattr(value, "code", value.pk)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot(obj: PlanObject) -> dict[str, Any]:
    """The object's public state as JSON values (related objects by code)."""
    data = {name: _plain(getattr(obj, name)) for name in SNAPSHOT_FIELDS[type(obj)]}
    data["archived"] = obj.archived_at is not None
    if isinstance(obj, Project) and obj.pk:
        data["countries"] = sorted(obj.countries.values_list("country", flat=True))
        data["participating_agencies"] = [
            {"agency": code, "role": role, "is_lead": lead, "source": source}
            for code, role, lead, source in obj.agency_roles.order_by("agency__code").values_list(
                "agency__code", "role", "is_lead", "source"
            )
        ]
        data["links"] = list(obj.links.order_by("url").values("url", "label_en", "label_es"))
    return data


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"before": before.get(name), "after": value}
        for name, value in after.items()
        if before.get(name) != value
    }


def audience(state: dict[str, Any]) -> tuple[bool, list[str]]:
    """Who may see an object in this state: (everyone?, codes of agencies that may).

    Nobody sees an archived or absent object; an unpublished project is seen by its
    agencies (and the plan admins, who see everything).
    """
    if not state or state.get("archived"):
        return False, []
    if "is_published" in state:
        agencies = sorted(p["agency"] for p in state.get("participating_agencies", []))
        return bool(state["is_published"]), agencies
    return True, []


# Any constant: the key of the advisory lock that orders audit events.
AUDIT_LOCK_KEY = 4_207_202_112


def _serialize_audit_writers() -> None:
    """Make audit event ids follow commit order, so the change feed never skips one.

    PostgreSQL hands out ids at insert time: a slow transaction could commit id N after
    a partner already read N+1 and moved its cursor past N. A transaction-scoped
    advisory lock, held until commit, makes writers of audit events take turns.
    SQLite already allows one writer at a time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK_KEY])


def audit_record(
    *,
    action: str,
    obj: PlanObject,
    actor: Actor,
    before: dict[str, Any],
    after: dict[str, Any] | None = None,
) -> AuditEvent | None:
    """Record a change with the fields before and after; an update that changed nothing
    records nothing. Subscribed webhooks are told once the transaction commits."""
    after = snapshot(obj) if after is None else after
    changes = diff(before, after)
    if action == AuditAction.UPDATE and not changes:
        return None
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    _serialize_audit_writers()
    public_before, agencies_before = audience(before)
    public_after, agencies_after = audience(after)
    audience_tags = {"*"} if public_before or public_after else set()
    audience_tags |= set(agencies_before) | set(agencies_after)
    event = AuditEvent.objects.create(
        occurred_at=timezone.now(),
        action=action,
        object_type=OBJECT_TYPE_OF[type(obj)],
        object_id=obj.pk,
        object_code=obj.code,
        user=user,
        username=user.get_username() if user else "",
        token=actor.token,
        token_prefix=actor.token.prefix if actor.token else "",
        agency_id=agency_id_of(user) if user else None,
        via=actor.via,
        request_id=actor.request_id[:200],
        changes=changes,
        state=after,
        public_before=public_before,
        public_after=public_after,
        agencies_before=agencies_before,
        agencies_after=agencies_after,
        audience="|" + "|".join(sorted(audience_tags)) + "|" if audience_tags else "",
    )
    from workplan.webhooks import webhook_events_enqueue

    webhook_events_enqueue(event)
    return event


# -- versions ----------------------------------------------------------------------


def _claim_version(obj: PlanObject, expected_version: int | None) -> None:
    """Move the version by one, only if it is still `expected_version`.

    The check and the write are one UPDATE, so of two writers holding the same
    version exactly one wins; the other gets VersionMismatch. With no expected
    version (admin forms, commands) the version still moves.
    """
    rows = type(obj)._default_manager.filter(pk=obj.pk)
    if expected_version is not None:
        rows = rows.filter(version=expected_version)
    if rows.update(version=F("version") + 1) != 1:
        raise VersionMismatch(f"{obj.code} has changed since version {expected_version}.")
    obj.version = type(obj)._default_manager.values_list("version", flat=True).get(pk=obj.pk)


def _claim_current(obj: PlanObject, expected_version: int | None) -> None:
    """Claim the version, then work on the row as it is now.

    Without If-Match (bulk, commands) the object in hand may be older than the row:
    writing it back would silently undo someone else's change. The UPDATE above holds
    the row lock, so reloading here sees the latest committed state.
    """
    _claim_version(obj, expected_version)
    if expected_version is None:
        obj.refresh_from_db()


def version_bump(obj: PlanObject) -> None:
    """Move the version of an object that is being saved outside the API (admin forms)."""
    _claim_version(obj, None)


# -- project children ----------------------------------------------------------------

CHILD_FIELDS = ("countries", "agency_roles", "links")


def _set_countries(project: Project, countries: list[str]) -> None:
    wanted = set(countries)
    project.countries.exclude(country__in=wanted).delete()
    existing = set(project.countries.values_list("country", flat=True))
    for country in sorted(wanted - existing):
        row = ProjectCountry(project=project, country=country)
        row.full_clean()
        row.save()


def _set_agency_roles(project: Project, roles: list[dict[str, Any]]) -> None:
    # Check the list as a whole first: row by row, a second lead would only surface as
    # a database error.
    agency_roles_check([(spec["agency"], bool(spec.get("is_lead", False))) for spec in roles])
    wanted = {spec["agency"].pk: spec for spec in roles}
    project.agency_roles.exclude(agency_id__in=wanted).delete()
    # Fresh queries, not the related managers: a caller may have prefetched them.
    existing = {r.agency_id: r for r in ProjectAgencyRole.objects.filter(project=project)}
    # Clear leads first, so moving the lead never trips one-lead-per-country half way.
    for agency_id, row in existing.items():
        if row.is_lead and not wanted[agency_id].get("is_lead", False):
            row.is_lead = False
            row.save()
    for agency_id, spec in wanted.items():
        values = {
            "role": spec["role"],
            "is_lead": bool(spec.get("is_lead", False)),
            "source": spec.get("source") or "stated",
        }
        row = existing.get(agency_id) or ProjectAgencyRole(project=project, agency=spec["agency"])
        if row.pk and all(getattr(row, k) == v for k, v in values.items()):
            continue
        for k, v in values.items():
            setattr(row, k, v)
        row.full_clean(exclude=["country", "project"])
        row.save()
    agency_roles_check(
        [
            (r.agency, r.is_lead)
            for r in ProjectAgencyRole.objects.filter(project=project).select_related("agency")
        ]
    )


def agency_roles_check(roles: list[tuple[Agency, bool]]) -> None:
    """Each agency once, and at most one lead agency per country."""
    agencies = [agency.pk for agency, _ in roles]
    if len(agencies) != len(set(agencies)):
        raise ValidationError({"participating_agencies": "An agency can take part only once."})
    lead_countries = [agency.country for agency, is_lead in roles if is_lead]
    if len(lead_countries) != len(set(lead_countries)):
        raise ValidationError(
            {"participating_agencies": "At most one agency leads the project for each country."}
        )


def _set_links(project: Project, links: list[dict[str, Any]]) -> None:
    wanted = {link["url"]: link for link in links}
    project.links.exclude(url__in=wanted).delete()
    existing = {link.url: link for link in ProjectLink.objects.filter(project=project)}
    for url, spec in wanted.items():
        row = existing.get(url) or ProjectLink(project=project, url=url)
        row.label_en, row.label_es = spec.get("label_en", ""), spec.get("label_es", "")
        row.full_clean(exclude=["project"])
        row.save()


def _set_children(project: Project, data: dict[str, Any]) -> None:
    if "countries" in data:
        _set_countries(project, data["countries"])
    if "agency_roles" in data:
        _set_agency_roles(project, data["agency_roles"])
    if "links" in data:
        _set_links(project, data["links"])


def _check_editor_rules(actor: Actor, data: dict[str, Any], project: Project | None) -> None:
    """What an agency editor may not do, even on a project it may edit."""
    if actor.is_admin or actor.via != "api":
        return
    if "is_published" in data:
        raise ValidationError({"is_published": "Only plan admins publish or unpublish projects."})
    if "agency_roles" not in data:
        if project is None:
            raise ValidationError(
                {"participating_agencies": "Name your agency among the participating agencies."}
            )
        return
    own = actor.agency_id
    submitted = {spec["agency"].pk: spec for spec in data["agency_roles"]}
    if own not in submitted:
        raise ValidationError(
            {"participating_agencies": "Your agency must take part in the project."}
        )
    current: dict[int, tuple[str, bool, str]] = {}
    if project is not None:
        current = {r.agency_id: (r.role, r.is_lead, r.source) for r in project.agency_roles.all()}
    for index, spec in enumerate(data["agency_roles"]):
        agency_id = spec["agency"].pk
        if agency_id == own:
            continue
        proposed = (spec["role"], bool(spec.get("is_lead", False)), spec.get("source") or "stated")
        if current.get(agency_id) != proposed:
            raise ValidationError(
                {
                    f"participating_agencies.{index}.agency": (
                        "Only plan admins change another agency's participation."
                    )
                }
            )
    removed = set(current) - set(submitted)
    if removed:
        codes = ", ".join(
            sorted(Agency.objects.filter(pk__in=removed).values_list("code", flat=True))
        )
        raise ValidationError(
            {"participating_agencies": f"Only plan admins remove other agencies ({codes})."}
        )


# -- writes ----------------------------------------------------------------------------


def _apply_fields(obj: PlanObject, data: dict[str, Any]) -> None:
    for name, value in data.items():
        if name not in CHILD_FIELDS:
            setattr(obj, name, value)


@transaction.atomic
def plan_object_create[M: PlanObject](*, model: type[M], data: dict[str, Any], actor: Actor) -> M:
    """Create a pillar, goal, agency or project (with its countries, agencies and links)."""
    if model is Project:
        _check_editor_rules(actor, data, None)
    elif not actor.is_admin and actor.via == "api":
        raise PermissionError("Only plan admins create pillars, goals and agencies.")
    obj = model()
    _apply_fields(obj, data)
    obj.full_clean()
    obj.save()
    if isinstance(obj, Project):
        _set_children(obj, data)
    audit_record(action=AuditAction.CREATE, obj=obj, actor=actor, before={})
    return obj


@transaction.atomic
def plan_object_change(
    *, obj: PlanObject, data: dict[str, Any], actor: Actor, expected_version: int | None = None
) -> AuditEvent | None:
    """Change an object in place; with `expected_version`, only if nobody changed it since.

    Returns the audit event, or None when the data changed nothing: then nothing is
    written at all (no new version, no new `updated_at`), so syncing partners see no change.
    """
    if "code" in data and data["code"] != obj.code:
        raise ValidationError({"code": "A code cannot change once it is issued."})
    if isinstance(obj, Project):
        _check_editor_rules(actor, data, obj)
    with transaction.atomic():
        _claim_current(obj, expected_version)
        before = snapshot(obj)
        _apply_fields(obj, data)
        obj.full_clean()
        obj.save()
        if isinstance(obj, Project):
            _set_children(obj, data)
        event = audit_record(action=AuditAction.UPDATE, obj=obj, actor=actor, before=before)
        if event is None:
            transaction.set_rollback(True)
    if event is None:
        obj.refresh_from_db()
    return event


def plan_object_update[M: PlanObject](
    *, obj: M, data: dict[str, Any], actor: Actor, expected_version: int | None = None
) -> M:
    plan_object_change(obj=obj, data=data, actor=actor, expected_version=expected_version)
    return obj


def _archive_blockers(obj: PlanObject) -> str | None:
    if isinstance(obj, Pillar) and obj.goals.active().exists():
        return "Archive the pillar's goals first."
    if isinstance(obj, Goal) and obj.projects.active().exists():
        return "Archive or move the goal's projects first."
    if isinstance(obj, Agency):
        if Project.objects.active().filter(agency_roles__agency=obj).exists():
            return "The agency takes part in active projects; remove it from them first."
        if obj.children.active().exists():
            return "Archive the agency's sub-agencies first."
    return None


def _restore_blockers(obj: PlanObject) -> str | None:
    if isinstance(obj, Goal) and obj.pillar.archived_at is not None:
        return f"Restore pillar {obj.pillar.code} first."
    if isinstance(obj, Project) and obj.goal.archived_at is not None:
        return f"Restore goal {obj.goal.code} first."
    if isinstance(obj, Agency) and obj.parent is not None and obj.parent.archived_at is not None:
        return f"Restore agency {obj.parent.code} first."
    return None


@transaction.atomic
def plan_object_archive(
    *, obj: PlanObject, actor: Actor, expected_version: int | None = None
) -> PlanObject:
    """Take an object out of the plan. Its code stays taken; an admin can restore it."""
    if obj.archived_at is not None:
        raise PlanRuleError(f"{obj.code} is already archived.")
    blocker = _archive_blockers(obj)
    if blocker:
        raise PlanRuleError(blocker)
    _claim_current(obj, expected_version)
    before = snapshot(obj)
    obj.archived_at = timezone.now()
    obj.save(update_fields=["archived_at", "updated_at"])
    audit_record(action=AuditAction.ARCHIVE, obj=obj, actor=actor, before=before)
    return obj


@transaction.atomic
def plan_object_restore(*, obj: PlanObject, actor: Actor) -> PlanObject:
    if obj.archived_at is None:
        raise PlanRuleError(f"{obj.code} is not archived.")
    blocker = _restore_blockers(obj)
    if blocker:
        raise PlanRuleError(blocker)
    _claim_current(obj, None)
    before = snapshot(obj)
    obj.archived_at = None
    obj.save(update_fields=["archived_at", "updated_at"])
    audit_record(action=AuditAction.RESTORE, obj=obj, actor=actor, before=before)
    return obj


@dataclass
class BulkItem:
    index: int
    code: str
    existing: Project | None
    data: dict[str, Any]


class BulkError(Exception):
    """One or more items failed; nothing was written."""

    def __init__(self, errors: list[tuple[int, str, ValidationError]]) -> None:
        super().__init__(f"{len(errors)} item(s) failed")
        self.errors = errors


@transaction.atomic
def project_bulk_upsert(
    *, items: list[BulkItem], actor: Actor, commit: bool = True
) -> list[tuple[str, str]]:
    """Create or update many projects in one transaction: all of them, or none.

    Each item goes through the same rules and audit trail as a single write. Returns
    (code, "created" | "updated" | "unchanged") per item; raises BulkError with every
    failing item's error after rolling everything back. With `commit=False` it only
    checks: everything is rolled back either way (so a caller that already found
    other failing items still learns every item's errors).
    """
    results: list[tuple[str, str]] = []
    errors: list[tuple[int, str, ValidationError]] = []
    for item in items:
        try:
            with transaction.atomic():
                if item.existing is None:
                    plan_object_create(model=Project, data=item.data, actor=actor)
                    results.append((item.code, "created"))
                else:
                    event = plan_object_change(obj=item.existing, data=item.data, actor=actor)
                    results.append((item.code, "updated" if event else "unchanged"))
        except ValidationError as exc:
            errors.append((item.index, item.code, exc))
        except PlanRuleError as exc:
            errors.append((item.index, item.code, ValidationError(str(exc))))
    if errors or not commit:
        transaction.set_rollback(True)
    if errors:
        raise BulkError(errors)
    return results


# -- tokens ------------------------------------------------------------------------------


def api_token_issue(*, token: ApiToken) -> str:
    """Give an unsaved token its secret and save it; returns the plaintext, shown only once."""
    plaintext, token.prefix, token.key_hash = ApiToken.generate()
    token.save()
    return plaintext


def api_token_create(
    *, user: Any, scope: str, name: str = "", expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Issue a token; returns it with its plaintext, which is shown once and never stored."""
    token = ApiToken(user=user, name=name, scope=scope, expires_at=expires_at)
    return token, api_token_issue(token=token)


def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


# -- loading a whole plan ----------------------------------------------------------------


@dataclass
class ImportResult:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        kinds = sorted(set(self.created) | set(self.updated) | set(self.unchanged))
        return "; ".join(
            f"{kind}: {self.created[kind]} created, {self.updated[kind]} updated, "
            f"{self.unchanged[kind]} unchanged"
            for kind in kinds
        )


def _upsert[M: PlanObject](
    model: type[M], code: str, values: dict[str, Any], result: ImportResult, actor: Actor
) -> M:
    """Create or update the object with this code, through the same services as the API.

    An unchanged object is not saved: saving would bump `updated_at` and the version,
    and every partner that syncs would fetch the whole plan again.
    """
    kind = str(model._meta.verbose_name_plural)
    obj = model._default_manager.filter(code=code).first()
    if obj is None:
        obj = plan_object_create(model=model, data={"code": code, **values}, actor=actor)
        result.created[kind] += 1
        return obj
    # plan_object_change writes nothing at all when the values change nothing.
    if plan_object_change(obj=obj, data=values, actor=actor):
        result.updated[kind] += 1
    else:
        result.unchanged[kind] += 1
    return obj


@transaction.atomic
def plan_import(*, data: dict[str, Any], actor: Actor = SYSTEM) -> ImportResult:
    """Load a whole plan document (the format of `fixtures/workplan-2021.json`).

    Idempotent: objects are matched by code and updated in place; running it twice
    changes nothing the second time. Objects absent from the document are left alone.
    """
    result = ImportResult()
    text = ("description_en", "description_es")

    pillars: dict[str, Pillar] = {}
    for p in data.get("pillars", []):
        values = {k: p[k] for k in ("number", "name_en", "name_es")}
        values |= {k: p.get(k, "") for k in text}
        pillars[p["code"]] = _upsert(Pillar, p["code"], values, result, actor)

    goals: dict[str, Goal] = {}
    for g in data.get("goals", []):
        pillar = pillars.get(g["pillar"]) or Pillar.objects.get(code=g["pillar"])
        values = {"pillar": pillar} | {k: g[k] for k in ("number", "title_en", "title_es")}
        values |= {k: g.get(k, "") for k in text}
        goals[g["code"]] = _upsert(Goal, g["code"], values, result, actor)

    agency_docs = data.get("agencies", [])
    codes = {a["code"] for a in agency_docs}
    # Parents before children, so each agency can name its parent as it is created.
    ordered = sorted(agency_docs, key=lambda a: 1 if a.get("parent") in codes else 0)
    for a in ordered:
        values = {
            k: a.get(k, "")
            for k in ("acronym", "country", "name_en", "name_es", "organisation_type", "website")
        }
        values["parent"] = Agency.objects.get(code=a["parent"]) if a.get("parent") else None
        _upsert(Agency, a["code"], values, result, actor)
    agencies = {a.code: a for a in Agency.objects.all()}

    for pr in data.get("projects", []):
        goal = goals.get(pr["goal"]) or Goal.objects.get(code=pr["goal"])
        budget = pr.get("budget") or {}
        values = {
            "goal": goal,
            "status": pr.get("status", "1"),
            "is_published": pr.get("published", True),
            "budget_amount": Decimal(str(budget["amount"])) if budget else None,
            "budget_currency": budget.get("currency", "") if budget else "",
            "countries": list(pr.get("countries", [])),
            "agency_roles": [
                {**spec, "agency": agencies[spec["agency"]]} for spec in pr.get("agencies", [])
            ],
            "links": list(pr.get("links", [])),
        }
        values |= {k: pr[k] for k in ("title_en", "title_es")}
        values |= {k: pr.get(k, "") for k in text}
        values |= {
            k: date.fromisoformat(pr[k]) if pr.get(k) else None
            for k in ("announced_on", "planned_start", "planned_end", "actual_start", "actual_end")
        }
        _upsert(Project, pr["code"], values, result, actor)
    return result
