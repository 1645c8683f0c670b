"""The bench's own database: created if missing, migrated, the real plan loaded, then N
synthetic published projects spread over the real goals and agencies.

The synthetic rows are written with `bulk_create` through the models, around the
services: they are bench data, not partner writes, so they need neither the audit
trail nor webhooks, and going through the services would take an hour at 100,000.
"""

from __future__ import annotations

import io
import random
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

PREFIX = "SYN"
BATCH = 2000

TOPICS = [
    ("supply-chain resilience", "resiliencia de cadenas de suministro"),
    ("semiconductor investment", "inversión en semiconductores"),
    ("border infrastructure", "infraestructura fronteriza"),
    ("cybersecurity cooperation", "cooperación en ciberseguridad"),
    ("small business exports", "exportaciones de pequeñas empresas"),
    ("workforce training", "capacitación laboral"),
    ("clean energy standards", "normas de energía limpia"),
    ("customs modernisation", "modernización aduanera"),
    ("telecommunications access", "acceso a telecomunicaciones"),
    ("regional development", "desarrollo regional"),
    ("trade facilitation", "facilitación del comercio"),
    ("digital economy", "economía digital"),
]
KINDS = [
    ("Pilot programme for", "Programa piloto de"),
    ("Joint working group on", "Grupo de trabajo conjunto sobre"),
    ("Technical assistance for", "Asistencia técnica para"),
    ("Binational study of", "Estudio binacional de"),
    ("Capacity building in", "Fortalecimiento de capacidades en"),
]
PLACES = [
    ("the northern border states", "los estados de la frontera norte"),
    ("southern Mexico", "el sur de México"),
    ("the Texas–Mexico corridor", "el corredor Texas–México"),
    ("Central America's northern triangle", "el triángulo norte de Centroamérica"),
    ("both countries", "ambos países"),
]


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _maintenance_url(url: str) -> str:
    return urlsplit(url)._replace(path="/postgres").geturl()


def database_exists(url: str) -> bool:
    with psycopg.connect(_maintenance_url(url), autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database_name(url)]
        ).fetchone()
    return row is not None


def create_database(url: str) -> bool:
    """Create the bench database unless it exists; True when it was created."""
    if database_exists(url):
        return False
    with psycopg.connect(_maintenance_url(url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database_name(url))))
    return True


def drop_database(url: str) -> None:
    with psycopg.connect(_maintenance_url(url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database_name(url))
            )
        )


def _day(rng: random.Random, start: date, span_days: int) -> date:
    return start + timedelta(days=rng.randrange(span_days))


def synthetic_project(rng: random.Random, number: int, goal: Any) -> dict[str, Any]:
    """Field values of one synthetic project, different but plausible for each number."""
    (kind_en, kind_es), (topic_en, topic_es), (place_en, place_es) = (
        rng.choice(KINDS),
        rng.choice(TOPICS),
        rng.choice(PLACES),
    )
    status = rng.choices("123456", weights=[30, 40, 10, 10, 5, 5])[0]
    announced = _day(rng, date(2021, 12, 13), 4 * 365)
    planned_start = planned_end = actual_start = actual_end = None
    if rng.random() < 0.7:
        planned_start = announced + timedelta(days=rng.randrange(30, 365))
        planned_end = planned_start + timedelta(days=rng.randrange(90, 3 * 365))
    if status in "234" and planned_start:
        actual_start = planned_start + timedelta(days=rng.randrange(0, 60))
        if status == "4":
            actual_end = actual_start + timedelta(days=rng.randrange(30, 2 * 365))
    budget = rng.random() < 0.6
    return {
        "code": f"{PREFIX}-{number:06d}",
        "goal": goal,
        "title_en": f"{kind_en} {topic_en} in {place_en} ({number})",
        "title_es": f"{kind_es} {topic_es} en {place_es} ({number})",
        "description_en": (
            f"{kind_en} {topic_en} in {place_en}, agreed under the High-Level Economic "
            f"Dialogue. The agencies involved report progress to the dialogue's "
            f"secretariat twice a year and publish their findings. Item {number}."
        ),
        "description_es": (
            f"{kind_es} {topic_es} en {place_es}, acordado en el Diálogo Económico de Alto "
            f"Nivel. Las dependencias participantes informan de sus avances al secretariado "
            f"del diálogo dos veces al año y publican sus resultados. Punto {number}."
        ),
        "status": status,
        "announced_on": announced,
        "planned_start": planned_start,
        "planned_end": planned_end,
        "actual_start": actual_start,
        "actual_end": actual_end,
        "budget_amount": Decimal(rng.randrange(1_000_000, 5_000_000_000)) / 100 if budget else None,
        "budget_currency": rng.choice(["USD", "MXN"]) if budget else "",
        "is_published": True,
    }


def seed_projects(n: int, *, out: Any = None, seed: int = 2021) -> bool:
    """Make the database hold exactly `n` synthetic projects; False when it already did.

    Each has 2–3 agency roles (at most one lead per country), 1–2 countries and 0–2
    links, spread over the real plan's active goals and agencies. Deterministic for a
    given `n` and `seed`.
    """
    from django.db import connection, transaction

    from workplan.choices import AssignmentSource, OrganisationRole
    from workplan.models import (
        Agency,
        Goal,
        Project,
        ProjectAgencyRole,
        ProjectCountry,
        ProjectLink,
    )

    out = out or io.StringIO()
    synthetic = Project.objects.filter(code__startswith=f"{PREFIX}-")
    if synthetic.count() == n:
        return False
    goals = list(Goal.objects.active().order_by("code"))
    agencies = list(Agency.objects.active().order_by("code"))
    if not goals or len(agencies) < 3:
        raise RuntimeError("Load the real plan first: it has the goals and agencies.")
    rng = random.Random(seed)
    roles = [choice[0] for choice in OrganisationRole.choices]
    sources = [choice[0] for choice in AssignmentSource.choices]
    started = time.monotonic()
    with transaction.atomic():
        for model in (ProjectAgencyRole, ProjectCountry, ProjectLink):
            model.objects.filter(project__code__startswith=f"{PREFIX}-").delete()
        synthetic.delete()
        for first in range(1, n + 1, BATCH):
            numbers = range(first, min(first + BATCH, n + 1))
            projects = Project.objects.bulk_create(
                [Project(**synthetic_project(rng, i, rng.choice(goals))) for i in numbers]
            )
            role_rows, country_rows, link_rows = [], [], []
            for project in projects:
                leads: set[str] = set()
                for agency in rng.sample(agencies, rng.choice((2, 3))):
                    lead = agency.country not in leads and rng.random() < 0.7
                    if lead:
                        leads.add(agency.country)
                    role_rows.append(
                        ProjectAgencyRole(
                            project=project,
                            agency=agency,
                            country=agency.country,
                            role=rng.choice(roles),
                            is_lead=lead,
                            source=rng.choice(sources),
                        )
                    )
                for country in rng.choice((["MX"], ["US"], ["MX", "US"], ["MX", "US"])):
                    country_rows.append(ProjectCountry(project=project, country=country))
                for k in range(rng.choice((0, 1, 1, 2))):
                    link_rows.append(
                        ProjectLink(
                            project=project,
                            url=f"https://example.org/hled/{project.code.lower()}/{k + 1}",
                            label_en=("Fact sheet", "Progress report")[k],
                            label_es=("Ficha informativa", "Informe de avance")[k],
                        )
                    )
            ProjectAgencyRole.objects.bulk_create(role_rows)
            ProjectCountry.objects.bulk_create(country_rows)
            ProjectLink.objects.bulk_create(link_rows)
            done = numbers[-1]
            if done % 20000 < BATCH or done == n:
                out.write(
                    f"  seeded {done:,}/{n:,} projects ({time.monotonic() - started:.0f} s)\n"
                )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return True
