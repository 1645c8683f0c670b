"""Loading a whole plan document (the format of `fixtures/workplan-2021.json`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction

from workplan.models import Agency, Goal, Meeting, Pillar, PlanObject, ProgressReport, Project
from workplan.policy import SYSTEM, Actor

from .plan_objects import plan_object_change, plan_object_create


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

    _load_follow_through(data, result, actor, goals, agencies)
    return result


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _load_follow_through(
    data: dict[str, Any],
    result: ImportResult,
    actor: Actor,
    goals: dict[str, Goal],
    agencies: dict[str, Agency],
) -> None:
    """The dialogue's meetings and the progress reported since the plan was presented."""
    meetings: dict[str, Meeting] = {}
    for m in data.get("meetings", []):
        values: dict[str, Any] = {
            "date": date.fromisoformat(m["date"]),
            "kind": m["kind"],
            "place_en": m["place_en"],
            "place_es": m["place_es"],
            "summary_en": m.get("summary_en", ""),
            "summary_es": m.get("summary_es", ""),
            "chairs": [
                {
                    "agency": agencies[c["agency"]],
                    "person_name": c["person_name"],
                    "position_en": c.get("position_en", ""),
                    "position_es": c.get("position_es", ""),
                }
                for c in m.get("chairs", [])
            ],
            "sources": [
                {
                    "title": src["title"],
                    "publisher": src.get("publisher", ""),
                    "date": _date(src.get("date")),
                    "url": src.get("url", ""),
                }
                for src in m.get("sources", [])
            ],
            "projects": [
                {"project": Project.objects.get(code=link["project"]), "kind": link["kind"]}
                for link in m.get("projects", [])
            ],
        }
        meetings[m["code"]] = _upsert(Meeting, m["code"], values, result, actor)

    for r in data.get("progress", []):
        source = r["source"]
        values = {
            "project": Project.objects.get(code=r["project"]) if r.get("project") else None,
            "goal": (goals.get(r["goal"]) or Goal.objects.get(code=r["goal"]))
            if r.get("goal")
            else None,
            "meeting": (meetings.get(r["meeting"]) or Meeting.objects.get(code=r["meeting"]))
            if r.get("meeting")
            else None,
            "date": date.fromisoformat(r["date"]),
            "narrative_en": r["narrative_en"],
            "narrative_es": r["narrative_es"],
            "source_kind": source.get("kind", "stated"),
            "source_title": source["title"],
            "source_publisher": source.get("publisher", ""),
            "source_date": _date(source.get("date")),
            "source_url": source.get("url", ""),
        }
        _upsert(ProgressReport, r["code"], values, result, actor)
