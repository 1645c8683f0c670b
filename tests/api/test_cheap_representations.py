"""Details decide a 304 before serialising; URLs are built without a reverse() per row."""

import pytest

from api.v1.serializers import projects as project_serializers
from tests.factories import ProjectAgencyRoleFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(db):
    project = ProjectFactory(is_published=True)
    ProjectAgencyRoleFactory(project=project)
    return project


def test_project_304_is_decided_before_any_serializer_runs(api, project, monkeypatch):
    url = f"/api/v1/projects/{project.code}/"
    etag = api.get(url)["ETag"]

    def refuse(*args, **kwargs):
        raise AssertionError("serialised for a 304")

    monkeypatch.setattr(project_serializers.ProjectSerializer, "to_representation", refuse)
    response = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304 and response["ETag"] == etag


def test_project_etag_follows_what_the_representation_shows(api, project):
    url = f"/api/v1/projects/{project.code}/"
    first = api.get(url)["ETag"]
    assert api.get(url)["ETag"] == first
    assert api.get(f"{url}?lang=es")["ETag"] != first
    assert api.get(f"{url}?fields=code")["ETag"] != first
    assert api.get(f"{url}?expand=labels")["ETag"] != first
    # A nested object changes without the project's version moving: the tag moves.
    agency = project.agency_roles.get().agency
    agency.name_en = "Renamed agency"
    agency.save()
    renamed = api.get(url)
    assert renamed["ETag"] != first
    assert renamed["ETag"].startswith(f'"{project.version}-')
    assert api.get(url, HTTP_IF_NONE_MATCH=first).status_code == 200


def test_list_urls_are_the_reversed_ones(get_json, project):
    from django.urls import reverse

    body = get_json("/api/v1/projects/?lang=all")
    item = body["results"][0]
    assert item["url"] == "http://testserver" + reverse(
        "v1:project-detail", kwargs={"code": item["code"]}
    )
    assert item["goal"]["url"] == "http://testserver" + reverse(
        "v1:goal-detail", kwargs={"code": item["goal"]["code"]}
    )
