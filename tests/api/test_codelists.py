"""The codelists: every code the API's coded fields carry, named in English and Spanish."""

import pytest

from api.v1.serializers import ProjectSerializer
from tests.conftest import assert_problem, client_for, get_ok, make_user
from workplan.choices import ActivityStatus, MeetingKind, OrganisationType
from workplan.codelists import REGISTRY, SPANISH

# Schema, examples and representation rules: the same on every database (CI runs them once).
pytestmark = [pytest.mark.django_db, pytest.mark.backend_independent]

EXPECTED = {
    "activity-status",
    "organisation-role",
    "organisation-type",
    "assignment-source",
    "meeting-kind",
    "meeting-project-kind",
    "source-kind",
    "result-type",
    "indicator-measure",
    "country",
    "currency",
}


def test_the_index_links_every_codelist(api):
    body = get_ok(api, "/api/v1/codelists/")
    assert body["count"] == len(body["results"]) == len(EXPECTED)
    assert {item["name"] for item in body["results"]} == EXPECTED
    for item in body["results"]:
        assert item["url"] == f"http://testserver/api/v1/codelists/{item['name']}/"
        assert item["description"]
        assert "translations" not in item
        assert get_ok(api, item["url"])["name"] == item["name"]


def test_the_root_links_the_codelists(api):
    assert get_ok(api, "/api/v1/")["codelists"] == "http://testserver/api/v1/codelists/"


def test_entries_are_named_in_the_negotiated_language(api):
    english = get_ok(api, "/api/v1/codelists/activity-status/")
    assert english["entries"] == [
        {"code": code, "name": str(label)} for code, label in ActivityStatus.choices
    ]
    spanish = get_ok(api, "/api/v1/codelists/activity-status/", HTTP_ACCEPT_LANGUAGE="es-MX")
    assert {e["code"]: e["name"] for e in spanish["entries"]}["2"] == "Ejecución"
    assert spanish["description"].startswith("IATI ActivityStatus: la etapa")
    response = api.get("/api/v1/codelists/meeting-kind/?lang=es")
    assert response["Content-Language"] == "es"
    assert response.json()["entries"][0] == {"code": "ministerial", "name": "Reunión ministerial"}


def test_lang_all_adds_translations_like_the_other_resources(api):
    body = get_ok(api, "/api/v1/codelists/country/?lang=all")
    mexico = next(e for e in body["entries"] if e["code"] == "MX")
    assert mexico == {
        "code": "MX",
        "name": "Mexico",
        "translations": {"en": {"name": "Mexico"}, "es": {"name": "México"}},
    }
    assert body["translations"]["es"]["description"].startswith("Códigos de país")
    index = get_ok(api, "/api/v1/codelists/?lang=all")
    assert all(set(item["translations"]) == {"en", "es"} for item in index["results"])


def test_iso_lists_are_complete_and_spanish_from_the_iso_catalogues(api):
    countries = get_ok(api, "/api/v1/codelists/country/?lang=es")["entries"]
    assert len(countries) >= 249
    assert {"code": "US", "name": "Estados Unidos"} in countries
    currencies = get_ok(api, "/api/v1/codelists/currency/?lang=es")["entries"]
    names = {e["code"]: e["name"] for e in currencies}
    assert names["MXN"] == "Peso mexicano"
    assert names["USD"] == "Dólar estadounidense"
    assert [e["code"] for e in currencies] == sorted(names)


def test_every_registered_choice_has_a_spanish_name():
    for choices, spanish in SPANISH.items():
        assert set(spanish) == set(choices.values), choices.__name__
    for codelist in REGISTRY.values():
        for entry in codelist.entries:
            assert entry.name_es and entry.name_en, (codelist.name, entry.code)
    # Choices whose English name is its Spanish one are none: a missing name would show.
    organisation = {e.code: e for e in REGISTRY["organisation-type"].entries}
    assert all(e.name_en != e.name_es for e in organisation.values()), OrganisationType
    assert REGISTRY["meeting-kind"].label("review", "es") == SPANISH[MeetingKind]["review"]


def test_every_coded_project_field_has_a_codelist():
    # The codes the project representation documents are the codelist's codes.
    status_field = ProjectSerializer().fields["status"]
    assert set(status_field.choices) == {e.code for e in REGISTRY["activity-status"].entries}


def test_unknown_codelist_is_a_404_problem(api):
    assert_problem(api.get("/api/v1/codelists/colours/"), 404)
    assert_problem(api.get("/api/v1/codelists/Country/"), 404)


def test_unknown_parameters_and_languages_are_refused(api):
    assert_problem(api.get("/api/v1/codelists/?colour=red"), 400, "colour")
    assert_problem(api.get("/api/v1/codelists/country/?page=2"), 400, "page")
    assert_problem(api.get("/api/v1/codelists/country/?lang=fr"), 400, "lang")


def test_codelists_are_read_only(api):
    # A method the resource does not offer is a 405 before any credentials are asked for.
    assert_problem(api.post("/api/v1/codelists/", {}, format="json"), 405)
    admin = client_for(make_user("admin", "admin"))
    assert_problem(admin.post("/api/v1/codelists/", {}, format="json"), 405)
    assert_problem(admin.delete("/api/v1/codelists/country/"), 405)


def test_etag_gives_304_and_changes_with_language(api):
    first = api.get("/api/v1/codelists/source-kind/")
    etag = first["ETag"]
    again = api.get("/api/v1/codelists/source-kind/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    spanish = api.get("/api/v1/codelists/source-kind/?lang=es", HTTP_IF_NONE_MATCH=etag)
    assert spanish.status_code == 200
    assert spanish["ETag"] != etag
    index = api.get("/api/v1/codelists/")
    assert api.get("/api/v1/codelists/", HTTP_IF_NONE_MATCH=index["ETag"]).status_code == 304


@pytest.mark.parametrize("url", ["/api/v1/codelists/", "/api/v1/codelists/country/?lang=all"])
def test_codelists_run_no_query(api, django_assert_num_queries, url):
    with django_assert_num_queries(0):
        response = api.get(url)
    assert response.status_code == 200
