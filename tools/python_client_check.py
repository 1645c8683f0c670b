"""Use the Python client generated from api/v1/openapi.yaml against a running server.

Run by tests/test_clients.py with the generated package importable:

    python tools/python_client_check.py BASE_URL EDITOR_TOKEN

It reads anonymously with a plain Client, then makes a safe update as an agency editor:
read the project and its ETag, PATCH with If-Match, and check that a stale ETag is
refused with a 412 problem document. Prints "python client: ok" when all held.
"""

import datetime
import sys

from workplan_api_client import AuthenticatedClient, Client
from workplan_api_client.api.pillars import pillars_list
from workplan_api_client.api.plan import plan_retrieve
from workplan_api_client.api.projects import (
    projects_list,
    projects_partial_update,
    projects_retrieve,
)
from workplan_api_client.models import (
    ActivityStatusEnum,
    PaginatedPillarList,
    PaginatedProjectList,
    PatchedProjectWriteRequest,
    PlanDocument,
    Problem,
    Project,
)


def main(base_url: str, token: str) -> None:
    # Anonymous reads: no token at all.
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    pillars = pillars_list.sync(client=anonymous)
    assert isinstance(pillars, PaginatedPillarList), pillars
    assert [p.code for p in pillars.results] == ["P1", "P2", "P3", "P4"], pillars
    projects = projects_list.sync(client=anonymous, pillar=["P1"], page_size=2)
    assert isinstance(projects, PaginatedProjectList), projects
    assert projects.count == 4 and len(projects.results) == 2, projects
    plan = plan_retrieve.sync(client=anonymous)
    assert isinstance(plan, PlanDocument) and len(plan.pillars) == 4, plan
    missing = projects_retrieve.sync_detailed(client=anonymous, code="HLED-2021-99")
    assert missing.status_code == 404 and isinstance(missing.parsed, Problem), missing
    assert missing.parsed.code == "not_found", missing.parsed

    # A safe update as the MX-SE editor: read, then PATCH with the ETag read.
    editor = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    read = projects_retrieve.sync_detailed(client=editor, code="HLED-2021-01")
    assert read.status_code == 200 and isinstance(read.parsed, Project), read
    etag = read.headers["ETag"]
    change = PatchedProjectWriteRequest(
        status=ActivityStatusEnum("2"), planned_start=datetime.date(2022, 3, 1)
    )
    updated = projects_partial_update.sync_detailed(
        client=editor, code="HLED-2021-01", body=change, if_match=etag
    )
    assert updated.status_code == 200 and isinstance(updated.parsed, Project), updated
    assert updated.parsed.status == ActivityStatusEnum("2"), updated.parsed
    assert updated.parsed.planned_start == datetime.date(2022, 3, 1), updated.parsed
    assert updated.headers["ETag"] != etag

    # The ETag read before the update is stale now: 412, and nothing is written.
    stale = projects_partial_update.sync_detailed(
        client=editor,
        code="HLED-2021-01",
        body=PatchedProjectWriteRequest(planned_end=datetime.date(2023, 1, 1)),
        if_match=etag,
    )
    assert stale.status_code == 412 and isinstance(stale.parsed, Problem), stale
    assert stale.parsed.code == "precondition_failed", stale.parsed
    print("python client: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
