"""Writes with an object read before someone else archived or restored it.

Every channel reads the object first (the API's lookup, the admin's changelist
selection, the bulk endpoint's targets) and then asks a service to write it, which
takes the writers' lock. In between, another writer may archive or restore it. The
service must judge the row as it is once it holds the lock, not the copy in hand:
an archived object is never updated, and an object is never archived (or restored)
twice. Deterministic here: the "other writer" runs before the stale copy is used.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import AgencyFactory, ProjectAgencyRoleFactory, ProjectFactory
from workplan import services
from workplan.models import AuditEvent, Project
from workplan.policy import SYSTEM

pytestmark = pytest.mark.django_db


@pytest.fixture
def project() -> Project:
    project = ProjectFactory()
    ProjectAgencyRoleFactory(project=project, agency=AgencyFactory(country="MX"))
    return project


def fresh(project: Project) -> Project:
    return Project.objects.get(pk=project.pk)


def stored(project: Project) -> dict[str, Any]:
    return {
        "row": Project.objects.values().get(pk=project.pk),
        "events": list(AuditEvent.objects.filter(object_code=project.code).values("pk", "action")),
    }


def test_update_of_a_project_archived_since_it_was_read_is_refused(project: Project) -> None:
    stale = fresh(project)
    services.plan_object_archive(obj=fresh(project), actor=SYSTEM)
    before = stored(project)

    with pytest.raises(services.PlanRuleError, match="archived"):
        services.plan_object_change(obj=stale, data={"title_en": "Too late"}, actor=SYSTEM)

    assert stored(project) == before


def test_update_with_the_version_read_before_the_archive_is_a_version_mismatch(
    project: Project,
) -> None:
    stale = fresh(project)
    services.plan_object_archive(obj=fresh(project), actor=SYSTEM)
    before = stored(project)

    with pytest.raises(services.VersionMismatch):
        services.plan_object_change(
            obj=stale, data={"title_en": "Too late"}, actor=SYSTEM, expected_version=stale.version
        )

    assert stored(project) == before


def test_a_project_is_archived_once(project: Project) -> None:
    stale = fresh(project)
    services.plan_object_archive(obj=fresh(project), actor=SYSTEM)
    before = stored(project)

    with pytest.raises(services.PlanRuleError, match="already archived"):
        services.plan_object_archive(obj=stale, actor=SYSTEM)

    assert stored(project) == before  # archived_at kept, no second archive event
    assert [e["action"] for e in before["events"]].count("archive") == 1


def test_a_project_is_restored_once(project: Project) -> None:
    services.plan_object_archive(obj=fresh(project), actor=SYSTEM)
    stale = fresh(project)
    services.plan_object_restore(obj=fresh(project), actor=SYSTEM)
    before = stored(project)

    with pytest.raises(services.PlanRuleError, match="not archived"):
        services.plan_object_restore(obj=stale, actor=SYSTEM)

    assert stored(project) == before


def test_bulk_update_of_a_project_archived_after_the_targets_were_read(project: Project) -> None:
    other = ProjectFactory()
    targets = services.project_bulk_targets(actor=SYSTEM, codes=[project.code, other.code])
    assert set(targets.projects) == {project.code, other.code}
    services.plan_object_archive(obj=fresh(project), actor=SYSTEM)
    before = stored(project), stored(other)
    items = [
        services.BulkItem(0, other.code, targets.projects[other.code], {"title_en": "Bulk"}),
        services.BulkItem(1, project.code, targets.projects[project.code], {"title_en": "Bulk"}),
    ]

    with pytest.raises(services.BulkError) as refused:
        services.project_bulk_upsert(items=items, actor=SYSTEM)

    assert [(index, code) for index, code, _ in refused.value.errors] == [(1, project.code)]
    assert (stored(project), stored(other)) == before  # all or nothing
