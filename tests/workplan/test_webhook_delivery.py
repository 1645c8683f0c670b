"""Webhook delivery one attempt at a time: signing, retry schedule, giving up, what
counts as delivered, targets refused at delivery time; and the webhooks admin.

Attempts are made with `workplan.webhooks.webhook_attempt` against a real receiver on
127.0.0.1 (see tests/api/test_webhooks.py); tests that need the task worker commit.
"""

from __future__ import annotations

import ast
import json
import re
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import workplan
from tests.api.test_webhooks import (
    QUEUE,
    TASK_PATH,
    Receiver,
    assert_no_task_crashed,
    run_worker,
)
from tests.factories import AgencyFactory, PillarFactory
from workplan import services, webhooks
from workplan.models import (
    AuditEvent,
    Pillar,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    new_webhook_secret,
)
from workplan.policy import Audience
from workplan.webhooks import DEFAULT_RETRY_DELAYS, retry_delays, webhook_attempt

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/admin/workplan/webhooksubscription/"
DELIVERIES = "/admin/workplan/webhookdelivery/"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def change_something() -> AuditEvent:
    """Archive a fresh pillar: one audit event, deliveries for interested subscriptions."""
    services.plan_object_archive(obj=cast(Pillar, PillarFactory()), actor=services.SYSTEM)
    return AuditEvent.objects.latest("pk")


def make_delivery(url: str, event_types: list[str] | None = None) -> WebhookDelivery:
    subscription = WebhookSubscription.objects.create(url=url, event_types=event_types or ["*"])
    change_something()
    return WebhookDelivery.objects.get(subscription=subscription)


def attempt(delivery: WebhookDelivery) -> WebhookDelivery:
    webhook_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def wait_before_next_try(delivery: WebhookDelivery) -> timedelta:
    assert delivery.next_attempt_at is not None and delivery.last_attempt_at is not None
    return delivery.next_attempt_at - delivery.last_attempt_at


def webhook_tasks() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(queue_name=QUEUE).order_by("enqueued_at"))


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the schedule -----------------------------------------------------------------------------


def test_the_default_schedule_covers_a_day_and_backs_off() -> None:
    delays = DEFAULT_RETRY_DELAYS
    assert sum(delays) >= 24 * 3600
    assert len(delays) >= 2 and all(d >= 0 for d in delays)
    after_first = list(delays[1:])
    assert after_first == sorted(after_first)
    assert after_first[-1] > after_first[0]
    assert retry_delays() == tuple(DEFAULT_RETRY_DELAYS)


def test_the_setting_replaces_the_schedule(settings: Any) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [0, 1, 2]
    assert retry_delays() == (0, 1, 2)


def test_a_failed_attempt_schedules_the_next_try(receiver: Receiver, settings: Any) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [0, 300, 3600]
    receiver.failures = 99
    delivery = make_delivery(receiver.url)
    assert webhook_tasks() == []  # the first task waits for the commit, which never comes

    for number, delay in enumerate((300, 3600), start=1):
        before = timezone.now()
        delivery = attempt(delivery)
        after = timezone.now()

        assert (delivery.status, delivery.attempts) == ("pending", number)
        assert delivery.last_status_code == 500
        assert wait_before_next_try(delivery) == timedelta(seconds=delay)
        tasks = webhook_tasks()
        assert len(tasks) == number
        task = tasks[-1]
        assert task.task_path == TASK_PATH
        # The task names the delivery and the try it is for (its next_attempt_at).
        assert task.args_kwargs["args"] == [delivery.pk, delivery.next_attempt_at.isoformat()]
        assert task.status == "READY"
        assert before + timedelta(seconds=delay) <= task.run_after
        assert task.run_after <= after + timedelta(seconds=delay)
        assert not DBTaskResult.objects.ready().filter(pk=task.pk).exists()  # not due yet

    delivery = attempt(delivery)  # the last one
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.next_attempt_at is None
    assert len(webhook_tasks()) == 2  # not rescheduled
    assert [(a.status_code, a.succeeded) for a in delivery.log.all()] == [(500, False)] * 3
    assert len(receiver.requests) == 3


def test_the_last_attempt_of_the_default_schedule_gives_up(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 503
    delivery = make_delivery(receiver.url)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=len(DEFAULT_RETRY_DELAYS) - 1)

    delivery = attempt(delivery)

    assert delivery.status == "failed"
    assert delivery.attempts == len(DEFAULT_RETRY_DELAYS)
    assert delivery.next_attempt_at is None
    assert webhook_tasks() == []
    assert delivery.webhook_id in caplog.text

    # A delivery that gave up is not tried again by a stray task.
    delivery = attempt(delivery)
    assert len(receiver.requests) == 1
    assert delivery.log.count() == 1


def test_one_before_the_last_attempt_is_still_retried(receiver: Receiver) -> None:
    receiver.status = 500
    delivery = make_delivery(receiver.url)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=len(DEFAULT_RETRY_DELAYS) - 2)
    delivery = attempt(delivery)
    assert delivery.status == "pending"
    assert wait_before_next_try(delivery) == timedelta(seconds=DEFAULT_RETRY_DELAYS[-1])
    assert len(webhook_tasks()) == 1


@pytest.mark.django_db(transaction=True)
def test_the_worker_stops_when_the_schedule_runs_out(receiver: Receiver, settings: Any) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [0, 0, 0]
    receiver.failures = 99
    WebhookSubscription.objects.create(url=receiver.url, event_types=["pillar.archive"])
    change_something()

    run_worker()
    assert_no_task_crashed()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert [r.status for r in receiver.requests] == [500, 500, 500]
    assert len({r.webhook_id for r in receiver.requests}) == 1
    assert not DBTaskResult.objects.ready().filter(queue_name=QUEUE).exists()


# -- what counts as delivered --------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_delivered(receiver: Receiver, status: int) -> None:
    receiver.status = status
    delivery = attempt(make_delivery(receiver.url))
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "delivered",
        1,
        status,
    )
    assert delivery.delivered_at == delivery.last_attempt_at
    assert delivery.next_attempt_at is None
    assert webhook_tasks() == []
    (entry,) = delivery.log.all()
    assert (entry.status_code, entry.succeeded, entry.error) == (status, True, "")


@pytest.mark.parametrize("status", [400, 401, 404, 410, 429, 500, 502, 503])
def test_other_answers_are_failures_and_retried(
    receiver: Receiver, settings: Any, status: int
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [0, 5, 60]
    receiver.status = status
    delivery = attempt(make_delivery(receiver.url))
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "pending",
        1,
        status,
    )
    assert delivery.delivered_at is None
    assert str(status) in delivery.last_error
    (entry,) = delivery.log.all()
    assert (entry.status_code, entry.succeeded) == (status, False)
    assert len(webhook_tasks()) == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(receiver: Receiver, settings: Any, status: int) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [0, 5, 60]
    receiver.redirect = status
    delivery = attempt(make_delivery(receiver.url))

    assert [r.path for r in receiver.requests] == [Receiver.PATH]  # /elsewhere never called
    assert (delivery.status, delivery.last_status_code) == ("pending", status)
    (entry,) = delivery.log.all()
    assert (entry.status_code, entry.succeeded) == (status, False)
    assert entry.error
    assert len(webhook_tasks()) == 1


def test_a_receiver_that_is_down_is_logged_and_retried(settings: Any) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [0, 5, 60]
    delivery = attempt(make_delivery(f"http://127.0.0.1:{closed_port()}/hook"))

    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_status_code is None
    assert re.search(r"refused|URLError|Errno", delivery.last_error, re.IGNORECASE)
    assert wait_before_next_try(delivery) == timedelta(seconds=5)
    (entry,) = delivery.log.all()
    assert (entry.status_code, entry.succeeded) == (None, False)
    assert entry.error == delivery.last_error
    assert len(webhook_tasks()) == 1


def test_a_receiver_that_hangs_times_out(receiver: Receiver, settings: Any) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.hang = True
    started = time.monotonic()
    delivery = attempt(make_delivery(receiver.url))
    assert time.monotonic() - started < 5
    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert re.search(r"time", delivery.last_error, re.IGNORECASE)
    assert len(webhook_tasks()) == 1


# -- what is sent -----------------------------------------------------------------------------


def test_requests_are_signed_as_standard_webhooks_says(receiver: Receiver) -> None:
    delivery = make_delivery(receiver.url)
    receiver.secret = delivery.subscription.secret
    before = int(time.time())
    attempt(delivery)
    after = int(time.time())

    (request,) = receiver.requests
    assert request.verified is True
    assert request.method == "POST"
    assert request.webhook_id == delivery.webhook_id
    assert re.fullmatch(r"msg_[A-Za-z0-9_-]+", request.webhook_id)
    assert before <= int(request.headers["webhook-timestamp"]) <= after
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.body == delivery.payload.encode()
    assert request.payload["type"] == "pillar.archive"
    assert request.payload["data"]["cursor"] == str(delivery.event_id)

    # Only the subscription's secret verifies it; a changed body does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(receiver.secret).verify(request.body + b" ", request.headers)


def test_each_subscription_signs_with_its_own_secret(receiver: Receiver) -> None:
    first = WebhookSubscription.objects.create(url=receiver.url, event_types=["*"])
    second = WebhookSubscription.objects.create(url=receiver.url, event_types=["pillar.*"])
    change_something()
    for delivery in WebhookDelivery.objects.all():
        attempt(delivery)
    assert first.secret != second.secret
    by_id = {d.webhook_id: d.subscription.secret for d in WebhookDelivery.objects.all()}
    assert len(receiver.requests) == 2
    for request in receiver.requests:
        Webhook(by_id[request.webhook_id]).verify(request.body, request.headers)


@pytest.mark.parametrize(
    ("event_types", "wanted"),
    [
        (["*"], True),
        (["pillar.*"], True),
        (["pillar.archive"], True),
        (["goal.*", "pillar.archive"], True),
        (["pillar.update"], False),
        (["project.*"], False),
        (["goal.archive"], False),
    ],
)
def test_a_delivery_per_matching_subscription(
    receiver: Receiver, event_types: list[str], wanted: bool
) -> None:
    subscription = WebhookSubscription.objects.create(url=receiver.url, event_types=event_types)
    event = change_something()
    assert event.object_type == "pillar" and event.action == "archive"
    deliveries = WebhookDelivery.objects.filter(subscription=subscription)
    assert deliveries.count() == (1 if wanted else 0)
    if wanted:
        delivery = deliveries.get()
        assert (delivery.event_id, delivery.event_type, delivery.status) == (
            event.pk,
            "pillar.archive",
            "pending",
        )


def test_inactive_subscriptions_get_no_deliveries(receiver: Receiver) -> None:
    WebhookSubscription.objects.create(url=receiver.url, event_types=["*"], is_active=False)
    change_something()
    assert not WebhookDelivery.objects.exists()


def test_each_delivery_is_queued_when_the_change_commits(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    WebhookSubscription.objects.create(url=receiver.url, event_types=["*"])
    WebhookSubscription.objects.create(url=receiver.url + "/2", event_types=["pillar.*"])
    with django_capture_on_commit_callbacks(execute=True):
        change_something()
        assert webhook_tasks() == []
    deliveries = list(WebhookDelivery.objects.all())
    assert len(deliveries) == 2
    assert len({d.webhook_id for d in deliveries}) == 2
    tasks = webhook_tasks()
    assert sorted(t.args_kwargs["args"][0] for t in tasks) == sorted(d.pk for d in deliveries)
    assert all(t.task_path == TASK_PATH for t in tasks)
    assert DBTaskResult.objects.ready().filter(queue_name=QUEUE).count() == 2
    assert receiver.requests == []


# -- who writes the body ----------------------------------------------------------------------


@pytest.fixture
def vtest(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Audience]]:
    """A renderer registered for a made-up API version "vtest"; returns what it was asked."""
    calls: list[tuple[int, Audience]] = []

    def render(event: AuditEvent, audience: Audience) -> str:
        calls.append((event.pk, audience))
        return f'{{"vtest":{event.pk}}}'

    monkeypatch.setattr(webhooks, "_payload_renderers", dict(webhooks._payload_renderers))
    webhooks.register_payload_renderer("vtest", render)
    return calls


def test_the_body_is_written_by_the_subscriptions_api_version(
    receiver: Receiver, vtest: list[tuple[int, Audience]]
) -> None:
    assert webhooks.payload_versions() == ["v1", "vtest"]
    agency = AgencyFactory(code="MX-SE", acronym="SE")
    v1 = WebhookSubscription.objects.create(url=receiver.url, event_types=["*"])
    mine = WebhookSubscription.objects.create(
        url=receiver.url, event_types=["*"], api_version="vtest"
    )
    of_agency = WebhookSubscription.objects.create(
        url=receiver.url, event_types=["*"], api_version="vtest", agency=agency
    )
    event = change_something()

    assert json.loads(v1.deliveries.get().payload)["data"]["cursor"] == str(event.pk)
    delivery = mine.deliveries.get()
    assert delivery.payload == f'{{"vtest":{event.pk}}}'
    # Each subscription's view: everything without an agency, else what the agency sees.
    assert vtest == [
        (event.pk, Audience(everything=True)),
        (event.pk, Audience(agency_code="MX-SE")),
    ]
    assert of_agency.deliveries.count() == 1  # a pillar is public

    receiver.secret = mine.secret
    attempt(delivery)
    (request,) = receiver.requests
    assert request.body == f'{{"vtest":{event.pk}}}'.encode()
    assert request.verified is True


def test_a_subscription_of_a_version_that_renders_nothing_stops_the_change() -> None:
    WebhookSubscription.objects.create(
        url="http://127.0.0.1:9/", event_types=["*"], api_version="v0"
    )
    pillar = cast(Pillar, PillarFactory())
    with pytest.raises(ImproperlyConfigured, match="v0"):
        services.plan_object_archive(obj=pillar, actor=services.SYSTEM)
    pillar.refresh_from_db()
    assert pillar.archived_at is None
    assert not AuditEvent.objects.filter(action="archive").exists()
    assert not WebhookDelivery.objects.exists()


def test_every_attempt_sends_the_body_rendered_when_the_change_was_recorded(
    receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [0, 0]
    settings.API_PUBLIC_URL = "https://first.example.org"
    receiver.failures = 1
    delivery = make_delivery(receiver.url, ["pillar.*"])
    receiver.secret = delivery.subscription.secret
    attempt(delivery)
    # What the renderer reads may change before the retry; the message does not.
    settings.API_PUBLIC_URL = "https://second.example.org"
    WebhookSubscription.objects.update(agency=AgencyFactory())
    delivery = attempt(delivery)

    assert delivery.status == "delivered"
    first, retry = receiver.requests
    assert first.webhook_id == retry.webhook_id == delivery.webhook_id
    assert first.body == retry.body == delivery.payload.encode()
    assert first.payload["data"]["url"].startswith("https://first.example.org/")
    assert first.verified is True and retry.verified is True


def test_the_domain_renders_no_wire_format() -> None:
    """workplan/ records events in domain terms; API versions render them."""
    package = Path(workplan.__file__).resolve().parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        source = path.read_text()
        if "/api/" in source:
            offenders.append(f"{path.name}: builds an API path")
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: imports {n}" for n in names if n.split(".")[0] == "api"]
    assert offenders == []


# -- targets that became unacceptable -------------------------------------------------------------


def test_a_target_refused_at_delivery_time_is_not_called(receiver: Receiver, settings: Any) -> None:
    delivery = make_delivery(receiver.url)
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []  # e.g. an operator tightened the rules

    delivery = attempt(delivery)

    assert receiver.requests == []
    assert delivery.status != "delivered"
    assert delivery.last_status_code is None
    assert "127.0.0.1" in delivery.last_error or "non-public" in delivery.last_error
    (entry,) = delivery.log.all()
    assert (entry.status_code, entry.succeeded) == (None, False)
    assert entry.error


def test_a_paused_subscription_is_not_called(receiver: Receiver) -> None:
    delivery = make_delivery(receiver.url)
    WebhookSubscription.objects.update(is_active=False)
    delivery = attempt(delivery)
    assert receiver.requests == []
    assert delivery.status != "delivered"
    assert delivery.log.get().error


def test_a_deleted_delivery_is_skipped(receiver: Receiver) -> None:
    delivery = make_delivery(receiver.url)
    WebhookSubscription.objects.all().delete()
    assert webhook_attempt(delivery_id=delivery.pk) is None
    assert receiver.requests == []
    assert not WebhookAttempt.objects.exists()


# -- the admin ------------------------------------------------------------------------------------


def test_admin_lists_and_adds_subscriptions(admin_client: Client, receiver: Receiver) -> None:
    existing = WebhookSubscription.objects.create(
        url=receiver.url, description="SE sync", event_types=["project.*"]
    )
    response = admin_client.get(SUBSCRIPTIONS)
    assert response.status_code == 200
    assert "SE sync" in response.content.decode()
    assert admin_client.get(f"{SUBSCRIPTIONS}{existing.pk}/change/").status_code == 200
    assert admin_client.get(f"{SUBSCRIPTIONS}add/").status_code == 200

    response = admin_client.post(
        f"{SUBSCRIPTIONS}add/",
        {
            "url": receiver.url + "/new",
            "description": "DOC sync",
            "event_types": '["goal.*"]',
            "is_active": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    added = WebhookSubscription.objects.get(description="DOC sync")
    assert added.event_types == ["goal.*"]
    assert added.secret.startswith("whsec_") and added.secret != existing.secret


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/hook", "http://169.254.169.254/latest/", "ftp://example.org/x"]
)
def test_admin_refuses_targets_the_api_refuses(admin_client: Client, url: str) -> None:
    response = admin_client.post(
        f"{SUBSCRIPTIONS}add/",
        {"url": url, "description": "bad", "event_types": '["*"]', "is_active": "on"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors.get("url")
    assert not WebhookSubscription.objects.exists()


def test_admin_refuses_unknown_event_types(admin_client: Client, receiver: Receiver) -> None:
    response = admin_client.post(
        f"{SUBSCRIPTIONS}add/",
        {
            "url": receiver.url,
            "description": "typo",
            "event_types": '["project.updated"]',
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors.get("event_types")
    assert not WebhookSubscription.objects.exists()


def test_admin_delivery_log_is_readable_and_read_only(
    admin_client: Client, receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [0, 0, 0]
    receiver.failures = 1
    delivery = make_delivery(receiver.url)
    attempt(delivery)
    delivery = attempt(delivery)
    assert delivery.status == "delivered"

    listing = admin_client.get(DELIVERIES)
    assert listing.status_code == 200
    assert delivery.webhook_id in listing.content.decode()

    page = admin_client.get(f"{DELIVERIES}{delivery.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert delivery.webhook_id in html
    assert "500" in html and "204" in html  # both attempts of the log
    assert 'name="_save"' not in html
    assert not page.context["has_change_permission"]

    assert admin_client.get(f"{DELIVERIES}add/").status_code == 403
    assert admin_client.post(f"{DELIVERIES}{delivery.pk}/change/", {}).status_code == 403
    assert (
        admin_client.post(f"{DELIVERIES}{delivery.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert WebhookDelivery.objects.filter(pk=delivery.pk, status="delivered").exists()
    assert delivery.log.count() == 2


@pytest.mark.django_db(transaction=True)
def test_admin_redeliver_action_sends_the_same_message(
    admin_client: Client, receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_RETRY_DELAYS = [0]
    receiver.failures = 1
    subscription = WebhookSubscription.objects.create(url=receiver.url, event_types=["*"])
    receiver.secret = subscription.secret
    change_something()
    run_worker()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"

    response = admin_client.post(
        DELIVERIES, {"action": "redeliver_selected", "_selected_action": [delivery.pk]}
    )

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert len(receiver.requests) == 1  # queued, not sent by the admin request
    run_worker()
    assert_no_task_crashed()
    assert [r.webhook_id for r in receiver.requests] == [delivery.webhook_id] * 2
    assert [r.status for r in receiver.requests] == [500, 204]
    assert all(r.verified for r in receiver.requests)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.log.count() == 2
