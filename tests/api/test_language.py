"""Language negotiation: ?lang=, Accept-Language, English by default, both on request."""

import pytest

from workplan.models import Goal, Pillar, Project

# Schema, examples and representation rules: the same on every database (CI runs them once).
pytestmark = [pytest.mark.django_db, pytest.mark.backend_independent]


def test_english_by_default(api, real_plan):
    response = api.get("/api/v1/pillars/P1/")
    assert response.json()["name"] == Pillar.objects.get(code="P1").name_en
    assert response["Content-Language"] == "en"
    assert "Accept-Language" in response["Vary"]


@pytest.mark.parametrize(
    "header", ["es", "es-MX", "es-MX,es;q=0.9,en;q=0.8", "fr-FR, es;q=0.5", "ES-mx"]
)
def test_accept_language_spanish(api, real_plan, header):
    response = api.get("/api/v1/pillars/P1/", HTTP_ACCEPT_LANGUAGE=header)
    assert response.json()["name"] == Pillar.objects.get(code="P1").name_es
    assert response["Content-Language"] == "es"


@pytest.mark.parametrize("header", ["fr", "*", "", "de-DE,fr;q=0.5", "en-US", ";;;q=x", "x" * 1000])
def test_unsupported_or_odd_accept_language_falls_back_to_english(api, real_plan, header):
    response = api.get("/api/v1/pillars/P1/", HTTP_ACCEPT_LANGUAGE=header)
    assert response.status_code == 200
    assert response["Content-Language"] == "en"


def test_lang_parameter_overrides_header(api, real_plan):
    response = api.get("/api/v1/pillars/P1/?lang=en", HTTP_ACCEPT_LANGUAGE="es")
    assert response.json()["name"] == Pillar.objects.get(code="P1").name_en
    assert response["Content-Language"] == "en"


def test_spanish_reaches_nested_objects(api, real_plan):
    project = Project.objects.select_related("goal__pillar").get(code="HLED-2021-01")
    body = api.get(f"/api/v1/projects/{project.code}/?lang=es").json()
    assert body["title"] == project.title_es
    assert body["description"] == project.description_es
    assert body["goal"]["title"] == project.goal.title_es
    assert body["pillar"]["name"] == project.goal.pillar.name_es
    names_es = {a["agency"]["name"] for a in body["participating_agencies"]}
    assert names_es == set(project.agencies.values_list("name_es", flat=True))


def test_lang_all_gives_both_languages(api, real_plan):
    response = api.get("/api/v1/goals/?lang=all&page_size=100")
    assert response["Content-Language"] == "en, es"
    for item in response.json()["results"]:
        goal = Goal.objects.get(code=item["code"])
        assert item["title"] == goal.title_en
        assert item["translations"] == {
            "en": {"title": goal.title_en, "description": goal.description_en},
            "es": {"title": goal.title_es, "description": goal.description_es},
        }
        assert item["pillar"]["translations"]["es"]["name"] == goal.pillar.name_es


def test_translations_absent_unless_asked(api, real_plan):
    for lang in ("", "?lang=es"):
        body = api.get(f"/api/v1/pillars/P2/{lang}").json()
        assert "translations" not in body
        assert all("translations" not in g for g in body["goals"])


def test_missing_spanish_falls_back_to_english(api):
    from tests.factories import PillarFactory

    pillar = PillarFactory(description_es="")
    body = api.get(f"/api/v1/pillars/{pillar.code}/?lang=es").json()
    assert body["name"] == pillar.name_es
    assert body["description"] == pillar.description_en


def test_invalid_lang_is_400(api, real_plan):
    response = api.get("/api/v1/pillars/?lang=fr")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "lang"
