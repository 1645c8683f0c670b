import tracemalloc
from django.db import connection
from rest_framework.test import APIClient
from tests.factories import AgencyFactory, GoalFactory
from workplan.models import Project, ProjectCountry, ProjectAgencyRole
import pytest
pytestmark = pytest.mark.django_db

def test_mem(db):
    goal = GoalFactory(); agency = AgencyFactory(country="US")
    text = "Long description of the project. " * 60
    projects = Project.objects.bulk_create(Project(code=f"STREAM-{n:05d}", goal=goal, title_en="t", title_es="t", description_en=text, description_es=text, is_published=True) for n in range(2000))
    ProjectCountry.objects.bulk_create(ProjectCountry(project=p, country="MX") for p in projects)
    ProjectAgencyRole.objects.bulk_create(ProjectAgencyRole(project=p, agency=agency, role="4", country="US") for p in projects)
    response = APIClient().get(f"/api/v1/projects/export/csv/?goal={goal.code}")
    tracemalloc.start(25)
    total = 0
    it = iter(response.streaming_content)
    first = next(it)
    snap1 = tracemalloc.take_snapshot()
    print("after first", tracemalloc.get_traced_memory())
    for c in it: total += len(c)
    print("end", tracemalloc.get_traced_memory(), total)
    for stat in snap1.statistics("traceback")[:3]:
        print(stat); print("\n".join(stat.traceback.format()[-12:]))
