"""Business rules of the work plan. The admin, the API and the commands all go through here."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from workplan.models import (
    Agency,
    Goal,
    Pillar,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
)


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


def _upsert[M: models.Model](
    model: type[M], code: str, values: dict[str, Any], result: ImportResult
) -> tuple[M, str]:
    """Create or update the object with this code; save only when something changed.

    Saving an unchanged object would bump `updated_at` and make every partner that
    syncs with `updated_since` fetch the whole plan again.
    """
    kind = str(model._meta.verbose_name_plural)
    obj = model._default_manager.filter(code=code).first()
    if obj is None:
        obj = model(code=code, **values)
        obj.full_clean()
        obj.save()
        result.created[kind] += 1
        return obj, "created"
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if changed:
        for name in changed:
            setattr(obj, name, values[name])
        obj.full_clean()
        obj.save()
        result.updated[kind] += 1
        return obj, "updated"
    result.unchanged[kind] += 1
    return obj, "unchanged"


def _sync_children(project: Project, data: dict[str, Any], agencies: dict[str, Agency]) -> bool:
    """Make the project's countries, agency roles and links match `data`; True if any changed."""
    changed = False

    wanted_countries = set(data.get("countries", []))
    current_countries = {c.country: c for c in project.countries.all()}
    for country in set(current_countries) - wanted_countries:
        current_countries[country].delete()
        changed = True
    for country in sorted(wanted_countries - set(current_countries)):
        ProjectCountry(project=project, country=country).full_clean()
        ProjectCountry.objects.create(project=project, country=country)
        changed = True

    wanted_roles = {r["agency"]: r for r in data.get("agencies", [])}
    current_roles = {r.agency.code: r for r in project.agency_roles.select_related("agency")}
    for code in set(current_roles) - set(wanted_roles):
        current_roles[code].delete()
        changed = True
    # Clear leads first so that moving the lead between agencies never trips the
    # one-lead-per-country constraint half way through.
    for code, role in current_roles.items():
        if code in wanted_roles and role.is_lead and not wanted_roles[code].get("is_lead"):
            role.is_lead = False
            role.save()
            changed = True
    for code, spec in wanted_roles.items():
        values = {
            "role": spec["role"],
            "is_lead": bool(spec.get("is_lead", False)),
            "source": spec.get("source", "stated"),
        }
        existing = current_roles.get(code)
        if existing is None:
            role = ProjectAgencyRole(project=project, agency=agencies[code], **values)
            role.full_clean(exclude=["country"])
            role.save()
            changed = True
        elif any(getattr(existing, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(existing, k, v)
            existing.save()
            changed = True

    wanted_links = {link["url"]: link for link in data.get("links", [])}
    current_links = {link.url: link for link in project.links.all()}
    for url in set(current_links) - set(wanted_links):
        current_links[url].delete()
        changed = True
    for url, spec in wanted_links.items():
        values = {"label_en": spec["label_en"], "label_es": spec["label_es"]}
        link = current_links.get(url)
        if link is None:
            link = ProjectLink(project=project, url=url, **values)
            link.full_clean()
            link.save()
            changed = True
        elif any(getattr(link, k) != v for k, v in values.items()):
            ProjectLink.objects.filter(pk=link.pk).update(**values)
            changed = True
    return changed


@transaction.atomic
def plan_import(*, data: dict[str, Any]) -> ImportResult:
    """Load a whole plan document (the format of `fixtures/workplan-2021.json`).

    Idempotent: objects are matched by code and updated in place; running it twice
    changes nothing the second time. Objects absent from the document are left alone.
    """
    result = ImportResult()
    text = ("description_en", "description_es")

    pillars = {}
    for p in data.get("pillars", []):
        values = {k: p[k] for k in ("number", "name_en", "name_es")}
        values |= {k: p.get(k, "") for k in text}
        pillars[p["code"]], _ = _upsert(Pillar, p["code"], values, result)

    goals = {}
    for g in data.get("goals", []):
        pillar = pillars.get(g["pillar"]) or Pillar.objects.get(code=g["pillar"])
        values = {"pillar": pillar} | {k: g[k] for k in ("number", "title_en", "title_es")}
        values |= {k: g.get(k, "") for k in text}
        goals[g["code"]], _ = _upsert(Goal, g["code"], values, result)

    agencies: dict[str, Agency] = {}
    for a in data.get("agencies", []):
        values = {
            k: a.get(k, "")
            for k in ("acronym", "country", "name_en", "name_es", "organisation_type", "website")
        }
        agencies[a["code"]], _ = _upsert(Agency, a["code"], values, result)
    for a in data.get("agencies", []):  # parents may come after their children
        parent = agencies[a["parent"]] if a.get("parent") else None
        agency = agencies[a["code"]]
        if agency.parent_id != (parent.pk if parent else None):
            agency.parent = parent
            agency.full_clean()
            agency.save()
    known_agencies = {a.code: a for a in Agency.objects.all()}

    for pr in data.get("projects", []):
        goal = goals.get(pr["goal"]) or Goal.objects.get(code=pr["goal"])
        budget = pr.get("budget") or {}
        values = {
            "goal": goal,
            "status": pr.get("status", "1"),
            "budget_amount": Decimal(str(budget["amount"])) if budget else None,
            "budget_currency": budget.get("currency", "") if budget else "",
        }
        values |= {k: pr[k] for k in ("title_en", "title_es")}
        values |= {k: pr.get(k, "") for k in text}
        values |= {
            k: _date(pr.get(k))
            for k in ("planned_start", "planned_end", "actual_start", "actual_end")
        }
        project, state = _upsert(Project, pr["code"], values, result)
        if _sync_children(project, pr, known_agencies) and state == "unchanged":
            # Only its countries, agencies or links changed: still a change to the project.
            result.unchanged["projects"] -= 1
            result.updated["projects"] += 1
            Project.objects.filter(pk=project.pk).update(updated_at=timezone.now())
    return result


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
