"""`?brief=true` (the minimal representation) and `?expand=` (related objects whole)."""

import pytest

from api.v1 import views
from tests.conftest import assert_problem, get_ok
from workplan.models import Agency, Meeting, ProgressReport

# Schema, examples and representation rules: the same on every database (CI runs them once).
pytestmark = [pytest.mark.django_db, pytest.mark.backend_independent]

VIEWSETS = {
    "pillars": views.PillarViewSet,
    "goals": views.GoalViewSet,
    "agencies": views.AgencyViewSet,
    "projects": views.ProjectViewSet,
    "meetings": views.MeetingViewSet,
    "progress": views.ProgressReportViewSet,
}


@pytest.mark.parametrize("resource", VIEWSETS)
@pytest.mark.parametrize("lang", ["en", "all"])
def test_brief_lists_and_details_carry_only_the_brief_fields(real_plan, api, resource, lang):
    brief = VIEWSETS[resource].brief_fields
    expected = [
        f for f in brief if (lang == "all" or f != "translations") and not f.endswith("_label")
    ]
    body = get_ok(api, f"/api/v1/{resource}/?brief=true&lang={lang}&page_size=100")
    full = get_ok(api, f"/api/v1/{resource}/?lang={lang}&page_size=100")
    assert body["count"] == full["count"] > 0
    for item, whole in zip(body["results"], full["results"], strict=True):
        assert list(item) == expected
        # The same values as the full representation (whose translations have more).
        assert {k: v for k, v in item.items() if k != "translations"} == {
            key: whole[key] for key in expected if key != "translations"
        }
    detail = get_ok(api, body["results"][0]["url"] + f"?brief=TRUE&lang={lang}")
    assert detail == body["results"][0]


def test_brief_is_what_references_elsewhere_carry(real_plan, api):
    report = get_ok(api, "/api/v1/progress/?page_size=100&lang=all")["results"]
    on_project = next(r for r in report if r["project"])
    project = get_ok(api, f"{on_project['project']['url']}?brief=true&lang=all")
    assert project == on_project["project"]
    goal = get_ok(api, f"{on_project['goal']['url']}?brief=true&lang=all")
    assert goal == on_project["goal"]
    pillar = get_ok(api, f"{on_project['pillar']['url']}?brief=true&lang=all")
    assert pillar == on_project["pillar"]


def test_a_projects_progress_list_is_brief_too(real_plan, api):
    code = ProgressReport.objects.filter(project__isnull=False).first().project.code
    body = get_ok(api, f"/api/v1/projects/{code}/progress/?brief=true")
    assert body["results"] and all(list(r) == ["code", "url", "date"] for r in body["results"])


def test_fields_picks_among_the_brief_fields(real_plan, api):
    body = get_ok(api, "/api/v1/projects/?brief=true&fields=code,title")
    assert list(body["results"][0]) == ["code", "title"]
    problem = assert_problem(api.get("/api/v1/projects/?brief=true&fields=status"), 400, "fields")
    assert "available: code, url, title, translations" in problem["errors"][0]["message"]


def test_brief_false_is_the_full_representation(real_plan, api):
    assert get_ok(api, "/api/v1/goals/?brief=false") == get_ok(api, "/api/v1/goals/")


@pytest.mark.parametrize("value", ["yes", "", "1"])
def test_brief_must_be_true_or_false(real_plan, api, value):
    assert_problem(api.get(f"/api/v1/projects/?brief={value}"), 400, "brief")


def test_brief_embeds_nothing_but_may_have_labels(real_plan, api):
    assert_problem(api.get("/api/v1/projects/?brief=true&expand=goal"), 400, "expand")
    meeting = get_ok(api, "/api/v1/meetings/?brief=true&expand=labels")["results"][0]
    assert meeting["kind_label"]


def test_brief_and_full_details_have_different_etags(real_plan, api):
    full = api.get("/api/v1/projects/HLED-2021-01/")
    brief = api.get("/api/v1/projects/HLED-2021-01/?brief=true")
    assert full["ETag"] != brief["ETag"]
    again = api.get("/api/v1/projects/HLED-2021-01/?brief=true", HTTP_IF_NONE_MATCH=brief["ETag"])
    assert again.status_code == 304


def test_project_expansions_embed_what_the_related_endpoints_give(real_plan, api):
    plain = get_ok(api, "/api/v1/projects/HLED-2021-01/?lang=es")
    body = get_ok(api, "/api/v1/projects/HLED-2021-01/?expand=goal,pillar,agencies&lang=es")
    assert body["goal"] == get_ok(api, f"{plain['goal']['url']}?lang=es")
    assert body["pillar"] == get_ok(api, f"{plain['pillar']['url']}?lang=es")
    assert body["participating_agencies"]
    for role, brief in zip(
        body["participating_agencies"], plain["participating_agencies"], strict=True
    ):
        assert role["agency"] == get_ok(api, f"{brief['agency']['url']}?lang=es")
        assert {k: v for k, v in role.items() if k != "agency"} == {
            k: v for k, v in brief.items() if k != "agency"
        }
    # Everything else is as it was.
    rest = {"goal", "pillar", "participating_agencies"}
    assert {k: v for k, v in body.items() if k not in rest} == {
        k: v for k, v in plain.items() if k not in rest
    }


def test_expansions_combine_with_labels_and_fields(real_plan, api):
    body = get_ok(
        api, "/api/v1/projects/?expand=labels,agencies&fields=code,participating_agencies"
    )
    project = body["results"][0]
    assert list(project) == ["code", "participating_agencies"]
    agency = project["participating_agencies"][0]
    assert agency["role_label"]
    # The embedded agency is whole, with its own labels.
    assert agency["agency"] == get_ok(api, f"{agency['agency']['url']}?expand=labels")
    # An expansion of a field `fields` left out is no error.
    assert list(get_ok(api, "/api/v1/projects/?expand=goal&fields=code")["results"][0]) == ["code"]


def test_other_resources_expand_their_references(real_plan, api):
    goal = get_ok(api, "/api/v1/goals/P1-G1/?expand=pillar")
    assert goal["pillar"] == get_ok(api, "/api/v1/pillars/P1/")
    child = Agency.objects.filter(parent__isnull=False).first()
    agency = get_ok(api, f"/api/v1/agencies/{child.code}/?expand=parent")
    assert agency["parent"] == get_ok(api, f"/api/v1/agencies/{child.parent.code}/")
    meeting = Meeting.objects.filter(chairs__isnull=False).first()
    body = get_ok(api, f"/api/v1/meetings/{meeting.code}/?expand=agencies")
    for chair in body["chairs"]:
        assert chair["agency"] == get_ok(api, chair["agency"]["url"])
    report = ProgressReport.objects.filter(project__isnull=False).first()
    body = get_ok(api, f"/api/v1/progress/{report.code}/?expand=project")
    assert body["project"] == get_ok(api, f"/api/v1/projects/{report.project.code}/")
    on_goal = ProgressReport.objects.filter(project__isnull=True).first()
    assert get_ok(api, f"/api/v1/progress/{on_goal.code}/?expand=project")["project"] is None


def test_expand_values_come_from_the_serializer(real_plan, api):
    for viewset in VIEWSETS.values():
        assert viewset.expand_choices == set(viewset.serializer_class.expansions)
    assert_problem(api.get("/api/v1/pillars/?expand=goals"), 400, "expand")
    assert_problem(api.get("/api/v1/goals/?expand=labels"), 400, "expand")


def test_the_schema_documents_brief_and_every_expand_value(openapi_schema):
    for resource, viewset in VIEWSETS.items():
        for path in (f"/api/v1/{resource}/", f"/api/v1/{resource}/{{code}}/"):
            params = {p["name"]: p for p in openapi_schema["paths"][path]["get"]["parameters"]}
            assert params["brief"]["schema"]["type"] == "boolean"
            for field in viewset.brief_fields:
                assert f"`{field}`" in params["brief"]["description"]
            expand = params.get("expand")
            if viewset.expand_choices:
                for value in viewset.expand_choices:
                    assert f"`{value}`" in expand["description"]
    project = openapi_schema["components"]["schemas"]["Project"]["properties"]
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in project["goal"]["anyOf"]] == [
        "GoalBrief",
        "Goal",
    ]


def test_responses_may_be_brief_and_the_examples_show_it(openapi_schema):
    schemas = openapi_schema["components"]["schemas"]
    items = schemas["PaginatedProjectList"]["properties"]["results"]["items"]
    assert items == {
        "anyOf": [
            {"$ref": "#/components/schemas/Project"},
            {"$ref": "#/components/schemas/ProjectBrief"},
        ]
    }
    assert "ProgressReportBrief" in schemas
    detail = openapi_schema["paths"]["/api/v1/projects/{code}/"]["get"]["responses"]["200"]
    examples = detail["content"]["application/json"]["examples"]
    assert set(examples["brief"]["value"]) == {"code", "url", "title", "translations"}
    assert examples["expanded"]["value"]["goal"]["pillar"]["code"] == "P1"
    listing = openapi_schema["paths"]["/api/v1/projects/"]["get"]["responses"]["200"]
    brief = listing["content"]["application/json"]["examples"]["brief"]["value"]
    assert all(set(item) == {"code", "url", "title"} for item in brief["results"])
    # A brief object has its fields and no others.
    assert schemas["ProjectBrief"]["additionalProperties"] is False
