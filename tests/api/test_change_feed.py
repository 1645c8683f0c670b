"""The change feed (`GET /api/v1/changes/`): replaying it rebuilds what the lists show.

The central test loads the real 2021 plan, makes a realistic history through the API
(an agency editor creating projects, some never published; updates; publishing,
unpublishing and participation changes by a plan admin; archives, one restored and
one not; pillar, goal and agency changes), then, for each kind of caller, replays
the whole feed page by page into an empty replica and checks that the replica holds
exactly what the list endpoints show that caller, text in both languages included.

Then the feed's own contract: cursors, `after`, filters, strict parameters, the
`limit` bounds, who receives which entries (unpublished work never leaks, not even as
a tombstone to someone who never saw it), and a pinned query count.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api.test_webhooks import Receiver
from tests.conftest import assert_problem, get_ok, list_all, make_user, token_client
from workplan.choices import Role
from workplan.models import (
    Agency,
    AuditEvent,
    WebhookSubscription,
    new_webhook_secret,
    plan_types,
)
from workplan.webhooks import webhook_attempt

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_throttling")]

FEED = "/api/v1/changes/"
A = "MX-SE"
B = "US-DOC"
RESOURCES = {
    "pillar": "pillars",
    "goal": "goals",
    "agency": "agencies",
    "project": "projects",
    "meeting": "meetings",
    "progress": "progress",
    "result": "results",
    "indicator": "indicators",
    "period": "periods",
}
CALLERS = ("anonymous", "editor_a", "editor_b", "admin")
# load_workplan records one create per object: 4 pillars, 11 goals, 11 agencies, 11 projects,
# 4 meetings, 9 progress reports, 2 results, 3 indicators and 3 periods.
PLAN_EVENTS = 58


def plan_events() -> Any:
    """Audit events of plan objects (tokens and users made by fixtures are audited too)."""
    return AuditEvent.objects.filter(object_type__in=plan_types())


# -- world -------------------------------------------------------------------------


@pytest.fixture
def clients(real_plan: None) -> dict[str, APIClient]:
    return {
        "anonymous": token_client(),
        "reader_a": token_client(make_user("reader-se", Role.READER, A)),
        "editor_a": token_client(make_user("editor-se", Role.EDITOR, A)),
        "editor_b": token_client(make_user("editor-doc", Role.EDITOR, B)),
        "admin": token_client(make_user("plan-admin", Role.ADMIN)),
    }


# -- writing through the API ----------------------------------------------------------


def detail_url(resource: str, code: str) -> str:
    return f"/api/v1/{resource}/{code}/"


def create(client: APIClient, resource: str, body: dict[str, Any]) -> str:
    """POST to a list (`projects/X/progress` too); returns the new object's code."""
    response = client.post(f"/api/v1/{resource}/", body, format="json")
    assert response.status_code == 201, (body, response.content[:800])
    return response.json()["code"]


def change(client: APIClient, resource: str, code: str, body: dict[str, Any]) -> None:
    """PATCH with the ETag just read, as a careful partner does."""
    url = detail_url(resource, code)
    etag = client.get(url)["ETag"]
    response = client.patch(url, body, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200, (code, body, response.content[:800])


def archive(client: APIClient, resource: str, code: str) -> None:
    url = detail_url(resource, code)
    etag = client.get(url)["ETag"]
    response = client.delete(url, HTTP_IF_MATCH=etag)
    assert response.status_code == 204, (code, response.content[:800])


def restore(client: APIClient, resource: str, code: str) -> None:
    response = client.post(detail_url(resource, code) + "restore/")
    assert response.status_code == 200, (code, response.content[:800])


def participation(client: APIClient, code: str) -> list[dict[str, Any]]:
    """The project's participating agencies as a write body, from its detail."""
    body = get_ok(client, detail_url("projects", code))
    return [
        {
            "agency": p["agency"]["code"],
            "role": p["role"],
            "is_lead": p["is_lead"],
            "source": p["source"],
        }
        for p in body["participating_agencies"]
    ]


FRAMEWORK: dict[str, str] = {}


def new_result(title: str) -> dict[str, Any]:
    return {"type": "2", "title_en": title, "title_es": f"{title} (es)"}


def new_indicator(result: str) -> dict[str, Any]:
    return {
        "result": result,
        "measure": "1",
        "title_en": f"Indicator of {result}",
        "title_es": f"Indicador de {result}",
        "baseline": {"year": 2021, "value": "0"},
    }


def new_period(indicator: str, *, actual: str) -> dict[str, Any]:
    return {
        "indicator": indicator,
        "start": "2026-01-01",
        "end": "2026-06-30",
        "target": {"value": "10"},
        "actual": {"value": actual},
    }


def new_project(
    code: str, goal: str, agency: str, *, lead: bool = True, **extra: Any
) -> dict[str, Any]:
    return {
        "code": code,
        "goal": goal,
        "title_en": f"{code} title",
        "title_es": f"Título de {code}",
        "description_en": f"What {code} does.",
        "description_es": f"Lo que hace {code}.",
        "status": "1",
        "countries": ["MX", "US"],
        "participating_agencies": [{"agency": agency, "role": "4", "is_lead": lead}],
        **extra,
    }


def new_report(narrative: str, **extra: Any) -> dict[str, Any]:
    return {
        "date": "2026-03-31",
        "narrative_en": f"{narrative}.",
        "narrative_es": f"{narrative} (es).",
        "source": {"kind": "entered", "title": f"Report: {narrative}", "publisher": "SE"},
        **extra,
    }


def new_meeting(code: str, day: str, projects: list[str]) -> dict[str, Any]:
    return {
        "code": code,
        "date": day,
        "kind": "review",
        "place_en": "Monterrey",
        "place_es": "Monterrey",
        "summary_en": "A review.",
        "summary_es": "Una revisión.",
        "chairs": [{"agency": A, "person_name": "Chair of A", "position_en": "Undersecretary"}],
        "sources": [{"title": "Minutes", "publisher": "SE", "date": day}],
        "projects": [{"project": code, "kind": "reviewed"} for code in projects],
    }


# Progress reports made in the history, by the role they play in it (codes are issued).
REPORTS: dict[str, str] = {}


def make_history(c: dict[str, APIClient]) -> None:
    se, doc, admin = c["editor_a"], c["editor_b"], c["admin"]

    # An editor of A creates projects; editors cannot publish, so they start unpublished.
    create(se, "projects", new_project("HLED-2026-01", "P1-G1", A, countries=["MX"]))
    # ... and reports progress on one, on its page: only A and the admins ever see it.
    REPORTS["draft_a"] = create(se, "projects/HLED-2026-01/progress", new_report("Draft of A"))
    change(
        se,
        "projects",
        "HLED-2026-01",
        {"title_en": "Supplier development", "title_es": "Desarrollo de proveedores"},
    )
    change(se, "projects", "HLED-2026-01", {"status": "2", "planned_start": "2026-02-01"})
    create(se, "projects", new_project("HLED-2026-02", "P4-G2", A))
    create(se, "projects", new_project("HLED-2026-03", "P3-G1", A))
    # Progress on 03, which is about to be handed over to B: A loses it, B gains it.
    REPORTS["handed_over"] = create(
        se, "progress", new_report("Handed over", project="HLED-2026-03")
    )
    create(se, "projects", new_project("HLED-2026-05", "P1-G3", A))
    create(doc, "projects", new_project("HLED-2026-04", "P2-G1", B, countries=["US"]))
    change(doc, "projects", "HLED-2026-04", {"description_es": "Descripción revisada."})

    # The admin publishes one of A's projects and brings B in.
    change(
        admin,
        "projects",
        "HLED-2026-02",
        {
            "is_published": True,
            "participating_agencies": [
                *participation(admin, "HLED-2026-02"),
                {"agency": B, "role": "1", "is_lead": True},
            ],
        },
    )
    # ... hands another unpublished one from A over to B: A loses sight of it.
    change(
        admin,
        "projects",
        "HLED-2026-03",
        {"participating_agencies": [{"agency": B, "role": "4", "is_lead": True}]},
    )
    # An unpublished project archived by its editor: only A ever knew of it.
    archive(se, "projects", "HLED-2026-05")

    # Editors update published projects their agency takes part in.
    change(
        se,
        "projects",
        "HLED-2021-01",
        {"title_es": "Cadenas de suministro (revisado)", "status": "2"},
    )
    change(doc, "projects", "HLED-2021-06", {"countries": ["CA", "MX", "US"]})
    roles = participation(doc, "HLED-2021-10")
    for role in roles:
        if role["agency"] == B:
            role.update(role="2", is_lead=True)
    change(doc, "projects", "HLED-2021-10", {"participating_agencies": roles})

    # Participation changed by the admin on a published project.
    change(
        admin,
        "projects",
        "HLED-2021-07",
        {
            "participating_agencies": [
                *participation(admin, "HLED-2021-07"),
                {"agency": A, "role": "3", "is_lead": False, "source": "inferred"},
            ]
        },
    )

    # Meetings and progress on published projects, before some of them are unpublished.
    create(admin, "meetings", new_meeting("HLED-M-2026-02-01", "2026-02-01", ["HLED-2021-04"]))
    REPORTS["on_04"] = create(se, "progress", new_report("On 04", project="HLED-2021-04"))
    REPORTS["on_06"] = create(
        doc,
        "projects/HLED-2021-06/progress",
        new_report("On 06", meeting="HLED-M-2026-02-01"),
    )
    change(doc, "progress", REPORTS["on_06"], {"narrative_es": "Sobre 06, revisado."})
    REPORTS["on_goal"] = create(admin, "progress", new_report("On a goal", goal="P4-G2"))
    REPORTS["archived"] = create(admin, "progress", new_report("Gone", project="HLED-2021-02"))
    archive(admin, "progress", REPORTS["archived"])
    REPORTS["restored"] = create(se, "progress", new_report("Back", project="HLED-2021-01"))
    archive(se, "progress", REPORTS["restored"])
    restore(admin, "progress", REPORTS["restored"])

    # Results, indicators and periods, seen as their projects are: on 04 (A and B, later
    # unpublished), on 03 (neither, later unpublished) and on 01 (moved to A's draft).
    FRAMEWORK["r04"] = create(se, "projects/HLED-2021-04/results", new_result("On 04"))
    FRAMEWORK["i04"] = create(doc, "indicators", new_indicator(FRAMEWORK["r04"]))
    FRAMEWORK["p04"] = create(se, "periods", new_period(FRAMEWORK["i04"], actual="5"))
    change(doc, "periods", FRAMEWORK["p04"], {"actual": {"value": "7", "comment_en": "More"}})
    FRAMEWORK["r03"] = create(admin, "results", {**new_result("On 03"), "project": "HLED-2021-03"})
    FRAMEWORK["i03"] = create(admin, "indicators", new_indicator(FRAMEWORK["r03"]))
    FRAMEWORK["p03"] = create(admin, "periods", new_period(FRAMEWORK["i03"], actual="1"))
    FRAMEWORK["r01"] = create(se, "projects/HLED-2021-01/results", new_result("On 01"))
    FRAMEWORK["i01"] = create(se, "indicators", new_indicator(FRAMEWORK["r01"]))
    FRAMEWORK["p01"] = create(se, "periods", new_period(FRAMEWORK["i01"], actual="2"))
    gone = create(se, "periods", new_period(FRAMEWORK["i01"], actual="3"))
    archive(se, "periods", gone)
    change(se, "indicators", FRAMEWORK["i01"], {"ascending": False, "title_es": "Revisado"})
    change(admin, "results", FRAMEWORK["r01"], {"project": "HLED-2026-01"})
    change(
        admin,
        "meetings",
        "HLED-M-2026-02-01",
        {
            "summary_en": "A review, revised.",
            "projects": [
                {"project": "HLED-2021-04", "kind": "reviewed"},
                {"project": "HLED-2021-06", "kind": "launched"},
            ],
        },
    )
    create(admin, "meetings", new_meeting("HLED-M-2026-02-02", "2026-02-02", []))
    archive(admin, "meetings", "HLED-M-2026-02-02")

    # Unpublishing: 03 has neither A nor B; 04 has both.
    change(
        admin,
        "projects",
        "HLED-2021-03",
        {"is_published": False, "title_en": "Border facilitation (under review)"},
    )
    change(admin, "projects", "HLED-2021-04", {"is_published": False})

    # Archive and restore; archive that stays archived.
    archive(se, "projects", "HLED-2021-08")
    restore(admin, "projects", "HLED-2021-08")
    change(se, "projects", "HLED-2021-08", {"description_en": "Restored and revised."})
    archive(doc, "projects", "HLED-2021-09")

    # Pillars, goals and agencies: admins only.
    change(
        admin, "pillars", "P2", {"name_en": "Secure supply chains", "name_es": "Cadenas seguras"}
    )
    change(admin, "goals", "P3-G1", {"title_es": "Objetivo revisado"})
    change(admin, "agencies", "US-USTR", {"name_en": "Office of the U.S. Trade Representative"})
    create(
        admin,
        "pillars",
        {
            "code": "P5",
            "number": 5,
            "name_en": "Energy",
            "name_es": "Energía",
            "description_en": "",
            "description_es": "",
        },
    )
    create(
        admin,
        "goals",
        {
            "code": "P5-G1",
            "pillar": "P5",
            "number": 1,
            "title_en": "Grid integration",
            "title_es": "Integración de redes",
            "description_en": "",
            "description_es": "",
        },
    )
    create(
        admin,
        "agencies",
        {
            "code": "MX-ANAM",
            "acronym": "ANAM",
            "name_en": "National Customs Agency",
            "name_es": "Agencia Nacional de Aduanas",
            "country": "MX",
            "organisation_type": "10",
            "parent": "MX-SHCP",
            "website": "https://www.gob.mx/anam",
        },
    )
    # A project moves to another goal, and so to another pillar.
    change(admin, "projects", "HLED-2021-05", {"goal": "P5-G1"})
    # P2-G2 is now empty: archived for good. A new pillar is archived and restored.
    archive(admin, "goals", "P2-G2")
    create(
        admin,
        "pillars",
        {
            "code": "P6",
            "number": 6,
            "name_en": "Six",
            "name_es": "Seis",
            "description_en": "",
            "description_es": "",
        },
    )
    archive(admin, "pillars", "P6")
    restore(admin, "pillars", "P6")
    change(admin, "pillars", "P6", {"name_es": "Sexto pilar"})
    archive(admin, "agencies", "MX-ANAM")


# -- replica and lists -------------------------------------------------------------------

Replica = dict[tuple[str, str], dict[str, Any]]


def replay(client: APIClient, limit: int) -> Replica:
    """Apply the whole feed to an empty replica, following `next` page by page."""
    replica: Replica = {}
    url = f"{FEED}?limit={limit}"
    last_cursor = -1
    for _ in range(1000):
        body = get_ok(client, url)
        assert len(body["results"]) <= limit
        for entry in body["results"]:
            assert int(entry["cursor"]) > last_cursor
            last_cursor = int(entry["cursor"])
            key = (entry["object_type"], entry["code"])
            if entry["visible"]:
                state = entry["object"]
                assert state["code"] == entry["code"]
                assert state["archived"] is False
                replica[key] = state
            else:
                assert entry["object"] is None and entry["changes"] == {}, entry
                replica.pop(key, None)
        if not body["has_more"]:
            # Caught up: `next` is where to ask again later, and has nothing now.
            later = get_ok(client, body["next"])
            assert later["results"] == [] and later["has_more"] is False
            return replica
        assert body["results"], "has_more with an empty page"
        url = body["next"]
    raise AssertionError("the feed never ended")


def both(translations: dict[str, dict[str, str]], name: str) -> tuple[str, str]:
    return translations["en"][name], translations["es"][name]


def from_lists(client: APIClient) -> dict[str, dict[str, dict[str, Any]]]:
    """What the list endpoints show this caller, in comparable form."""
    view: dict[str, dict[str, dict[str, Any]]] = {}
    view["pillar"] = {
        p["code"]: {
            "number": p["number"],
            "name": both(p["translations"], "name"),
            "description": both(p["translations"], "description"),
        }
        for p in list_all(client, "pillars")
    }
    view["goal"] = {
        g["code"]: {
            "number": g["number"],
            "title": both(g["translations"], "title"),
            "description": both(g["translations"], "description"),
            "pillar": g["pillar"]["code"],
        }
        for g in list_all(client, "goals")
    }
    view["agency"] = {
        a["code"]: {
            "acronym": a["acronym"],
            "name": both(a["translations"], "name"),
            "country": a["country"],
            "organisation_type": a["organisation_type"],
            "parent": a["parent"]["code"] if a["parent"] else None,
            "website": a["website"],
        }
        for a in list_all(client, "agencies")
    }
    view["project"] = {
        p["code"]: {
            "title": both(p["translations"], "title"),
            "description": both(p["translations"], "description"),
            "status": p["status"],
            "is_published": p["is_published"],
            "goal": p["goal"]["code"],
            "pillar": p["pillar"]["code"],
            "planned_start": p["planned_start"],
            "countries": sorted(p["countries"]),
            "agencies": sorted(
                (r["agency"]["code"], r["role"], r["is_lead"], r["source"])
                for r in p["participating_agencies"]
            ),
        }
        for p in list_all(client, "projects")
    }
    view["meeting"] = {
        m["code"]: {
            "date": m["date"],
            "kind": m["kind"],
            "place": both(m["translations"], "place"),
            "summary": both(m["translations"], "summary"),
            "chairs": sorted(
                (c["agency"]["code"], c["person_name"], *both(c["translations"], "position"))
                for c in m["chairs"]
            ),
            "sources": sorted(
                (s["title"], s["publisher"], s["date"], s["url"]) for s in m["sources"]
            ),
            "projects": sorted((p["project"]["code"], p["kind"]) for p in m["projects"]),
        }
        for m in list_all(client, "meetings")
    }
    view["progress"] = {
        r["code"]: {
            "date": r["date"],
            "narrative": both(r["translations"], "narrative"),
            "project": r["project"]["code"] if r["project"] else None,
            "goal": r["goal"]["code"],
            "meeting": r["meeting"]["code"] if r["meeting"] else None,
            "source": (
                r["source"]["kind"],
                r["source"]["title"],
                r["source"]["publisher"],
                r["source"]["date"],
                r["source"]["url"],
            ),
        }
        for r in list_all(client, "progress")
    }
    view["result"] = {
        r["code"]: {
            "project": r["project"]["code"],
            "type": r["type"],
            "aggregation_status": r["aggregation_status"],
            "title": both(r["translations"], "title"),
            "description": both(r["translations"], "description"),
        }
        for r in list_all(client, "results")
    }
    view["indicator"] = {
        i["code"]: {
            "result": i["result"],
            "measure": i["measure"],
            "ascending": i["ascending"],
            "title": both(i["translations"], "title"),
            "baseline": (i["baseline"]["year"], i["baseline"]["value"]) if i["baseline"] else None,
        }
        for i in list_all(client, "indicators")
    }
    view["period"] = {
        p["code"]: {
            "indicator": p["indicator"],
            "dates": (p["start"], p["end"]),
            "target": p["target"]["value"] if p["target"] else None,
            "actual": (p["actual"]["value"], both(p["translations"], "actual_comment"))
            if p["actual"]
            else None,
        }
        for p in list_all(client, "periods")
    }
    return view


def from_replica(replica: Replica) -> dict[str, dict[str, dict[str, Any]]]:
    """The replica in the same form; a project's pillar comes from its goal's record."""
    view: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in RESOURCES}
    for (object_type, code), s in replica.items():
        if object_type == "pillar":
            item = {
                "number": s["number"],
                "name": (s["name_en"], s["name_es"]),
                "description": (s["description_en"], s["description_es"]),
            }
        elif object_type == "goal":
            item = {
                "number": s["number"],
                "title": (s["title_en"], s["title_es"]),
                "description": (s["description_en"], s["description_es"]),
                "pillar": s["pillar"],
            }
        elif object_type == "agency":
            item = {
                "acronym": s["acronym"],
                "name": (s["name_en"], s["name_es"]),
                "country": s["country"],
                "organisation_type": s["organisation_type"],
                "parent": s["parent"],
                "website": s["website"],
            }
        elif object_type == "meeting":
            item = {
                "date": s["date"],
                "kind": s["kind"],
                "place": (s["place_en"], s["place_es"]),
                "summary": (s["summary_en"], s["summary_es"]),
                "chairs": sorted(
                    (c["agency"], c["person_name"], c["position_en"], c["position_es"])
                    for c in s["chairs"]
                ),
                "sources": sorted(
                    (src["title"], src["publisher"], src["date"], src["url"])
                    for src in s["sources"]
                ),
                "projects": sorted((p["project"], p["kind"]) for p in s["projects"]),
            }
        elif object_type == "progress":
            # A report on a project falls under the project's goal: the project must be
            # in the replica (a report is seen exactly when its project is).
            if s["project"] is not None:
                project = replica.get(("project", s["project"]))
                assert project is not None, f"{code}: its project is missing from the replica"
                goal_code = project["goal"]
            else:
                goal_code = s["goal"]
            item = {
                "date": s["date"],
                "narrative": (s["narrative_en"], s["narrative_es"]),
                "project": s["project"],
                "goal": goal_code,
                "meeting": s["meeting"],
                "source": (
                    s["source_kind"],
                    s["source_title"],
                    s["source_publisher"],
                    s["source_date"],
                    s["source_url"],
                ),
            }
        elif object_type == "result":
            assert ("project", s["project"]) in replica, f"{code}: its project is missing"
            item = {
                "project": s["project"],
                "type": s["type"],
                "aggregation_status": s["aggregation_status"],
                "title": (s["title_en"], s["title_es"]),
                "description": (s["description_en"], s["description_es"]),
            }
        elif object_type == "indicator":
            assert ("result", s["result"]) in replica, f"{code}: its result is missing"
            has_baseline = s["baseline_year"] is not None or s["baseline_value"] is not None
            item = {
                "result": s["result"],
                "measure": s["measure"],
                "ascending": s["ascending"],
                "title": (s["title_en"], s["title_es"]),
                "baseline": (s["baseline_year"], s["baseline_value"]) if has_baseline else None,
            }
        elif object_type == "period":
            assert ("indicator", s["indicator"]) in replica, f"{code}: its indicator is missing"
            has_actual = s["actual_value"] is not None or s["actual_comment_en"]
            item = {
                "indicator": s["indicator"],
                "dates": (s["period_start"], s["period_end"]),
                "target": s["target_value"],
                "actual": (s["actual_value"], (s["actual_comment_en"], s["actual_comment_es"]))
                if has_actual
                else None,
            }
        else:
            goal = replica.get(("goal", s["goal"]))
            assert goal is not None, f"{code}: its goal {s['goal']} is missing from the replica"
            item = {
                "title": (s["title_en"], s["title_es"]),
                "description": (s["description_en"], s["description_es"]),
                "status": s["status"],
                "is_published": s["is_published"],
                "goal": s["goal"],
                "pillar": goal["pillar"],
                "planned_start": s["planned_start"],
                "countries": sorted(s["countries"]),
                "agencies": sorted(
                    (r["agency"], r["role"], r["is_lead"], r["source"])
                    for r in s["participating_agencies"]
                ),
            }
        view[object_type][code] = item
    return view


PUBLISHED_AT_END = {
    "HLED-2021-01",
    "HLED-2021-02",
    "HLED-2021-05",
    "HLED-2021-06",
    "HLED-2021-07",
    "HLED-2021-08",
    "HLED-2021-10",
    "HLED-2021-11",
    "HLED-2026-02",
}
EXPECTED_PROJECTS = {
    "anonymous": PUBLISHED_AT_END,
    "editor_a": PUBLISHED_AT_END | {"HLED-2021-04", "HLED-2026-01"},
    "editor_b": PUBLISHED_AT_END | {"HLED-2021-04", "HLED-2026-03", "HLED-2026-04"},
    "admin": PUBLISHED_AT_END
    | {"HLED-2021-03", "HLED-2021-04", "HLED-2026-01", "HLED-2026-03", "HLED-2026-04"},
}


# Reports of the real plan on projects that stay visible to everyone (03's is hidden by
# its unpublishing), and the goal's.
PUBLIC_REPORTS_OF_THE_PLAN = {
    "HLED-2021-01-PR1",
    "HLED-2021-01-PR2",
    "HLED-2021-01-PR3",
    "HLED-2021-01-PR4",
    "HLED-2021-07-PR1",
    "HLED-2021-10-PR1",
    "HLED-2021-11-PR1",
    "P1-G1-PR1",
}
# Which reports of the history each caller ends up seeing (by role in the history).
EXPECTED_REPORTS = {
    "anonymous": {"on_06", "on_goal", "restored"},
    "editor_a": {"draft_a", "on_04", "on_06", "on_goal", "restored"},
    "editor_b": {"handed_over", "on_04", "on_06", "on_goal", "restored"},
    "admin": {"draft_a", "handed_over", "on_04", "on_06", "on_goal", "restored"},
}


def test_replaying_the_feed_rebuilds_what_each_caller_lists(clients):
    REPORTS.clear()
    FRAMEWORK.clear()
    make_history(clients)

    replicas = {}
    for caller in CALLERS:
        client = clients[caller]
        replica = replicas[caller] = replay(client, limit=7)  # small pages: many `next`s
        expected = from_lists(client)
        got = from_replica(replica)

        # The history is reflected as intended (guards against the feed and the
        # lists being wrong in the same way).
        assert set(expected["project"]) == EXPECTED_PROJECTS[caller], caller
        assert "P2-G2" not in expected["goal"] and "MX-ANAM" not in expected["agency"]
        assert {"P5", "P6"} <= set(expected["pillar"])
        reports = {REPORTS[role] for role in EXPECTED_REPORTS[caller]}
        hidden_of_plan = set() if caller == "admin" else {"HLED-2021-03-PR1"}
        assert (
            set(expected["progress"])
            == (reports | PUBLIC_REPORTS_OF_THE_PLAN | {"HLED-2021-03-PR1"}) - hidden_of_plan
        ), caller
        assert set(expected["meeting"]) == {
            "HLED-M-2021-09-09",
            "HLED-M-2022-09-12",
            "HLED-M-2023-09-29",
            "HLED-M-2024-04-19",
            "HLED-M-2026-02-01",
        }
        # Meetings list only published projects: 04 and 03 left theirs when unpublished.
        assert expected["meeting"]["HLED-M-2026-02-01"]["projects"] == [
            ("HLED-2021-06", "launched")
        ]
        assert ("HLED-2021-03", "reviewed") not in expected["meeting"]["HLED-M-2023-09-29"][
            "projects"
        ]

        for object_type in RESOURCES:
            assert set(got[object_type]) == set(expected[object_type]), (caller, object_type)
            for code, item in expected[object_type].items():
                assert got[object_type][code] == item, (caller, object_type, code)

    # Other page sizes give the same replica.
    assert replay(clients["admin"], limit=1000) == replicas["admin"]
    assert replay(clients["editor_b"], limit=1) == replicas["editor_b"]

    # A few values that must have come through the feed, checked against the history.
    admin_replica = from_replica(replicas["admin"])
    assert admin_replica["project"]["HLED-2021-05"]["pillar"] == "P5"
    assert admin_replica["project"]["HLED-2026-01"]["title"] == (
        "Supplier development",
        "Desarrollo de proveedores",
    )
    assert admin_replica["project"]["HLED-2021-03"]["is_published"] is False
    assert ("MX-SE", "3", False, "inferred") in admin_replica["project"]["HLED-2021-07"]["agencies"]
    assert admin_replica["pillar"]["P6"]["name"] == ("Six", "Sexto pilar")
    assert admin_replica["progress"][REPORTS["on_06"]]["narrative"] == (
        "On 06.",
        "Sobre 06, revisado.",
    )
    assert admin_replica["progress"][REPORTS["on_goal"]]["goal"] == "P4-G2"

    # Results, indicators and periods reach exactly those who may see their project.
    expected_framework = {
        "anonymous": set(),
        "editor_a": {"r04", "i04", "p04", "r01", "i01", "p01"},
        "editor_b": {"r04", "i04", "p04"},
        "admin": {"r04", "i04", "p04", "r03", "i03", "p03", "r01", "i01", "p01"},
    }
    for caller in CALLERS:
        got = from_replica(replicas[caller])
        codes = {*got["result"], *got["indicator"], *got["period"]}
        mine = {FRAMEWORK[key] for key in FRAMEWORK}
        assert codes & mine == {FRAMEWORK[k] for k in expected_framework[caller]}, caller
    assert admin_replica["period"][FRAMEWORK["p04"]]["actual"] == ("7.00", ("More", ""))
    assert admin_replica["result"][FRAMEWORK["r01"]]["project"] == "HLED-2026-01"
    assert admin_replica["indicator"][FRAMEWORK["i01"]]["title"][1] == "Revisado"


# -- the feed's contract ------------------------------------------------------------------


def feed(client: APIClient, query: str = "") -> dict[str, Any]:
    return get_ok(client, f"{FEED}?{query}")


def whole_feed(client: APIClient, query: str = "") -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    url = f"{FEED}?limit=1000{'&' + query if query else ''}"
    while True:
        body = get_ok(client, url)
        entries += body["results"]
        if not body["has_more"]:
            return entries
        url = body["next"]


def test_the_plan_is_the_only_history_at_the_start(clients):
    assert plan_events().count() == PLAN_EVENTS
    assert set(plan_events().values_list("via", flat=True)) == {"command"}


def test_entries_are_oldest_first_with_strictly_increasing_cursors(clients):
    change(clients["admin"], "projects", "HLED-2021-02", {"status": "2"})
    archive(clients["admin"], "projects", "HLED-2021-09")
    entries = whole_feed(clients["admin"])
    assert len(entries) == plan_events().count() == PLAN_EVENTS + 2
    cursors = [int(e["cursor"]) for e in entries]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    times = [datetime.fromisoformat(e["occurred_at"]) for e in entries]
    assert times == sorted(times)
    # The plan was loaded first; the last two entries are the update and the archive.
    assert {e["action"] for e in entries[:PLAN_EVENTS]} == {"create"}
    assert [(e["action"], e["code"]) for e in entries[-2:]] == [
        ("update", "HLED-2021-02"),
        ("archive", "HLED-2021-09"),
    ]
    update = entries[-2]
    assert update["changes"] == {"status": "2"}
    assert update["object"]["status"] == "2"
    assert update["url"] == "http://testserver/api/v1/projects/HLED-2021-02/"
    assert update["agency"] is None  # a plan admin acts for no agency
    assert entries[-1]["visible"] is False and entries[-1]["object"] is None


def test_after_returns_only_later_entries(clients):
    admin = clients["admin"]
    entries = whole_feed(admin)
    half = len(entries) // 2
    assert whole_feed(admin, f"after={entries[half]['cursor']}") == entries[half + 1 :]
    assert feed(admin, "after=0")["results"] == entries[:100]
    caught_up = feed(admin, f"after={entries[-1]['cursor']}")
    assert caught_up["results"] == [] and caught_up["has_more"] is False
    assert f"after={entries[-1]['cursor']}" in caught_up["next"]

    # A change made now appears after the last cursor, and only it.
    change(clients["editor_a"], "projects", "HLED-2021-01", {"status": "3"})
    body = get_ok(admin, caught_up["next"])
    assert [(e["action"], e["code"], e["agency"]) for e in body["results"]] == [
        ("update", "HLED-2021-01", A)
    ]
    assert body["has_more"] is False
    assert f"after={body['results'][0]['cursor']}" in body["next"]


def test_paging_with_limit_and_next(clients):
    admin = clients["admin"]
    total = len(whole_feed(admin))
    assert feed(admin, f"limit={total}")["has_more"] is False
    assert feed(admin, f"limit={total - 1}")["has_more"] is True
    assert len(feed(admin, "limit=1")["results"]) == 1
    assert len(feed(admin)["results"]) == min(total, 100)  # default limit

    # `next` keeps the filters and the limit.
    body = feed(admin, "object_type=goal&limit=4")
    seen = []
    while True:
        seen += body["results"]
        assert len(body["results"]) <= 4
        assert "object_type=goal" in body["next"] and "limit=4" in body["next"]
        if not body["has_more"]:
            break
        body = get_ok(admin, body["next"])
    assert [e["code"] for e in seen] == [e["code"] for e in whole_feed(admin, "object_type=goal")]
    assert len(seen) == 11


FILTERS = [
    ("object_type=project", lambda e: e["object_type"] == "project"),
    ("object_type=pillar,goal", lambda e: e["object_type"] in ("pillar", "goal")),
    ("object_type=pillar&object_type=agency", lambda e: e["object_type"] in ("pillar", "agency")),
    ("code=HLED-2021-01", lambda e: e["code"] == "HLED-2021-01"),
    ("code=hled-2021-01,P1", lambda e: e["code"] in ("HLED-2021-01", "P1")),
    ("action=archive", lambda e: e["action"] == "archive"),
    ("action=update,restore", lambda e: e["action"] in ("update", "restore")),
    (
        "object_type=project&action=update&code=HLED-2021-01",
        lambda e: (
            (e["object_type"], e["action"], e["code"]) == ("project", "update", "HLED-2021-01")
        ),
    ),
]


def test_filters(clients):
    admin = clients["admin"]
    change(admin, "projects", "HLED-2021-01", {"status": "2"})
    change(admin, "pillars", "P1", {"name_es": "Pilar uno"})
    archive(admin, "projects", "HLED-2021-09")
    restore(admin, "projects", "HLED-2021-09")
    everything = whole_feed(admin)
    for query, check in FILTERS:
        filtered = whole_feed(admin, query)
        assert filtered, query
        assert filtered == [e for e in everything if check(e)], query
    # A filter that matches nothing is an empty feed, not an error.
    assert feed(admin, "code=HLED-2099-01")["results"] == []


BAD_QUERIES = [
    ("object_type=webhook", "object_type"),
    ("object_type=project,projects", "object_type"),
    ("action=delete", "action"),
    ("since=1", "since"),
    ("page=2", "page"),
    ("limit=0", "limit"),
    ("limit=1001", "limit"),
    ("limit=x", "limit"),
    ("limit=-1", "limit"),
    ("limit=1.5", "limit"),
    ("limit=", "limit"),
    ("limit=%C2%B2", "limit"),  # a superscript two: str.isdigit() says yes, int() says no
    ("after=x", "after"),
    ("after=-5", "after"),
    ("after=%C2%B2", "after"),
]


@pytest.mark.parametrize("caller", ["anonymous", "admin"])
def test_unknown_values_and_parameters_are_400(clients, caller):
    client = clients[caller]
    client.raise_request_exception = False  # a 500 is reported as a wrong status
    wrong = {}
    for query, field in BAD_QUERIES:
        response = client.get(f"{FEED}?{query}")
        if response.status_code != 400:
            wrong[query] = response.status_code
            continue
        assert_problem(response, 400, field)
    assert wrong == {}


def entries_about(client: APIClient, code: str) -> list[tuple[str, bool]]:
    return [(e["action"], e["visible"]) for e in whole_feed(client, f"code={code}")]


def test_unpublished_work_of_an_agency_reaches_only_those_who_may_see_it(clients):
    se = clients["editor_a"]
    create(se, "projects", new_project("HLED-2026-09", "P1-G1", A))
    change(se, "projects", "HLED-2026-09", {"title_en": "Quiet pilot with a secret name"})
    archive(se, "projects", "HLED-2026-09")

    seen = [("create", True), ("update", True), ("archive", False)]
    for caller in ("editor_a", "reader_a", "admin"):
        assert entries_about(clients[caller], "HLED-2026-09") == seen, caller
    (update,) = [e for e in whole_feed(se, "code=HLED-2026-09") if e["action"] == "update"]
    assert update["changes"] == {"title_en": "Quiet pilot with a secret name"}
    assert update["agency"] == A

    for caller in ("anonymous", "editor_b"):
        assert entries_about(clients[caller], "HLED-2026-09") == [], caller
        # Nowhere in the unfiltered feed either: no tombstone for what was never seen.
        raw = json.dumps(whole_feed(clients[caller]))
        assert "HLED-2026-09" not in raw and "secret name" not in raw, caller


def test_unpublishing_reaches_outsiders_as_a_bare_tombstone(clients):
    admin, anonymous = clients["admin"], clients["anonymous"]
    last = whole_feed(admin)[-1]["cursor"]
    change(
        admin,
        "projects",
        "HLED-2021-03",
        {"is_published": False, "title_en": "Confidential rename", "status": "6"},
    )
    for caller in ("anonymous", "editor_a", "editor_b"):  # none takes part in 03
        response = clients[caller].get(f"{FEED}?after={last}")
        assert b"Confidential rename" not in response.content
        entries = response.json()["results"]
        # The project, then its progress report (seen as the project is) and the meeting
        # that listed it (a meeting lists only published projects).
        assert [(e["object_type"], e["code"], e["visible"]) for e in entries] == [
            ("project", "HLED-2021-03", False),
            ("progress", "HLED-2021-03-PR1", False),
            ("meeting", "HLED-M-2023-09-29", True),
        ], caller
        assert entries[0] == {
            **entries[0],
            "action": "update",
            "object_type": "project",
            "code": "HLED-2021-03",
            "visible": False,
            "changes": {},
            "object": None,
        }, caller
        assert entries[1]["object"] is None and entries[1]["changes"] == {}
        assert entries[2]["changes"] == {
            "projects": [{"project": "HLED-2021-01", "kind": "reviewed"}]
        }
        # The URLs of the tombstones now answer 404 to that caller.
        assert clients[caller].get(entries[0]["url"]).status_code == 404
        assert clients[caller].get(entries[1]["url"]).status_code == 404

    # Further work on the unpublished project reaches them no more...
    before = whole_feed(admin)[-1]["cursor"]
    change(admin, "projects", "HLED-2021-03", {"title_es": "Cambio confidencial"})
    for caller in ("anonymous", "editor_a", "editor_b"):
        assert feed(clients[caller], f"after={before}")["results"] == [], caller
    # ...while the admin sees every step, with the content.
    admin_entries = feed(admin, f"after={last}")["results"]
    assert [e["visible"] for e in admin_entries] == [True, True, True, True]
    assert admin_entries[0]["changes"] == {
        "is_published": False,
        "title_en": "Confidential rename",
        "status": "6",
    }
    assert admin_entries[1]["changes"] == {"project_is_published": False}

    # Publishing again brings it back to everyone, whole, with its report and meeting.
    change(admin, "projects", "HLED-2021-03", {"is_published": True})
    entry, report, meeting = feed(anonymous, f"after={before}")["results"]
    assert entry["visible"] is True
    assert entry["changes"] == {"is_published": True}
    assert entry["object"]["title_en"] == "Confidential rename"
    assert entry["object"]["title_es"] == "Cambio confidencial"
    assert entry["object"]["is_published"] is True
    assert (report["code"], report["visible"]) == ("HLED-2021-03-PR1", True)
    assert report["object"]["narrative_en"].startswith("The governments reported")
    assert {"project": "HLED-2021-03", "kind": "reviewed"} in meeting["object"]["projects"]


def test_unpublishing_a_project_of_the_callers_agency_is_not_a_tombstone(clients):
    last = whole_feed(clients["admin"])[-1]["cursor"]
    change(clients["admin"], "projects", "HLED-2021-04", {"is_published": False})
    (entry,) = feed(clients["editor_a"], f"after={last}")["results"]
    assert entry["visible"] is True and entry["object"]["is_published"] is False
    (entry,) = feed(clients["anonymous"], f"after={last}")["results"]
    assert entry["visible"] is False and entry["object"] is None


def test_removing_the_lead_agency_of_an_unpublished_project_is_a_tombstone_for_it(clients):
    se, admin = clients["editor_a"], clients["admin"]
    create(se, "projects", new_project("HLED-2026-08", "P1-G1", A, lead=True))
    change(
        admin,
        "projects",
        "HLED-2026-08",
        {"participating_agencies": [{"agency": B, "role": "4", "is_lead": True}]},
    )
    assert entries_about(se, "HLED-2026-08") == [("create", True), ("update", False)]
    assert entries_about(clients["editor_b"], "HLED-2026-08") == [("update", True)]
    assert entries_about(clients["anonymous"], "HLED-2026-08") == []


# -- query count ----------------------------------------------------------------------------

# anonymous: the page of events (agency joined); editor: + the token (with its user,
# membership and agency) + the caller's agency code; admin: + the token.
PINNED = {"anonymous": 1, "editor_a": 3, "admin": 2}


@pytest.mark.parametrize("caller", PINNED)
def test_feed_page_query_count_is_pinned(clients, django_assert_num_queries, caller):
    se = clients["editor_a"]
    for n in range(3):
        change(se, "projects", "HLED-2021-01", {"title_es": f"Revisión {n}"})
    client = clients[caller]
    client.get(f"{FEED}?limit=1")  # the token's first use is stamped once
    for limit in (1, 10, PLAN_EVENTS + 3):
        with django_assert_num_queries(PINNED[caller]):
            response = client.get(f"{FEED}?limit={limit}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == limit


# -- the wire format, pinned ------------------------------------------------------------------
#
# What partners parse: the feed entries and webhook bodies of a real history, byte for byte
# for webhooks (their bodies are signed), captured from the implementation that first shipped
# them. Cursors and times are normalised; everything else must not move within v1.

FIXED_WIDTH_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
PINNED_BASE_URL = "https://api.example.org"
PINNED_CODE = "HLED-2026-01"


def make_pinned_history(c: dict[str, APIClient]) -> list[AuditEvent]:
    """An editor of A creates an unpublished project; an admin publishes it, then unpublishes
    it: A keeps seeing it, outsiders get a tombstone."""
    title_es = "Piloto de mapeo — cadenas de suministro"
    body = new_project(PINNED_CODE, "P1-G1", A, countries=["MX"], title_es=title_es)
    create(c["editor_a"], "projects", {**body, "planned_start": "2026-03-01"})
    change(c["admin"], "projects", PINNED_CODE, {"is_published": True, "status": "2"})
    change(c["admin"], "projects", PINNED_CODE, {"is_published": False})
    return list(plan_events().filter(object_code=PINNED_CODE).order_by("pk"))


PINNED_STATE = {
    "code": "HLED-2026-01",
    "goal": "P1-G1",
    "title_en": "HLED-2026-01 title",
    "title_es": "Piloto de mapeo — cadenas de suministro",
    "description_en": "What HLED-2026-01 does.",
    "description_es": "Lo que hace HLED-2026-01.",
    "status": "1",
    "announced_on": None,
    "planned_start": "2026-03-01",
    "planned_end": None,
    "actual_start": None,
    "actual_end": None,
    "budget_amount": None,
    "budget_currency": "",
    "is_published": False,
    "archived": False,
    "countries": ["MX"],
    "participating_agencies": [
        {"agency": "MX-SE", "role": "4", "is_lead": True, "source": "stated"}
    ],
    "links": [],
}
PINNED_URL = "http://testserver/api/v1/projects/HLED-2026-01/"
PINNED_CREATE = {
    "cursor": "<cursor>",
    "occurred_at": "<time>",
    "action": "create",
    "object_type": "project",
    "code": "HLED-2026-01",
    "url": PINNED_URL,
    "agency": "MX-SE",
    "visible": True,
    "changes": {
        "code": "HLED-2026-01",
        "goal": "P1-G1",
        "title_en": "HLED-2026-01 title",
        "title_es": "Piloto de mapeo — cadenas de suministro",
        "description_en": "What HLED-2026-01 does.",
        "description_es": "Lo que hace HLED-2026-01.",
        "status": "1",
        "planned_start": "2026-03-01",
        "budget_currency": "",
        "is_published": False,
        "archived": False,
        "countries": ["MX"],
        "participating_agencies": [
            {"agency": "MX-SE", "role": "4", "is_lead": True, "source": "stated"}
        ],
        "links": [],
    },
    "object": PINNED_STATE,
}
PINNED_PUBLISH = {
    "cursor": "<cursor>",
    "occurred_at": "<time>",
    "action": "update",
    "object_type": "project",
    "code": "HLED-2026-01",
    "url": PINNED_URL,
    "agency": None,
    "visible": True,
    "changes": {"status": "2", "is_published": True},
    "object": {**PINNED_STATE, "status": "2", "is_published": True},
}
PINNED_UNPUBLISH = {
    "cursor": "<cursor>",
    "occurred_at": "<time>",
    "action": "update",
    "object_type": "project",
    "code": "HLED-2026-01",
    "url": PINNED_URL,
    "agency": None,
    "visible": True,
    "changes": {"is_published": False},
    "object": {**PINNED_STATE, "status": "2", "is_published": False},
}
PINNED_TOMBSTONE = {
    "cursor": "<cursor>",
    "occurred_at": "<time>",
    "action": "update",
    "object_type": "project",
    "code": "HLED-2026-01",
    "url": PINNED_URL,
    "agency": None,
    "visible": False,
    "changes": {},
    "object": None,
}
PINNED_FEED = {
    "admin": [PINNED_CREATE, PINNED_PUBLISH, PINNED_UNPUBLISH],
    "editor_a": [PINNED_CREATE, PINNED_PUBLISH, PINNED_UNPUBLISH],
    "editor_b": [PINNED_PUBLISH, PINNED_TOMBSTONE],
    "anonymous": [PINNED_PUBLISH, PINNED_TOMBSTONE],
}
PINNED_KEYS = list(PINNED_CREATE)


def normalised_entry(entry: dict[str, Any], event: AuditEvent) -> dict[str, Any]:
    assert entry["cursor"] == str(event.pk)
    assert FIXED_WIDTH_TIME.fullmatch(entry["occurred_at"]), entry["occurred_at"]
    assert datetime.fromisoformat(entry["occurred_at"]) == event.occurred_at
    return {**entry, "cursor": "<cursor>", "occurred_at": "<time>"}


def test_feed_entries_of_a_real_change_are_pinned(clients):
    last = whole_feed(clients["admin"])[-1]["cursor"]
    events = {event.pk: event for event in make_pinned_history(clients)}
    for caller, expected in PINNED_FEED.items():
        entries = whole_feed(clients[caller], f"after={last}")
        assert [list(entry) for entry in entries] == [PINNED_KEYS] * len(expected), caller
        got = [normalised_entry(entry, events[int(entry["cursor"])]) for entry in entries]
        assert got == expected, caller


# The exact bodies (keys sorted, no spaces, UTF-8 as is), cursor as "#" and times as "T".
PINNED_BODIES = {
    "create": (
        '{"data":{"action":"create","agency":"MX-SE","changes":{"archived":false,'
        '"budget_currency":"","code":"HLED-2026-01","countries":["MX"],'
        '"description_en":"What HLED-2026-01 does.",'
        '"description_es":"Lo que hace HLED-2026-01.","goal":"P1-G1","is_published":false,'
        '"links":[],"participating_agencies":[{"agency":"MX-SE","is_lead":true,"role":"4",'
        '"source":"stated"}],"planned_start":"2026-03-01","status":"1",'
        '"title_en":"HLED-2026-01 title",'
        '"title_es":"Piloto de mapeo — cadenas de suministro"},"code":"HLED-2026-01",'
        '"cursor":"#","object":{"actual_end":null,"actual_start":null,"announced_on":null,'
        '"archived":false,"budget_amount":null,"budget_currency":"","code":"HLED-2026-01",'
        '"countries":["MX"],"description_en":"What HLED-2026-01 does.",'
        '"description_es":"Lo que hace HLED-2026-01.","goal":"P1-G1","is_published":false,'
        '"links":[],"participating_agencies":[{"agency":"MX-SE","is_lead":true,"role":"4",'
        '"source":"stated"}],"planned_end":null,"planned_start":"2026-03-01","status":"1",'
        '"title_en":"HLED-2026-01 title",'
        '"title_es":"Piloto de mapeo — cadenas de suministro"},"object_type":"project",'
        '"occurred_at":"T","url":"https://api.example.org/api/v1/projects/HLED-2026-01/",'
        '"visible":true},"timestamp":"T","type":"project.create"}'
    ),
    "publish": (
        '{"data":{"action":"update","agency":null,"changes":{"is_published":true,'
        '"status":"2"},"code":"HLED-2026-01","cursor":"#","object":{"actual_end":null,'
        '"actual_start":null,"announced_on":null,"archived":false,"budget_amount":null,'
        '"budget_currency":"","code":"HLED-2026-01","countries":["MX"],'
        '"description_en":"What HLED-2026-01 does.",'
        '"description_es":"Lo que hace HLED-2026-01.","goal":"P1-G1","is_published":true,'
        '"links":[],"participating_agencies":[{"agency":"MX-SE","is_lead":true,"role":"4",'
        '"source":"stated"}],"planned_end":null,"planned_start":"2026-03-01","status":"2",'
        '"title_en":"HLED-2026-01 title",'
        '"title_es":"Piloto de mapeo — cadenas de suministro"},"object_type":"project",'
        '"occurred_at":"T","url":"https://api.example.org/api/v1/projects/HLED-2026-01/",'
        '"visible":true},"timestamp":"T","type":"project.update"}'
    ),
    "unpublish": (
        '{"data":{"action":"update","agency":null,"changes":{"is_published":false},'
        '"code":"HLED-2026-01","cursor":"#","object":{"actual_end":null,"actual_start":null,'
        '"announced_on":null,"archived":false,"budget_amount":null,"budget_currency":"",'
        '"code":"HLED-2026-01","countries":["MX"],"description_en":"What HLED-2026-01 does.",'
        '"description_es":"Lo que hace HLED-2026-01.","goal":"P1-G1","is_published":false,'
        '"links":[],"participating_agencies":[{"agency":"MX-SE","is_lead":true,"role":"4",'
        '"source":"stated"}],"planned_end":null,"planned_start":"2026-03-01","status":"2",'
        '"title_en":"HLED-2026-01 title",'
        '"title_es":"Piloto de mapeo — cadenas de suministro"},"object_type":"project",'
        '"occurred_at":"T","url":"https://api.example.org/api/v1/projects/HLED-2026-01/",'
        '"visible":true},"timestamp":"T","type":"project.update"}'
    ),
    "tombstone": (
        '{"data":{"action":"update","agency":null,"changes":{},"code":"HLED-2026-01",'
        '"cursor":"#","object":null,"object_type":"project","occurred_at":"T",'
        '"url":"https://api.example.org/api/v1/projects/HLED-2026-01/","visible":false},'
        '"timestamp":"T","type":"project.update"}'
    ),
}
# Who gets which: a subscription of no agency every change in full; US-DOC's what DOC may see.
PINNED_DELIVERIES = {None: ["create", "publish", "unpublish"], B: ["publish", "tombstone"]}


def test_webhook_bodies_of_a_real_change_are_pinned(clients, settings):
    settings.API_PUBLIC_URL = PINNED_BASE_URL
    settings.WEBHOOK_RETRY_DELAYS = [0, 0]
    secret = new_webhook_secret()
    receiver = Receiver()
    receiver.secret, receiver.failures = secret, 1
    try:
        subscriptions = {
            code: WebhookSubscription.objects.create(
                url=receiver.url,
                event_types=["project.*"],
                secret=secret,
                agency=Agency.objects.get(code=code) if code else None,
            )
            for code in PINNED_DELIVERIES
        }
        events = {event.pk: event for event in make_pinned_history(clients)}
        for code, names in PINNED_DELIVERIES.items():
            bodies = []
            for delivery in subscriptions[code].deliveries.order_by("event_id"):
                receiver.requests.clear()
                webhook_attempt(delivery_id=delivery.pk)  # answered 500: tried again
                webhook_attempt(delivery_id=delivery.pk)
                first, retry = receiver.requests
                assert (first.status, retry.status) == (500, 204)
                assert first.verified is True and retry.verified is True
                # A retry is the same message: the same id and the same signed bytes.
                assert first.webhook_id == retry.webhook_id == delivery.webhook_id
                assert first.body == retry.body
                event = events[delivery.event_id]
                text = first.body.decode()
                cursor = f'"cursor":"{event.pk}"'
                assert text.count(cursor) == 1
                time = event.occurred_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
                assert FIXED_WIDTH_TIME.findall(text) == [time, time]
                bodies.append(FIXED_WIDTH_TIME.sub("T", text.replace(cursor, '"cursor":"#"')))
            assert bodies == [PINNED_BODIES[name] for name in names], code
    finally:
        receiver.close()
