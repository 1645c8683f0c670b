"""Webhooks through the API: subscriptions managed by plan admins, events signed as
Standard Webhooks says, delivered by the task worker at least once, retried with the
same webhook-id, logged, and sent again on request.

A real HTTP receiver on 127.0.0.1 checks every request's signature with the
`standardwebhooks` package, the way a partner would.
"""

from __future__ import annotations

import base64
import io
import json
import re
import signal
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from tests.conftest import assert_problem, error_fields, make_user, token_client
from tests.factories import AgencyFactory, GoalFactory, PillarFactory
from workplan.choices import Role
from workplan.models import (
    AuditEvent,
    WebhookDelivery,
    WebhookSubscription,
)

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks/"
QUEUE = "webhooks"
TASK_PATH = "workplan.tasks.deliver_webhook"
PLURALS = {
    "pillar": "pillars",
    "goal": "goals",
    "agency": "agencies",
    "project": "projects",
    "meeting": "meetings",
    "progress": "progress",
}
SECRET = re.compile(r"whsec_[A-Za-z0-9+/]+={0,2}")


# -- the receiver ------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    verified: bool | None  # None when the receiver had no secret to check with

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A partner's endpoint on loopback.

    Answers 500 to the first `failures` attempts of each message (by webhook-id), then
    `status` (204). With `redirect` (a 3xx code), the hook path answers it with a
    Location on another path that would accept the event. With `hang`, it answers
    only when closed.
    """

    PATH = "/hooks/workplan"

    def __init__(self) -> None:
        self.secret: str | None = None
        self.failures = 0
        self.status = 204
        self.redirect = 0
        self.hang = False
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def url(self) -> str:
        return self.base + self.PATH

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        verified = None
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(body, headers)
                verified = True
            except Exception:
                verified = False
        if self.hang:
            self._release.wait(10)
        with self._lock:
            seen = sum(
                1
                for r in self.requests
                if r.webhook_id == headers.get("webhook-id") and r.path == handler.path
            )
            if self.redirect and handler.path == self.PATH:
                status = self.redirect
            elif seen < self.failures:
                status = 500
            else:
                status = self.status
            self.requests.append(
                Received(handler.command, handler.path, headers, body, status, verified)
            )
        handler.send_response(status)
        if 300 <= status < 400:
            handler.send_header("Location", self.base + "/elsewhere")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def by_id(self) -> dict[str, list[Received]]:
        grouped: dict[str, list[Received]] = defaultdict(list)
        for request in self.requests:
            grouped[request.webhook_id].append(request)
        return dict(grouped)

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def run_worker(max_rounds: int = 10) -> int:
    """Run the task worker in batches until no webhook task is due; return the rounds.

    The worker installs its own signal handlers; they are put back afterwards.
    """
    signals = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGQUIT", None)) if s]
    saved = {s: signal.getsignal(s) for s in signals}
    try:
        for rounds in range(1, max_rounds + 1):
            call_command(
                "db_worker",
                "--batch",
                "--queue-name",
                QUEUE,
                "--no-startup-delay",
                "--interval",
                "0",
                verbosity=0,
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
            if not DBTaskResult.objects.ready().filter(queue_name=QUEUE).exists():
                return rounds
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    raise AssertionError(f"webhook tasks were still due after {max_rounds} worker runs")


def assert_no_task_crashed() -> None:
    crashed = DBTaskResult.objects.failed().values_list("task_path", "traceback")
    assert not list(crashed)


# -- callers and data ----------------------------------------------------------------------


@pytest.fixture
def plan(db: Any) -> None:
    """A small plan: pillar P1 with goal P1-G1, agencies MX-SE and US-DOC."""
    GoalFactory(pillar=PillarFactory(number=1, code="P1"), number=1, code="P1-G1")
    AgencyFactory(country="MX", acronym="SE")
    AgencyFactory(country="US", acronym="DOC")


@pytest.fixture
def callers(plan: None) -> dict[str, APIClient]:
    admin = make_user("plan-admin", Role.ADMIN)
    return {
        "anonymous": token_client(),
        "reader": token_client(make_user("se-reader", Role.READER, "MX-SE")),
        "editor": token_client(make_user("se-editor", Role.EDITOR, "MX-SE")),
        "admin_read": token_client(admin, "read"),
        "admin": token_client(admin),
    }


@pytest.fixture
def admin_api(callers: dict[str, APIClient]) -> APIClient:
    return callers["admin"]


def subscribe(client: APIClient, url: str, event_types: list[str], **extra: Any) -> dict[str, Any]:
    body = {"url": url, "description": "partner sync", "event_types": event_types, **extra}
    response = client.post(WEBHOOKS, body, format="json")
    assert response.status_code == 201, response.content[:500]
    return response.json()


def new_project(code: str = "HLED-2026-01") -> dict[str, Any]:
    return {
        "code": code,
        "goal": "P1-G1",
        "title_en": "Supply-chain mapping pilot",
        "title_es": "Piloto de mapeo de cadenas de suministro",
        "countries": ["MX"],
        "participating_agencies": [{"agency": "MX-SE", "role": "4"}],
    }


def project_create(client: APIClient, code: str = "HLED-2026-01") -> None:
    response = client.post("/api/v1/projects/", new_project(code), format="json")
    assert response.status_code == 201, response.content[:500]


def deliveries_url(subscription_id: int) -> str:
    return f"{WEBHOOKS}{subscription_id}/deliveries/"


def redeliver_url(subscription_id: int, delivery_id: int) -> str:
    return f"{WEBHOOKS}{subscription_id}/deliveries/{delivery_id}/redeliver/"


# -- end to end --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_every_change_arrives_signed_and_retried_with_one_id(
    admin_api: APIClient, receiver: Receiver, settings: Any
) -> None:
    failures = 2
    settings.WEBHOOK_RETRY_DELAYS = [0, 0, 0, 0]
    receiver.failures = failures

    created = subscribe(admin_api, receiver.url, ["project.*", "agency.create"])
    receiver.secret = created["secret"]
    # A paused subscription that wants everything must get nothing.
    paused = subscribe(admin_api, receiver.url, ["*"], is_active=False)
    first_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def write(method: str, url: str, body: dict[str, Any] | None, status: int) -> None:
        headers = {} if method == "post" else {"HTTP_IF_MATCH": "*"}
        response = getattr(admin_api, method)(url, body, format="json", **headers)
        assert response.status_code == status, (url, response.content[:500])

    agency = {
        "code": "US-USTR",
        "acronym": "USTR",
        "name_en": "Office of the United States Trade Representative",
        "name_es": "Oficina del Representante Comercial de los Estados Unidos",
        "country": "US",
        "organisation_type": "10",
        "parent": None,
        "website": "https://ustr.gov/",
    }
    goal = {
        "code": "P1-G2",
        "pillar": "P1",
        "number": 2,
        "title_en": "Second goal",
        "title_es": "Segundo objetivo",
        "description_en": "",
        "description_es": "",
    }
    write("post", "/api/v1/agencies/", agency, 201)  # agency.create: wanted
    write("patch", "/api/v1/agencies/US-USTR/", {"name_en": "USTR"}, 200)  # not wanted
    write("post", "/api/v1/goals/", goal, 201)  # not wanted
    write("post", "/api/v1/projects/", new_project(), 201)  # project.create: wanted
    write("patch", "/api/v1/projects/HLED-2026-01/", {"status": "2"}, 200)  # wanted
    write("delete", "/api/v1/projects/HLED-2026-01/", None, 204)  # project.archive: wanted
    write("patch", "/api/v1/pillars/P1/", {"name_en": "Renamed"}, 200)  # not wanted

    events = list(AuditEvent.objects.filter(pk__gt=first_event).order_by("pk"))
    assert [f"{e.object_type}.{e.action}" for e in events] == [
        "agency.create",
        "agency.update",
        "goal.create",
        "project.create",
        "project.update",
        "project.archive",
        "pillar.update",
    ]
    wanted_types = {"agency.create", "project.create", "project.update", "project.archive"}
    wanted = [e for e in events if f"{e.object_type}.{e.action}" in wanted_types]
    assert len(wanted) == 4
    assert receiver.requests == []  # nothing is sent before the worker runs

    run_worker()
    assert_no_task_crashed()

    by_id = receiver.by_id()
    assert len(receiver.requests) == len(wanted) * (failures + 1)
    assert len(by_id) == len(wanted)  # one message per wanted change, none for the others
    assert all(r.verified is True for r in receiver.requests)
    assert all(r.method == "POST" and r.path == Receiver.PATH for r in receiver.requests)
    assert all(r.headers["content-type"].startswith("application/json") for r in receiver.requests)

    deliveries = {d.event_id: d for d in WebhookDelivery.objects.filter(subscription=created["id"])}
    assert set(deliveries) == {e.pk for e in wanted}
    assert not WebhookDelivery.objects.filter(subscription=paused["id"]).exists()
    for event in wanted:
        delivery = deliveries[event.pk]
        attempts = by_id[delivery.webhook_id]
        # Every retry of a message carries the same id and the same signed body.
        assert [r.status for r in attempts] == [500] * failures + [204]
        assert {r.body for r in attempts} == {delivery.payload.encode()}
        assert re.fullmatch(r"msg_[A-Za-z0-9_-]+", delivery.webhook_id)

        payload = attempts[-1].payload
        assert payload["type"] == f"{event.object_type}.{event.action}"
        assert payload["timestamp"] == event.occurred_at.isoformat().replace("+00:00", "Z")
        data = payload["data"]
        assert data["cursor"] == str(event.pk)
        assert (data["object_type"], data["code"], data["action"]) == (
            event.object_type,
            event.object_code,
            event.action,
        )
        assert data["url"].endswith(f"/api/v1/{PLURALS[event.object_type]}/{event.object_code}/")
        if event.action == "archive":
            assert data["visible"] is False
            assert data["object"] is None
        else:
            assert data["visible"] is True
            assert data["object"] == event.state
            assert data["changes"] == {k: v["after"] for k, v in event.changes.items()}

        delivery.refresh_from_db()
        assert delivery.status == "delivered"
        assert delivery.attempts == failures + 1
        assert delivery.next_attempt_at is None
        assert delivery.delivered_at is not None
        log = list(delivery.log.order_by("attempted_at", "id"))
        assert [(a.status_code, a.succeeded) for a in log] == [(500, False)] * failures + [
            (204, True)
        ]
        assert all(a.error for a in log[:-1]) and not log[-1].error

    # Ids are unique per message.
    assert len({d.webhook_id for d in deliveries.values()}) == len(wanted)

    # The log reads the same through the API.
    response = admin_api.get(deliveries_url(created["id"]))
    assert response.status_code == 200
    results = response.json()["results"]
    assert {r["webhook_id"] for r in results} == set(by_id)
    for row in results:
        assert row["status"] == "delivered"
        assert row["attempts"] == failures + 1
        assert [a["status_code"] for a in row["log"]] == [500] * failures + [204]
        assert [a["succeeded"] for a in row["log"]] == [False] * failures + [True]
    assert admin_api.get(deliveries_url(paused["id"])).json()["results"] == []


@pytest.mark.django_db(transaction=True)
def test_deliveries_wait_for_the_worker(admin_api: APIClient, receiver: Receiver) -> None:
    created = subscribe(admin_api, receiver.url, ["project.create"])

    project_create(admin_api)

    delivery = WebhookDelivery.objects.get(subscription=created["id"])
    assert receiver.requests == []
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert not delivery.log.exists()
    task = DBTaskResult.objects.get(queue_name=QUEUE)
    assert task.task_path == TASK_PATH
    assert task.args_kwargs["args"] == [delivery.pk, delivery.next_attempt_at.isoformat()]
    assert task.status == "READY"

    run_worker()

    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_tasks_are_queued_only_when_the_change_commits(
    admin_api: APIClient, receiver: Receiver
) -> None:
    # The delivery row is written with the change, the task only once it commits:
    # this test's transaction never does.
    created = subscribe(admin_api, receiver.url, ["*"])
    project_create(admin_api)
    assert WebhookDelivery.objects.filter(subscription=created["id"]).count() == 1
    assert not DBTaskResult.objects.filter(queue_name=QUEUE).exists()


# -- redelivery ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_redelivery_sends_the_same_message_again(
    admin_api: APIClient, receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [0]  # one try only: the first attempt gives up
    receiver.failures = 1
    created = subscribe(admin_api, receiver.url, ["project.*"])
    receiver.secret = created["secret"]
    project_create(admin_api)
    run_worker()
    delivery = WebhookDelivery.objects.get(subscription=created["id"])
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert len(receiver.requests) == 1

    response = admin_api.post(redeliver_url(created["id"], delivery.pk))

    assert response.status_code == 202, response.content[:500]
    body = response.json()
    assert (body["id"], body["webhook_id"], body["status"]) == (
        delivery.pk,
        delivery.webhook_id,
        "pending",
    )
    assert len(receiver.requests) == 1  # queued, not sent inside the request

    run_worker()
    assert_no_task_crashed()

    assert [r.webhook_id for r in receiver.requests] == [delivery.webhook_id] * 2
    assert [r.status for r in receiver.requests] == [500, 204]
    assert all(r.verified for r in receiver.requests)
    assert receiver.requests[0].body == receiver.requests[1].body
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert [(a.status_code, a.succeeded) for a in delivery.log.all()] == [
        (500, False),
        (204, True),
    ]

    # A delivered message can be sent again too, still with its id.
    response = admin_api.post(redeliver_url(created["id"], delivery.pk))
    assert response.status_code == 202
    run_worker()
    assert [r.webhook_id for r in receiver.requests] == [delivery.webhook_id] * 3
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered"


def test_redelivery_is_scoped_to_the_subscription(admin_api: APIClient, receiver: Receiver) -> None:
    mine = subscribe(admin_api, receiver.url, ["project.*"])
    other = subscribe(admin_api, receiver.url + "/other", ["project.*"])
    project_create(admin_api)
    theirs = WebhookDelivery.objects.get(subscription=other["id"])
    own = WebhookDelivery.objects.get(subscription=mine["id"])

    response = admin_api.post(redeliver_url(mine["id"], theirs.pk))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    missing = admin_api.post(redeliver_url(mine["id"], theirs.pk + own.pk + 1000))
    assert missing.status_code == 404
    assert admin_api.post(redeliver_url(other["id"] + mine["id"] + 1000, own.pk)).status_code == 404
    # Nothing was queued by the refused requests.
    assert not DBTaskResult.objects.filter(queue_name=QUEUE).exists()
    # The other subscription's log does not show up under this one.
    listed = admin_api.get(deliveries_url(mine["id"])).json()["results"]
    assert [row["id"] for row in listed] == [own.pk]


@pytest.mark.parametrize(
    ("caller", "status"), [("anonymous", 401), ("reader", 403), ("editor", 403)]
)
def test_only_admins_redeliver(
    callers: dict[str, APIClient], receiver: Receiver, caller: str, status: int
) -> None:
    created = subscribe(callers["admin"], receiver.url, ["project.*"])
    project_create(callers["admin"])
    delivery = WebhookDelivery.objects.get(subscription=created["id"])
    response = callers[caller].post(redeliver_url(created["id"], delivery.pk))
    assert response.status_code == status
    assert callers["admin_read"].post(redeliver_url(created["id"], delivery.pk)).status_code == 403


# -- who manages subscriptions ---------------------------------------------------------------


REQUESTS = [
    ("get", "list"),
    ("post", "list"),
    ("get", "detail"),
    ("patch", "detail"),
    ("put", "detail"),
    ("delete", "detail"),
    ("get", "deliveries"),
]


@pytest.mark.parametrize(("method", "target"), REQUESTS)
@pytest.mark.parametrize(
    ("caller", "status"), [("anonymous", 401), ("reader", 403), ("editor", 403)]
)
def test_subscriptions_are_for_admins_only(
    callers: dict[str, APIClient],
    receiver: Receiver,
    method: str,
    target: str,
    caller: str,
    status: int,
) -> None:
    created = subscribe(callers["admin"], receiver.url, ["project.*"])
    url = {
        "list": WEBHOOKS,
        "detail": f"{WEBHOOKS}{created['id']}/",
        "deliveries": deliveries_url(created["id"]),
    }[target]
    body = {"url": receiver.url, "event_types": ["*"], "description": "mine now"}

    response = getattr(callers[caller], method)(
        url, None if method == "get" else body, format="json"
    )

    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    assert created["secret"] not in response.content.decode()
    subscription = WebhookSubscription.objects.get()  # no new one, none deleted
    assert (subscription.event_types, subscription.description) == (["project.*"], "partner sync")


@pytest.mark.parametrize(("method", "target"), REQUESTS)
def test_an_admin_read_token_reads_but_cannot_write(
    callers: dict[str, APIClient], receiver: Receiver, method: str, target: str
) -> None:
    created = subscribe(callers["admin"], receiver.url, ["project.*"])
    url = {
        "list": WEBHOOKS,
        "detail": f"{WEBHOOKS}{created['id']}/",
        "deliveries": deliveries_url(created["id"]),
    }[target]
    body = {"url": receiver.url, "event_types": ["*"]}
    response = getattr(callers["admin_read"], method)(
        url, None if method == "get" else body, format="json"
    )
    assert response.status_code == (200 if method == "get" else 403), response.content[:300]
    assert WebhookSubscription.objects.get().event_types == ["project.*"]


def test_admin_manages_subscriptions(admin_api: APIClient, receiver: Receiver) -> None:
    created = subscribe(admin_api, receiver.url, ["project.update"])
    detail = f"{WEBHOOKS}{created['id']}/"

    listed = admin_api.get(WEBHOOKS).json()
    assert [row["id"] for row in listed["results"]] == [created["id"]]

    response = admin_api.patch(detail, {"is_active": False}, format="json")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["is_active"] is False
    assert WebhookSubscription.objects.get().is_active is False

    replaced = {"url": receiver.url, "description": "new", "event_types": ["goal.*"]}
    response = admin_api.put(detail, replaced, format="json")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["event_types"] == ["goal.*"]

    assert admin_api.delete(detail).status_code == 204
    assert not WebhookSubscription.objects.exists()
    assert admin_api.get(detail).status_code == 404
    assert admin_api.get(f"{WEBHOOKS}not-a-number/").status_code == 404


def test_a_subscription_made_through_v1_gets_v1_bodies(
    admin_api: APIClient, receiver: Receiver
) -> None:
    created = subscribe(admin_api, receiver.url, ["project.*"])
    assert "api_version" not in created  # the version is the URL's, not a field of v1
    assert WebhookSubscription.objects.get(pk=created["id"]).api_version == "v1"


# -- the secret ----------------------------------------------------------------------------


def test_the_secret_is_shown_once(admin_api: APIClient, receiver: Receiver) -> None:
    created = subscribe(admin_api, receiver.url, ["project.*"])
    secret = created["secret"]
    assert SECRET.fullmatch(secret)
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert WebhookSubscription.objects.get().secret == secret
    Webhook(secret)  # a Standard Webhooks library accepts it

    detail = f"{WEBHOOKS}{created['id']}/"
    for response in (
        admin_api.get(WEBHOOKS),
        admin_api.get(detail),
        admin_api.patch(detail, {"description": "changed"}, format="json"),
        admin_api.put(detail, {"url": receiver.url, "event_types": ["*"]}, format="json"),
        admin_api.get(deliveries_url(created["id"])),
    ):
        assert response.status_code == 200, response.content[:300]
        assert secret not in response.content.decode()
        assert "secret" not in json.dumps(response.json())

    other = subscribe(admin_api, receiver.url, ["project.*"])
    assert other["secret"] != secret


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"secret": "whsec_" + base64.b64encode(b"k" * 32).decode()}, "secret"),
        ({"colour": "red"}, "colour"),
        ({"id": 99}, "id"),
        ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
        ({"api_version": "v2"}, "api_version"),
    ],
)
def test_unknown_and_read_only_fields_are_refused(
    admin_api: APIClient, receiver: Receiver, extra: dict[str, Any], field: str
) -> None:
    body = {"url": receiver.url, "event_types": ["*"], **extra}
    response = admin_api.post(WEBHOOKS, body, format="json")
    assert response.status_code == 400, response.content[:300]
    assert field in error_fields(response)
    assert not WebhookSubscription.objects.exists()

    existing = subscribe(admin_api, receiver.url, ["*"])
    response = admin_api.patch(f"{WEBHOOKS}{existing['id']}/", extra, format="json")
    assert response.status_code == 400, response.content[:300]
    assert field in error_fields(response)
    assert WebhookSubscription.objects.get().secret == existing["secret"]


# -- targets and event types -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/hook",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://",
        "http:///hook",
        "example.org/hook",
        "",
    ],
)
def test_targets_must_be_http_urls_with_a_host(admin_api: APIClient, url: str) -> None:
    response = admin_api.post(WEBHOOKS, {"url": url, "event_types": ["*"]}, format="json")
    assert response.status_code == 400, response.content[:300]
    assert error_fields(response) == {"url"}
    assert not WebhookSubscription.objects.exists()


NON_PUBLIC = [
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "https://172.31.255.254/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    # multicast, though Python counts much of it as global
    "http://224.0.0.1/hook",
    "http://239.255.255.250:1900/hook",
    "http://[ff02::1]/hook",
    "http://[ff0e::1]/hook",
    # broadcast, reserved, unspecified
    "http://255.255.255.255/hook",
    "http://240.0.0.1/hook",
    "http://[::]/hook",
    # documentation, IPv4-compatible and translated IPv6 forms of private addresses
    "http://192.0.2.10/hook",
    "http://[2001:db8::1]/hook",
    "http://[::10.0.0.1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://[64:ff9b::a00:1]/hook",
    "http://[2002:a00:1::]/hook",
]


@pytest.mark.parametrize("url", NON_PUBLIC)
def test_private_and_link_local_targets_are_refused(admin_api: APIClient, url: str) -> None:
    response = admin_api.post(WEBHOOKS, {"url": url, "event_types": ["*"]}, format="json")
    assert response.status_code == 400, response.content[:300]
    assert error_fields(response) == {"url"}
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hook", "http://127.1.2.3/hook", "http://[::1]/hook"]
)
def test_loopback_is_refused_unless_allowed(admin_api: APIClient, settings: Any, url: str) -> None:
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    response = admin_api.post(WEBHOOKS, {"url": url, "event_types": ["*"]}, format="json")
    assert response.status_code == 400, response.content[:300]
    assert error_fields(response) == {"url"}

    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8", "::1/128"]
    response = admin_api.post(WEBHOOKS, {"url": url, "event_types": ["*"]}, format="json")
    assert response.status_code == 201, response.content[:300]


NEVER_A_HOST = [
    "http://224.0.0.1/hook",
    "http://[ff0e::1]/hook",
    "http://255.255.255.255/hook",
    "http://0.0.0.0:8000/hook",
    "http://[::]:8000/hook",
]


@pytest.mark.parametrize("url", NEVER_A_HOST)
def test_multicast_broadcast_and_unspecified_are_refused_whatever_is_allowed(
    admin_api: APIClient, settings: Any, url: str
) -> None:
    # 0.0.0.0 and :: reach this very machine; multicast and broadcast reach many.
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["0.0.0.0/0", "::/0"]
    response = admin_api.post(WEBHOOKS, {"url": url, "event_types": ["*"]}, format="json")
    assert_problem(response, 400, "url")
    assert not WebhookSubscription.objects.exists()


def test_allowed_private_networks_are_still_accepted(admin_api: APIClient, settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["10.20.0.0/16"]
    assert subscribe(admin_api, "http://10.20.1.2:8443/hook", ["*"])["url"]
    response = admin_api.post(
        WEBHOOKS, {"url": "http://10.21.1.2/hook", "event_types": ["*"]}, format="json"
    )
    assert_problem(response, 400, "url")


CREDENTIALS = [
    "https://user:secret@8.8.8.8/hook",
    "https://user@8.8.8.8/hook",
    "https://:secret@8.8.8.8/hook",
    "http://user:secret@127.0.0.1:8000/hook",
    "https://user:secret@8.8.8.8@8.8.4.4/hook",
]


@pytest.mark.parametrize("url", CREDENTIALS)
def test_credentials_in_the_target_are_refused(admin_api: APIClient, url: str) -> None:
    response = admin_api.post(WEBHOOKS, {"url": url, "event_types": ["*"]}, format="json")
    assert_problem(response, 400, "url")
    assert "secret" not in response.content.decode()
    assert not WebhookSubscription.objects.exists()
    assert admin_api.get(WEBHOOKS).json()["results"] == []


def test_a_target_cannot_be_given_credentials_later(
    admin_api: APIClient, receiver: Receiver
) -> None:
    created = subscribe(admin_api, receiver.url, ["*"])
    with_credentials = receiver.url.replace("http://", "http://user:secret@")
    response = admin_api.patch(
        f"{WEBHOOKS}{created['id']}/", {"url": with_credentials}, format="json"
    )
    body = assert_problem(response, 400, "url")
    assert [e["message"] for e in body["errors"]] == [
        "Credentials in the URL are not allowed (the requests are signed)."
    ]
    assert WebhookSubscription.objects.get().url == receiver.url
    assert "secret@" not in admin_api.get(WEBHOOKS).content.decode()


def test_a_public_address_is_accepted(admin_api: APIClient) -> None:
    # A literal public address: no DNS needed, and no worker runs to call it.
    created = subscribe(admin_api, "https://93.184.215.14/hooks/workplan", ["*"])
    assert created["url"] == "https://93.184.215.14/hooks/workplan"


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "ftp://example.org/hook"])
def test_a_target_cannot_be_changed_to_a_refused_one(
    admin_api: APIClient, receiver: Receiver, method: str, url: str
) -> None:
    created = subscribe(admin_api, receiver.url, ["*"])
    response = getattr(admin_api, method)(
        f"{WEBHOOKS}{created['id']}/", {"url": url, "event_types": ["*"]}, format="json"
    )
    assert response.status_code == 400, response.content[:300]
    assert error_fields(response) == {"url"}
    assert WebhookSubscription.objects.get().url == receiver.url


@pytest.mark.parametrize(
    "event_types",
    [
        [],
        ["project.explode"],
        ["widget.create"],
        ["widget.*"],
        ["project"],
        ["project."],
        [".update"],
        ["PROJECT.UPDATE"],
        ["project.update", "nonsense"],
        [1],
        [None],
        "project.*",
        {"project": "update"},
        None,
    ],
)
def test_unknown_event_types_are_refused(
    admin_api: APIClient, receiver: Receiver, event_types: Any
) -> None:
    body = {"url": receiver.url, "event_types": event_types}
    response = admin_api.post(WEBHOOKS, body, format="json")
    assert response.status_code == 400, response.content[:300]
    fields = error_fields(response)
    assert fields and all(f.split(".")[0] == "event_types" for f in fields), fields
    assert not WebhookSubscription.objects.exists()


def test_event_types_are_required(admin_api: APIClient, receiver: Receiver) -> None:
    response = admin_api.post(WEBHOOKS, {"url": receiver.url}, format="json")
    assert response.status_code == 400
    assert "event_types" in error_fields(response)


@pytest.mark.parametrize(
    "event_types",
    [
        ["*"],
        ["project.*"],
        ["project.update"],
        ["pillar.create", "goal.archive", "agency.restore", "project.*"],
        ["progress.create"],
        ["meeting.*", "progress.update", "progress.archive", "progress.restore"],
    ],
)
def test_known_event_types_are_accepted(
    admin_api: APIClient, receiver: Receiver, event_types: list[str]
) -> None:
    created = subscribe(admin_api, receiver.url, event_types)
    assert set(created["event_types"]) == set(event_types)
    assert set(WebhookSubscription.objects.get().event_types) == set(event_types)


# -- meetings and progress reports ---------------------------------------------------------


def progress_body(narrative: str = "Supplier workshops held") -> dict[str, Any]:
    return {
        "date": "2026-03-31",
        "narrative_en": f"{narrative}.",
        "narrative_es": "Se realizaron talleres para proveedores.",
        "source": {"kind": "entered", "title": "Quarterly report", "publisher": "SE"},
    }


@pytest.mark.django_db(transaction=True)
def test_progress_and_meeting_events_arrive_signed_with_their_types(
    callers: dict[str, APIClient], receiver: Receiver
) -> None:
    admin_api, editor = callers["admin"], callers["editor"]
    created = subscribe(admin_api, receiver.url, ["progress.create", "meeting.*"])
    receiver.secret = created["secret"]
    project_create(admin_api)  # not wanted
    admin_api.patch(
        "/api/v1/projects/HLED-2026-01/", {"is_published": True}, format="json", HTTP_IF_MATCH="*"
    )
    response = editor.post(
        "/api/v1/projects/HLED-2026-01/progress/", progress_body(), format="json"
    )
    assert response.status_code == 201, response.content[:500]
    code = response.json()["code"]
    meeting = {
        "code": "HLED-M-2026-04-01",
        "date": "2026-04-01",
        "kind": "review",
        "place_en": "Virtual",
        "place_es": "Virtual",
        "projects": [{"project": "HLED-2026-01", "kind": "reviewed"}],
    }
    assert admin_api.post("/api/v1/meetings/", meeting, format="json").status_code == 201
    patched = editor.patch(
        f"/api/v1/progress/{code}/", {"narrative_en": "Revised."}, format="json", HTTP_IF_MATCH="*"
    )
    assert patched.status_code == 200  # progress.update: not wanted

    run_worker()
    assert_no_task_crashed()

    payloads = [r.payload for r in receiver.requests]
    assert all(r.verified is True for r in receiver.requests)
    assert [p["type"] for p in payloads] == ["progress.create", "meeting.create"]
    report, meeting_data = payloads[0]["data"], payloads[1]["data"]
    assert (report["object_type"], report["code"], report["visible"]) == ("progress", code, True)
    assert report["url"].endswith(f"/api/v1/progress/{code}/")
    assert report["object"]["project"] == "HLED-2026-01"
    assert report["object"]["narrative_en"] == "Supplier workshops held."
    assert report["agency"] == "MX-SE"
    assert meeting_data["url"].endswith("/api/v1/meetings/HLED-M-2026-04-01/")
    assert meeting_data["object"]["projects"] == [{"project": "HLED-2026-01", "kind": "reviewed"}]


def test_progress_on_an_unpublished_project_reaches_only_its_agencies_subscriptions(
    callers: dict[str, APIClient], receiver: Receiver
) -> None:
    admin_api, editor = callers["admin"], callers["editor"]
    mine = subscribe(admin_api, receiver.url, ["progress.*"], agency="MX-SE")
    other = subscribe(admin_api, receiver.url, ["progress.*"], agency="US-DOC")
    everything = subscribe(admin_api, receiver.url, ["*"])
    project_create(editor)  # unpublished: editors cannot publish
    response = editor.post(
        "/api/v1/projects/HLED-2026-01/progress/", progress_body(), format="json"
    )
    assert response.status_code == 201, response.content[:500]
    code = response.json()["code"]

    def received(subscription: dict[str, Any]) -> list[tuple[str, str]]:
        return list(
            WebhookDelivery.objects.filter(subscription=subscription["id"])
            .order_by("pk")
            .values_list("event_type", "event__object_code")
        )

    assert received(mine) == [("progress.create", code)]
    assert received(other) == []
    assert ("progress.create", code) in received(everything)
    payload = json.loads(WebhookDelivery.objects.get(subscription=mine["id"]).payload)
    assert payload["data"]["visible"] is True
    assert payload["data"]["object"]["project_is_published"] is False
