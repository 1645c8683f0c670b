"""Loading a whole plan document (the format of `fixtures/workplan-2021.json`).

The document is the plan as announced; the database is the plan as it is now, which
partners edit through the API and staff in the admin. `make run` loads the document
every time it starts, so loading must never undo those edits. The loader therefore
records, per object, the values it loaded (`ImportBaseline`), and on the next load
decides field by field (a project's countries, participating agencies and links each
count as one field):

- live value equal to the document's: nothing to do;
- live value equal to the baseline (nobody changed it since it was loaded): take the
  document's value;
- otherwise (edited since, or no baseline because the object was created or changed
  before the loader ever recorded one): keep the live value and report the field as
  kept, unless `overwrite` is asked for, which resets it to the document's value.
  Fields valid only together (`TOGETHER`, e.g. a start and its end) are kept together.

Afterwards the baseline is the document's values. Every write goes through
`plan_object_create` / `plan_object_change` with only the fields that change, so it is
checked, versioned and audited like any other; objects absent from the document are
left alone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone

from workplan.models import (
    Agency,
    Goal,
    ImportBaseline,
    Indicator,
    IndicatorPeriod,
    Meeting,
    Pillar,
    PlanObject,
    ProgressReport,
    Project,
    Result,
)
from workplan.models.base import plain
from workplan.policy import SYSTEM, Actor

from .audit import write_transaction
from .plan_objects import plan_object_change, plan_object_create

# Service data keys whose audit snapshot (and baseline) name differs.
SNAPSHOT_NAMES = {"agency_roles": "participating_agencies"}

# Fields valid only together (a budget's amount and currency, a start before its end):
# when one of them was edited, the others are kept with it, so that a kept value and a
# new one never meet in an object that fails validation and stops the load.
TOGETHER: dict[type[PlanObject], tuple[tuple[str, ...], ...]] = {
    Project: (
        ("budget_amount", "budget_currency"),
        ("planned_start", "planned_end"),
        ("actual_start", "actual_end"),
    ),
    # A report is on a project or on a goal, never both.
    ProgressReport: (("project", "goal"),),
    Indicator: (("baseline_year", "baseline_value"),),
    IndicatorPeriod: (("period_start", "period_end"),),
}


@dataclass
class ImportResult:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    # kind -> ["CODE.field", ...]: edited fields left as they are, or reset on request.
    kept: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    overwritten: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def kinds(self) -> list[str]:
        return sorted(set(self.created) | set(self.updated) | set(self.unchanged))

    def kind_summary(self, kind: str) -> str:
        text = (
            f"{kind}: {self.created[kind]} created, {self.updated[kind]} updated, "
            f"{self.unchanged[kind]} unchanged"
        )
        if self.kept[kind]:
            text += f"; kept {len(self.kept[kind])} edited field(s): " + ", ".join(self.kept[kind])
        if self.overwritten[kind]:
            text += f"; overwrote {len(self.overwritten[kind])} edited field(s): " + ", ".join(
                self.overwritten[kind]
            )
        return text

    def summary(self) -> str:
        return "; ".join(self.kind_summary(kind) for kind in self.kinds())

    @property
    def kept_count(self) -> int:
        return sum(len(fields) for fields in self.kept.values())

    @property
    def overwritten_count(self) -> int:
        return sum(len(fields) for fields in self.overwritten.values())


# -- values as the audit snapshot writes them ------------------------------------------------


def _state_value(model: type[PlanObject], key: str, value: Any) -> Any:
    """A value of the service data in the form of the object's audit snapshot.

    Related lists follow `Project.audit_related` (sorted, with the services' defaults
    filled in); decimals get the field's places, as the database returns them.
    """
    if key == "countries":
        return sorted(set(value))
    if key == "agency_roles":
        return sorted(
            (
                {
                    "agency": spec["agency"].code,
                    "role": spec["role"],
                    "is_lead": bool(spec.get("is_lead", False)),
                    "source": spec.get("source") or "stated",
                }
                for spec in value
            ),
            key=lambda row: row["agency"],
        )
    if key == "links":
        return sorted(
            (
                {
                    "url": link["url"],
                    "label_en": link.get("label_en", ""),
                    "label_es": link.get("label_es", ""),
                }
                for link in value
            ),
            key=lambda row: row["url"],
        )
    if model is Meeting and key in MEETING_ROWS:
        return MEETING_ROWS[key](value)
    model_field = model._meta.get_field(key)
    if isinstance(model_field, models.DecimalField) and value is not None:
        value = Decimal(value).quantize(Decimal(1).scaleb(-(model_field.decimal_places or 0)))
    return plain(value)


def _meeting_chairs(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [
        {
            "agency": spec["agency"].code,
            "person_name": spec["person_name"],
            "position_en": spec.get("position_en", ""),
            "position_es": spec.get("position_es", ""),
        }
        for spec in value
    ]
    countries = {spec["agency"].code: spec["agency"].country for spec in value}
    return sorted(rows, key=lambda r: (countries[r["agency"]], r["agency"], r["person_name"]))


def _meeting_sources(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [
        {
            "title": spec["title"],
            "publisher": spec.get("publisher", ""),
            "date": plain(spec.get("date")),
            "url": spec.get("url", ""),
        }
        for spec in value
    ]
    return sorted(rows, key=lambda r: (r["date"] or "", r["title"]))


def _meeting_projects(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A meeting's state lists only the projects anyone may see (`Meeting.audit_related`).
    rows = [
        {"project": spec["project"].code, "kind": spec.get("kind") or "reviewed"}
        for spec in value
        if spec["project"].is_published and spec["project"].archived_at is None
    ]
    return sorted(rows, key=lambda r: r["project"])


# A meeting's related rows, in the form of `Meeting.audit_related`.
MEETING_ROWS = {
    "chairs": _meeting_chairs,
    "sources": _meeting_sources,
    "projects": _meeting_projects,
}


def _document_state(model: type[PlanObject], values: Mapping[str, Any]) -> dict[str, Any]:
    return {SNAPSHOT_NAMES.get(k, k): _state_value(model, k, v) for k, v in values.items()}


# -- one object ------------------------------------------------------------------------------


class _Loader:
    def __init__(self, actor: Actor, overwrite: bool) -> None:
        self.actor = actor
        self.overwrite = overwrite
        self.result = ImportResult()
        self.baselines = {(b.object_type, b.code): b for b in ImportBaseline.objects.all()}

    def upsert[M: PlanObject](self, model: type[M], code: str, values: dict[str, Any]) -> M:
        """Create the object, or bring the fields nobody edited up to the document."""
        kind = str(model._meta.verbose_name_plural)
        document = _document_state(model, values)
        obj = model._default_manager.filter(code=code).first()
        if obj is None:
            obj = plan_object_create(model=model, data={"code": code, **values}, actor=self.actor)
            self.result.created[kind] += 1
            self._record_baseline(model, code, document)
            return obj

        baseline = self.baselines.get((model.public_type, code))
        loaded = baseline.values if baseline is not None else {}
        live = obj.audit_snapshot()

        def name(key: str) -> str:
            return SNAPSHOT_NAMES.get(key, key)

        differing = [key for key in values if live.get(name(key)) != document[name(key)]]
        edited = {
            key
            for key in differing
            if name(key) not in loaded or live.get(name(key)) != loaded[name(key)]
        }
        for group in TOGETHER.get(model, ()):
            if edited.intersection(group):
                edited |= set(group).intersection(differing)
        changes: dict[str, Any] = {}
        for key in differing:
            if key not in edited:
                changes[key] = values[key]  # as the loader left it: the document's new value
            elif self.overwrite:
                changes[key] = values[key]
                self.result.overwritten[kind].append(f"{code}.{name(key)}")
            else:
                self.result.kept[kind].append(f"{code}.{name(key)}")
        # plan_object_change writes nothing at all when the values change nothing.
        # Against the version the decisions were made on: a write in between (none can
        # come, under the writers' lock) would be refused, never silently undone.
        if changes and plan_object_change(
            obj=obj, data=changes, actor=self.actor, expected_version=obj.version
        ):
            self.result.updated[kind] += 1
        else:
            self.result.unchanged[kind] += 1
        self._record_baseline(model, code, document)
        return obj

    def _record_baseline(self, model: type[PlanObject], code: str, values: dict[str, Any]) -> None:
        baseline = self.baselines.get((model.public_type, code))
        if baseline is None:
            ImportBaseline.objects.create(
                object_type=model.public_type, code=code, values=values, loaded_at=timezone.now()
            )
        elif baseline.values != values:
            baseline.values, baseline.loaded_at = values, timezone.now()
            baseline.save(update_fields=["values", "loaded_at"])


# -- the document ----------------------------------------------------------------------------


def plan_import(
    *, data: dict[str, Any], actor: Actor = SYSTEM, overwrite: bool = False
) -> ImportResult:
    """Load a whole plan document (the format of `fixtures/workplan-2021.json`).

    Creates what is missing and updates, in place by code, only the fields nobody has
    edited since the last load; edited fields are kept and reported, or reset to the
    document's values with `overwrite=True`. Running it twice changes nothing the second
    time. Objects absent from the document are left alone.
    """
    # The writers' lock for the whole load: no API or admin write lands between reading
    # an object's live values and writing the fields judged untouched.
    with write_transaction():
        return _load(data, _Loader(actor, overwrite))


def _load(data: dict[str, Any], loader: _Loader) -> ImportResult:
    text = ("description_en", "description_es")

    pillars: dict[str, Pillar] = {}
    for p in data.get("pillars", []):
        values = {k: p[k] for k in ("number", "name_en", "name_es")}
        values |= {k: p.get(k, "") for k in text}
        pillars[p["code"]] = loader.upsert(Pillar, p["code"], values)

    goals: dict[str, Goal] = {}
    for g in data.get("goals", []):
        pillar = pillars.get(g["pillar"]) or Pillar.objects.get(code=g["pillar"])
        values = {"pillar": pillar} | {k: g[k] for k in ("number", "title_en", "title_es")}
        values |= {k: g.get(k, "") for k in text}
        goals[g["code"]] = loader.upsert(Goal, g["code"], values)

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
        loader.upsert(Agency, a["code"], values)
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
        loader.upsert(Project, pr["code"], values)

    _load_follow_through(data, loader, goals, agencies)
    _load_results(data, loader)
    return loader.result


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _load_follow_through(
    data: dict[str, Any], loader: _Loader, goals: dict[str, Goal], agencies: dict[str, Agency]
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
        meetings[m["code"]] = loader.upsert(Meeting, m["code"], values)

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
        loader.upsert(ProgressReport, r["code"], values)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _load_results(data: dict[str, Any], loader: _Loader) -> None:
    """The projects' results, their indicators and the indicators' periods (each keyed by
    its code, with the same never-undo-an-edit rule as every other object)."""
    text = ("description_en", "description_es")
    for r in data.get("results", []):
        values: dict[str, Any] = {
            "project": Project.objects.get(code=r["project"]),
            "type": r.get("type", "1"),
            "aggregation_status": r.get("aggregation_status"),
            "title_en": r["title_en"],
            "title_es": r["title_es"],
        } | {k: r.get(k, "") for k in text}
        result = loader.upsert(Result, r["code"], values)
        for i in r.get("indicators", []):
            values = {
                "result": result,
                "measure": i.get("measure", "1"),
                "ascending": i.get("ascending", True),
                "title_en": i["title_en"],
                "title_es": i["title_es"],
                "baseline_year": i.get("baseline_year"),
                "baseline_value": _decimal(i.get("baseline_value")),
            } | {k: i.get(k, "") for k in (*text, "baseline_comment_en", "baseline_comment_es")}
            indicator = loader.upsert(Indicator, i["code"], values)
            for p in i.get("periods", []):
                source = p.get("source") or {}
                values = {
                    "indicator": indicator,
                    "period_start": _date(p.get("period_start")),
                    "period_end": _date(p.get("period_end")),
                    "target_value": _decimal(p.get("target_value")),
                    "actual_value": _decimal(p.get("actual_value")),
                    "source_kind": source.get("kind", "stated"),
                    "source_title": source.get("title", ""),
                    "source_publisher": source.get("publisher", ""),
                    "source_date": _date(source.get("date")),
                    "source_url": source.get("url", ""),
                } | {
                    f"{kind}_comment_{lang}": p.get(f"{kind}_comment_{lang}", "")
                    for kind in ("target", "actual")
                    for lang in ("en", "es")
                }
                loader.upsert(IndicatorPeriod, p["code"], values)
