"""`q` on every list: accent- and case-blind, every word must match, best match first.

Most tests hold on both databases; stemming, word prefixes, the stored documents and
their indexes are PostgreSQL's (skipped on SQLite, where words match as substrings).
"""

import functools
import operator

import pytest
from django.contrib.postgres.search import SearchVector
from django.db import connection
from django.utils import timezone

from api.filters import (
    AgencyFilterSet,
    GoalFilterSet,
    MeetingFilterSet,
    PillarFilterSet,
    ProgressReportFilterSet,
    ProjectFilterSet,
)
from tests.api.test_query_counts import PINNED
from tests.conftest import make_user, token_headers
from tests.factories import (
    AgencyFactory,
    GoalFactory,
    MeetingFactory,
    PillarFactory,
    ProgressReportFactory,
    ProjectAgencyRoleFactory,
    ProjectCountryFactory,
    ProjectFactory,
)
from workplan.choices import Role
from workplan.search import StoredDocument, config_for, fold, search, words

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="full-text search is PostgreSQL's"
)

FILTERSETS = {
    "pillars": PillarFilterSet,
    "goals": GoalFilterSet,
    "agencies": AgencyFilterSet,
    "projects": ProjectFilterSet,
    "meetings": MeetingFilterSet,
    "progress": ProgressReportFilterSet,
}


def found(api, resource: str, query: str, **params: str) -> list[str]:
    response = api.get(f"/api/v1/{resource}/", {"q": query, "page_size": 100, **params})
    assert response.status_code == 200, response.content[:500]
    return [item["code"] for item in response.json()["results"]]


# --- accents and case ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("energia", ["S-1", "S-2"]),  # typed without the accent of S-1's "energía"
        ("ENERGÍA", ["S-1", "S-2"]),  # upper case, accented: finds "energia" written plain
        ("Energía", ["S-1", "S-2"]),
        ("energi\u0301a", ["S-1", "S-2"]),  # decomposed accent, as some keyboards send it
        ("pequenas", ["S-3"]),
        ("PEQUEÑAS", ["S-3"]),
        ("mexico", ["S-2"]),  # "México" in an English title
    ],
)
def test_words_match_whatever_their_accents_and_case(api, query, expected):
    ProjectFactory(code="S-1", title_es="Normas de energía limpia")
    ProjectFactory(code="S-2", title_en="Energia trade with México")
    ProjectFactory(code="S-3", description_es="Apoyo a pequeñas empresas")
    assert sorted(found(api, "projects", query)) == expected


@pytest.mark.parametrize(
    ("resource", "query", "expected", "accented"),
    [
        ("projects", "pequenas", ["HLED-2021-10"], "pequeñas"),
        ("projects", "campana", ["HLED-2021-09"], "Campaña"),
        ("projects", "migracion centroamerica", ["HLED-2021-05"], "migración"),
        ("projects", "TECNOLOGIAS", ["HLED-2021-02", "HLED-2021-06"], "tecnologías"),
        ("projects", "transito licito", ["HLED-2021-03"], "tránsito"),
        ("goals", "capacitacion tecnica", ["P4-G3"], "Capacitación técnica"),
        ("goals", "facilitacion", ["P1-G2"], "Facilitación"),
        ("agencies", "secretaria economia", ["MX-SE"], "Secretaría de Economía"),
        ("agencies", "credito publico", ["MX-SHCP"], "Crédito Público"),
        ("pillars", "centroamerica", ["P2"], "Centroamérica"),
        ("meetings", "ciudad de mexico", ["HLED-M-2022-09-12"], "Ciudad de México"),
        ("meetings", "revision virtual", ["HLED-M-2024-04-19"], "Revisión virtual"),
        ("progress", "ventanilla unica", ["P1-G1-PR1"], "Ventanilla Única"),
        ("progress", "ingenieria", ["HLED-2021-11-PR1"], "ingeniería"),
    ],
)
def test_the_real_plan_is_found_without_typing_accents(
    api, real_plan, resource, query, expected, accented
):
    filterset = FILTERSETS[resource]
    # The words really are accented in the plan, and the plain query finds them.
    for obj in filterset._meta.model.objects.filter(code__in=expected):
        assert accented in " ".join(getattr(obj, f) for f in filterset.search_fields.fields)
    assert sorted(found(api, resource, query)) == expected


# --- every word must match -------------------------------------------------------------------


def test_every_word_must_match_in_either_language(api):
    ProjectFactory(code="W-1", title_en="Clean energy", description_es="Redes de energía limpia")
    ProjectFactory(code="W-2", title_en="Clean water", description_es="Agua potable")
    ProjectFactory(code="W-3", title_en="Solar power", description_es="Energía solar")
    assert found(api, "projects", "energia limpia") == ["W-1"]
    assert sorted(found(api, "projects", "clean")) == ["W-1", "W-2"]
    # One word in an English field, the other in a Spanish one.
    assert found(api, "projects", "water potable") == ["W-2"]
    assert found(api, "projects", "energia agua") == []
    # Stop words still have to match: "de" is in W-1's text only.
    assert found(api, "projects", "redes de energia") == ["W-1"]


def test_a_query_without_words_finds_nothing(api):
    ProjectFactory(title_en="100% renewable_energy")
    assert found(api, "projects", "% _ '") == []
    # Punctuation separates words: the two words still have to match.
    assert len(found(api, "projects", "renewable-energy")) == 1


def test_only_the_first_ten_words_are_searched(api):
    ProjectFactory(code="T-1", title_en="one two three four five six seven eight nine ten")
    query = "one two three four five six seven eight nine ten eleven"
    assert found(api, "projects", query) == ["T-1"]


def test_agencies_are_found_by_acronym_and_code(api):
    AgencyFactory(country="US", acronym="USAID", code="US-USAID", name_en="Aid agency")
    AgencyFactory(country="MX", acronym="SE", code="MX-SE", name_es="Secretaría de Economía")
    assert found(api, "agencies", "usaid") == ["US-USAID"]
    assert found(api, "agencies", "MX-SE") == ["MX-SE"]
    assert found(api, "agencies", "se economia") == ["MX-SE"]


@pytest.mark.parametrize("resource", FILTERSETS)
def test_every_list_with_q_is_accent_blind(api, resource):
    obj = {
        "pillars": lambda: PillarFactory(name_es="Innovación y tecnología"),
        "goals": lambda: GoalFactory(description_es="Innovación y tecnología"),
        "agencies": lambda: AgencyFactory(name_es="Secretaría de Innovación"),
        "projects": lambda: ProjectFactory(title_es="Innovación y tecnología"),
        "meetings": lambda: MeetingFactory(summary_es="Innovación y tecnología"),
        "progress": lambda: ProgressReportFactory(
            indicator_en="Innovation", indicator_es="Innovación y tecnología"
        ),
    }[resource]()
    assert obj.code in found(api, resource, "INNOVACION")


# --- relevance ---------------------------------------------------------------------------------


def test_a_title_match_ranks_above_a_description_only_match(api):
    # By code, the description-only matches would come first.
    ProjectFactory(code="R-1", description_es="Energía, energía y más energía para la región")
    ProjectFactory(code="R-2", description_es="Política de energía")
    ProjectFactory(code="R-3", title_es="Normas de energía limpia")
    ranked = found(api, "projects", "energia")
    assert ranked[0] == "R-3"
    assert sorted(ranked[1:]) == ["R-1", "R-2"]


def test_an_explicit_ordering_wins_over_relevance(api):
    ProjectFactory(code="O-1", description_es="energía")
    ProjectFactory(code="O-2", title_es="energía")
    assert found(api, "projects", "energia", ordering="code") == ["O-1", "O-2"]
    assert found(api, "projects", "energia", ordering="-code") == ["O-2", "O-1"]


def test_the_export_has_the_lists_results_in_its_order(api):
    ProjectFactory(code="X-1", description_es="energía")
    ProjectFactory(code="X-2", title_es="energía")
    ProjectFactory(code="X-3", title_es="agua")
    response = api.get("/api/v1/projects/export/csv/", {"q": "energia"})
    assert response.status_code == 200
    rows = b"".join(response.streaming_content).decode().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["X-2", "X-1"]


# --- visibility --------------------------------------------------------------------------------


def test_search_never_finds_an_unpublished_or_archived_project(api):
    agency = AgencyFactory()
    published = ProjectFactory(title_es="Energía limpia")
    hidden = ProjectFactory(title_es="Energía oculta", is_published=False)
    archived = ProjectFactory(title_es="Energía archivada", archived_at=timezone.now())
    for project in (hidden, archived):
        ProjectAgencyRoleFactory(project=project, agency=agency)
    assert found(api, "projects", "ENERGIA") == [published.code]
    # An agency reader sees its agency's unpublished project, still never the archived one.
    api.credentials(**token_headers(make_user("reader", Role.READER, agency)))
    assert sorted(found(api, "projects", "energia")) == sorted([published.code, hidden.code])


# --- cost ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", PINNED)
def test_a_search_runs_as_many_queries_as_the_plain_list(api, django_assert_num_queries, resource):
    for n in range(5):
        agency = AgencyFactory(name_es=f"Agencia de energía {n}")
        project = ProjectFactory(
            title_es=f"Energía {n}",
            goal__title_es=f"Energía {n}",
            goal__pillar__name_es=f"Energía {n}",
        )
        ProjectAgencyRoleFactory(project=project, agency=agency)
        ProjectCountryFactory(project=project)
        ProjectFactory()  # and one that does not match
    with django_assert_num_queries(PINNED[resource]):
        response = api.get(f"/api/v1/{resource}/", {"q": "energia", "lang": "all"})
    assert response.json()["count"] == 5


# --- PostgreSQL: stemming, prefixes, stored documents ----------------------------------------


@postgresql_only
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cadenas", ["C-1", "C-2"]),  # Spanish plural finds the singular
        ("cadena", ["C-1", "C-2"]),
        ("standards", ["C-3"]),  # English plural finds the singular
        ("semicond", ["C-4"]),  # a word's beginning
        ("normas", ["C-5"]),
    ],
)
def test_words_are_stemmed_in_each_fields_language(api, query, expected):
    ProjectFactory(code="C-1", title_es="Cadena de suministro")
    ProjectFactory(code="C-2", description_es="Resiliencia de las cadenas regionales")
    ProjectFactory(code="C-3", title_en="Common standard for exports")
    ProjectFactory(code="C-4", title_es="Inversión en semiconductores")
    ProjectFactory(code="C-5", title_es="Norma de energía limpia")
    assert sorted(found(api, "projects", query)) == expected


@postgresql_only
def test_the_real_plan_is_found_by_other_forms_of_its_words(api, real_plan):
    # HLED-2021-01 says "cadenas de suministro"; HLED-2021-04 says "equipo médico".
    assert found(api, "projects", "cadena suministro") == ["HLED-2021-01"]
    assert found(api, "projects", "medicos") == ["HLED-2021-04"]


@postgresql_only
@pytest.mark.parametrize("resource", FILTERSETS)
def test_the_stored_document_holds_what_the_search_reads(real_plan, resource):
    """The `search_document` column (migration 0009) is the document of the fields the
    filter names, each in its language, titles weighted A and descriptions B."""
    fields = FILTERSETS[resource].search_fields
    model = FILTERSETS[resource]._meta.model
    vectors = [
        SearchVector(field, config=config_for(field), weight=weight)
        for group, weight in ((fields.titles, "A"), (fields.texts, "B"))
        for field in group
    ]
    rows = model.objects.annotate(
        stored=StoredDocument(), expected=functools.reduce(operator.add, vectors)
    ).values_list("stored", "expected")
    assert rows
    for stored, expected in rows:
        assert stored == expected


@postgresql_only
@pytest.mark.parametrize("resource", FILTERSETS)
def test_the_search_is_served_by_its_index(resource):
    filterset = FILTERSETS[resource]
    model = filterset._meta.model
    matches = search(model.objects.all(), "energia", filterset.search_fields, ranked=False)
    with connection.cursor() as cursor:
        # The test tables are tiny: tell the planner a scan is never worth it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = matches.order_by().values("pk").explain()
    assert f"Bitmap Index Scan on {model._meta.db_table}_search" in plan


@postgresql_only
def test_the_search_configurations_keep_stop_words_and_drop_accents():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_tsvector('workplan_es', 'Las pequeñas empresas de ENERGÍA')::text, "
            "to_tsvector('workplan_en', 'The standards of México')::text"
        )
        spanish, english = cursor.fetchone()
    assert spanish == "'de':4 'empres':3 'energi':5 'las':1 'pequen':2"
    assert english == "'mexico':4 'of':3 'standard':2 'the':1"


# --- the pieces --------------------------------------------------------------------------------


def test_words_are_letters_and_digits():
    assert words("  Energía—limpia, 2021 (MX-SE) x_y ") == [
        "Energía",
        "limpia",
        "2021",
        "MX",
        "SE",
        "x",
        "y",
    ]
    assert words("energi\u0301a") == ["energía"]
    assert words("ｅｎｅｒｇｉａ") == ["energia"]  # full-width letters
    assert words("a b c d e f g h i j k l") == list("abcdefghij")


def test_fold_drops_accents_and_case():
    assert fold("Pequeñas ENERGÍA Über Ça") == "pequenas energia uber ca"
    assert fold(None) is None
