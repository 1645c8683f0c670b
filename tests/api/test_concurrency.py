"""Bulk upserts beside single PATCHes on the same projects, at the same time.

PostgreSQL only (SQLite serialises writers on one file lock and its in-memory test
database is not shared between threads, so nothing would race there).

Why this cannot deadlock now, and did before: a write to a project takes row locks
(the version UPDATE of `_claim_version`, then the project's related rows) and the
writers' advisory lock (`pg_advisory_xact_lock(WRITE_LOCK_KEY)`, which makes audit ids
follow commit order). Up to commit f2a5643 the advisory lock was taken inside
`audit_record`, i.e. AFTER the row lock of the object being written. A bulk upsert of
projects A and B locked row A, took the advisory lock while auditing A, then wanted
row B; a PATCH of B had meanwhile locked row B (its version UPDATE) and was waiting
for the advisory lock the bulk held: each waits for the other, PostgreSQL aborts one
with "deadlock detected", a 500. Two bulks listing the same projects in opposite
orders crossed the same way on the rows alone. Now `write_transaction()` takes the
advisory lock FIRST, before any row lock, in every write (single, bulk, admin,
loader): a writer that holds a row lock already holds the advisory lock, so nobody
holding a row another writer needs is ever waiting for that writer, and there is no
cycle. `test_old_lock_order_deadlocks` below replays the old order to show the
workload does find the cycle when it exists.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from tests.api.test_safe_writes import require_postgresql, run_at_once
from tests.factories import AgencyFactory, ProjectAgencyRoleFactory, ProjectFactory
from workplan.models import AuditAction, AuditEvent, Project
from workplan.services import plan_objects as plan_objects_module
from workplan.services import projects as projects_module

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROJECTS = 6
THREADS = 4  # two bulk writers, two single writers
REQUESTS = 15  # per thread
FIELD = "title_en"  # every write sets it to a value no other write uses


def client_for(user: Any) -> APIClient:
    """A client that returns a server error as a 500 response instead of raising it."""
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client


@pytest.fixture
def codes() -> list[str]:
    agency = AgencyFactory(country="MX")
    projects = [ProjectFactory() for _ in range(PROJECTS)]
    for project in projects:
        ProjectAgencyRoleFactory(project=project, agency=agency)
    return sorted(p.code for p in projects)


class Workload:
    """Runs the mixed writes and remembers every acknowledged one."""

    def __init__(self, user: Any, codes: list[str], requests: int = REQUESTS) -> None:
        self.user = user
        self.codes = codes
        self.requests = requests  # per thread
        self.statuses: Counter[int] = Counter()
        self.errors: list[tuple[str, int, str]] = []
        # request id -> [(code, value)] for each write the server answered 200 to
        self.acknowledged: dict[str, list[tuple[str, str]]] = {}

    def _record(self, kind: str, response: Any) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            # The 500 page tells nothing (rightly); the test client keeps the exception.
            exc_info = getattr(response, "exc_info", None)
            cause = repr(exc_info[1]) if exc_info else response.content[:300].decode()
            self.errors.append((kind, response.status_code, cause))

    def bulk(self, thread: int) -> None:
        client = client_for(self.user)
        # One writer lists the projects in ascending order, the other in descending, so
        # their row locks are taken in opposite orders.
        order = self.codes if thread % 2 == 0 else self.codes[::-1]
        for n in range(self.requests):
            request_id = f"bulk-{thread}-{n}-{uuid.uuid4().hex[:8]}"
            items = [{"code": code, FIELD: f"{request_id} {code}"} for code in order]
            response = client.post(
                "/api/v1/projects/bulk/",
                {"projects": items},
                format="json",
                HTTP_X_REQUEST_ID=request_id,
            )
            self._record("bulk", response)
            if response.status_code == 200:
                body = response.json()
                assert body["updated"] == len(order), body
                self.acknowledged[request_id] = [(i["code"], i[FIELD]) for i in items]

    def patches(self, thread: int) -> None:
        """Single PATCHes over the same projects: one thread with `If-Match: *`, the other
        with a fresh ETag, read again and retried on 412."""
        client = client_for(self.user)
        wildcard = thread % 2 == 0
        targets = itertools.cycle(self.codes[::2] + self.codes[1::2])
        for n in range(self.requests):
            code = next(targets)
            path = f"/api/v1/projects/{code}/"
            for attempt in range(50):
                request_id = f"patch-{thread}-{n}-{attempt}-{uuid.uuid4().hex[:8]}"
                if wildcard:
                    etag = "*"
                else:
                    read = client.get(path)
                    self._record("read", read)
                    etag = read["ETag"]
                value = f"{request_id} {code}"
                response = client.patch(
                    path,
                    {FIELD: value},
                    format="json",
                    HTTP_IF_MATCH=etag,
                    HTTP_X_REQUEST_ID=request_id,
                )
                self._record("patch", response)
                if response.status_code == 200:
                    assert response.json()["title"] == value  # English by default
                    self.acknowledged[request_id] = [(code, value)]
                    break
                if response.status_code >= 500:
                    break  # recorded; the test reports every one of them
                assert response.status_code == 412 and not wildcard, response.content[:300]
            else:
                raise AssertionError(f"{code}: 50 stale reads in a row")

    def run(self, index: int) -> None:
        if index < THREADS // 2:
            self.bulk(index)
        else:
            self.patches(index)


def feed(user: Any, codes: list[str]) -> list[dict[str, Any]]:
    """Every change of these projects in the change feed, page by page."""
    client = client_for(user)
    url = f"/api/v1/changes/?object_type=project&code={','.join(codes)}&limit=100"
    entries: list[dict[str, Any]] = []
    while True:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        page = response.json()
        entries += page["results"]
        if not page["has_more"]:
            return entries
        url = page["next"]


def test_bulk_and_single_writes_side_by_side(admin_user: Any, codes: list[str]) -> None:
    require_postgresql()
    versions = dict(Project.objects.filter(code__in=codes).values_list("code", "version"))
    initial = dict(Project.objects.filter(code__in=codes).values_list("code", FIELD))
    first_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    workload = Workload(admin_user, codes)

    started = time.monotonic()
    run_at_once(THREADS, workload.run)
    elapsed = time.monotonic() - started

    # No server errors at all (a deadlock would be one), and every request was answered.
    assert not workload.errors, workload.errors
    assert set(workload.statuses) <= {200, 412}, workload.statuses
    assert len(workload.acknowledged) == THREADS * REQUESTS, workload.statuses
    assert elapsed < 120, elapsed  # bounded: writers take turns, nobody waits on a cycle

    events = list(
        AuditEvent.objects.filter(pk__gt=first_event, object_code__in=codes).order_by("pk")
    )
    assert all(e.action == AuditAction.UPDATE for e in events)
    by_request: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in events:
        by_request[event.request_id].append(event)
    # Only acknowledged writes were recorded, and each exactly once per project it wrote.
    assert set(by_request) == set(workload.acknowledged)
    for request_id, writes in workload.acknowledged.items():
        recorded = [(e.object_code, e.changes[FIELD]["after"]) for e in by_request[request_id]]
        assert sorted(recorded) == sorted(writes), request_id

    # Per project: the events chain without a gap (each starts from the value the one
    # before it left, so no write was lost or applied to a stale row), each moved the
    # version by exactly one, and the database holds the last one.
    rows = {p.code: p for p in Project.objects.filter(code__in=codes)}
    for code in codes:
        chain = [e for e in events if e.object_code == code]
        assert chain, code
        assert chain[0].changes[FIELD]["before"] == initial[code], code
        for previous, event in itertools.pairwise(chain):
            assert event.changes[FIELD]["before"] == previous.changes[FIELD]["after"], code
        assert rows[code].version == versions[code] + len(chain), code
        assert getattr(rows[code], FIELD) == chain[-1].changes[FIELD]["after"], code

    # The change feed carries every one of them, in commit order, with its value.
    entries = [e for e in feed(admin_user, codes) if int(e["cursor"]) > first_event]
    assert [int(e["cursor"]) for e in entries] == [e.pk for e in events]
    assert [(e["code"], e["changes"][FIELD]) for e in entries] == [
        (e.object_code, e.changes[FIELD]["after"]) for e in events
    ]


# -- the old lock order, for comparison --------------------------------------------------------


@contextmanager
def lock_after_rows() -> Iterator[None]:
    """The lock order of f2a5643: no advisory lock when the transaction starts; the
    first audit record of a transaction takes it, after the row lock of its object."""

    @contextmanager
    def late_write_transaction() -> Iterator[None]:
        with transaction.atomic():
            yield

    with pytest.MonkeyPatch.context() as patch:
        # The services import write_transaction by name: replace it where it is used.
        for module in (plan_objects_module, projects_module):
            patch.setattr(module, "write_transaction", late_write_transaction)
        yield


def test_old_lock_order_deadlocks(admin_user: Any, codes: list[str]) -> None:
    """With the advisory lock taken after the row locks, the same workload deadlocks.

    PostgreSQL breaks the cycle by aborting one transaction ("deadlock detected"),
    which the API could only answer with a 500. Measured: about half of the requests of
    one full round failed so. Fewer requests suffice here (each deadlock costs
    `deadlock_timeout`, 1s); timing makes it likely rather than certain, so the test
    looks for it in a few rounds.
    """
    require_postgresql()
    with lock_after_rows():
        for _ in range(3):
            workload = Workload(admin_user, codes, requests=4)
            run_at_once(THREADS, workload.run)
            if any("deadlock" in cause.lower() for _, _, cause in workload.errors):
                return
    pytest.fail(f"no deadlock with the old lock order: {workload.statuses} {workload.errors}")
