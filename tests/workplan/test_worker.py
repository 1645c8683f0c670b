"""The worker's own recovery, in process: leases on delivery tries and the sweep that takes
over expired ones, the housekeeping schedule, and the loop that backs off from database
errors instead of exiting. The same, with real processes and a real PostgreSQL that is
stopped and started, is in tests/test_faults_live.py.

Tests that run the worker commit (transaction=True): the worker closes connections
between tasks, which on PostgreSQL ends a test's surrounding transaction.
"""

from __future__ import annotations

import io
import signal
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from api.models import IdempotencyRecord
from tests.api.test_webhooks import QUEUE, TASK_PATH, Receiver, run_worker
from tests.conftest import make_user
from tests.factories import PillarFactory
from workplan import services, webhooks, worker
from workplan.models import WebhookDelivery, WebhookSubscription
from workplan.webhooks import webhook_attempt, webhook_sweep
from workplan.worker import Housekeeping, Job, ResilientWorker, backoff, default_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def make_delivery(url: str) -> WebhookDelivery:
    subscription = WebhookSubscription.objects.create(url=url, event_types=["*"])
    services.plan_object_archive(obj=PillarFactory(), actor=services.SYSTEM)
    return WebhookDelivery.objects.get(subscription=subscription)


def tasks_for(delivery: WebhookDelivery) -> list[DBTaskResult]:
    return [
        t
        for t in DBTaskResult.objects.filter(task_path=TASK_PATH).order_by("enqueued_at")
        if t.args_kwargs["args"][0] == delivery.pk
    ]


def cut_try(delivery: WebhookDelivery, lease_left: timedelta) -> WebhookDelivery:
    """The state a worker killed mid-try leaves: claimed, with a lease `lease_left` from now
    (negative: expired), and its task gone from the queue."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=None, leased_until=timezone.now() + lease_left
    )
    DBTaskResult.objects.all().delete()
    delivery.refresh_from_db()
    return delivery


# -- leases --------------------------------------------------------------------------------------


def test_a_try_holds_a_lease_while_it_runs(
    receiver: Receiver, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WEBHOOK_LEASE_SECONDS = 45
    delivery = make_delivery(receiver.url)
    seen: list[Any] = []
    real_post = webhooks._post

    def post(*args: Any) -> int:
        seen.append(WebhookDelivery.objects.values_list("leased_until", "next_attempt_at").get())
        return real_post(*args)

    monkeypatch.setattr(webhooks, "_post", post)
    before = timezone.now()
    webhook_attempt(delivery_id=delivery.pk)

    ((leased_until, next_attempt_at),) = seen
    assert next_attempt_at is None
    assert before + timedelta(seconds=45) <= leased_until <= timezone.now() + timedelta(seconds=45)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.leased_until) == ("delivered", None)


def test_the_default_lease_outlasts_the_timeout(settings: Any) -> None:
    from config.settings import base

    assert base.WEBHOOK_LEASE_SECONDS > base.WEBHOOK_TIMEOUT_SECONDS


@pytest.mark.django_db(transaction=True)
def test_an_expired_lease_is_queued_again_and_delivered_with_the_same_id(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = cut_try(make_delivery(receiver.url), -timedelta(seconds=1))

    assert webhook_sweep() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.leased_until) == ("pending", 0, None)
    (task,) = tasks_for(delivery)
    assert task.args_kwargs["args"] == [delivery.pk, delivery.next_attempt_at.isoformat()]
    run_worker()
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    (request,) = receiver.requests
    assert request.webhook_id == delivery.webhook_id


def test_a_running_lease_is_left_alone(receiver: Receiver) -> None:
    cut_try(make_delivery(receiver.url), timedelta(seconds=30))
    assert webhook_sweep() == 0
    assert not DBTaskResult.objects.exists()


def test_a_due_try_without_a_task_is_queued_again_after_the_grace(
    receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_LEASE_SECONDS = 60
    delivery = make_delivery(receiver.url)  # its task waits for a commit that never comes
    assert tasks_for(delivery) == []
    assert webhook_sweep() == 0  # due just now: its task may be on its way

    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=61)
    )
    assert webhook_sweep() == 1
    assert len(tasks_for(delivery)) == 1
    assert webhook_sweep() == 0  # its task is queued now


def test_a_late_task_still_in_the_queue_is_not_doubled(receiver: Receiver) -> None:
    delivery = make_delivery(receiver.url)
    webhooks._schedule(delivery.pk, 0, delivery.next_attempt_at)  # due, and queued
    assert webhook_sweep(grace=timedelta(0)) == 0  # the workers are only busy
    assert len(tasks_for(delivery)) == 1


def test_a_try_that_outlived_its_lease_does_not_overwrite_the_next(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = make_delivery(receiver.url)
    real_post = webhooks._post

    def slow_post(*args: Any) -> int:
        # Meanwhile the lease ran out, the sweep queued the delivery and another try took it.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            leased_until=timezone.now() + timedelta(minutes=5)
        )
        return real_post(*args)

    monkeypatch.setattr(webhooks, "_post", slow_post)
    webhook_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)  # the other try decides
    assert delivery.leased_until is not None
    assert delivery.log.count() == 1  # what this try saw is in the log all the same
    assert len(receiver.requests) == 1


def test_a_redelivery_takes_the_delivery_from_a_try_in_flight(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.failures = 1
    delivery = make_delivery(receiver.url)
    real_post = webhooks._post

    def post(*args: Any) -> int:
        webhooks.webhook_redeliver(delivery=delivery)  # an admin presses "redeliver" meanwhile
        return real_post(*args)

    monkeypatch.setattr(webhooks, "_post", post)
    webhook_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    # The failed try in flight counts for nothing: the redelivery starts afresh.
    assert (delivery.status, delivery.attempts, delivery.leased_until) == ("pending", 0, None)
    assert delivery.next_attempt_at is not None


def test_tasks_of_dead_workers_are_marked_failed(receiver: Receiver, settings: Any) -> None:
    settings.WEBHOOK_LEASE_SECONDS = 10
    delivery = make_delivery(receiver.url)
    webhooks._schedule(delivery.pk, 0, delivery.next_attempt_at)
    task = DBTaskResult.objects.get()
    task.claim("dead-worker")
    DBTaskResult.objects.filter(pk=task.pk).update(
        started_at=timezone.now() - timedelta(seconds=19)
    )
    assert worker.fail_abandoned_tasks() == "0 abandoned task(s) marked failed"
    DBTaskResult.objects.filter(pk=task.pk).update(
        started_at=timezone.now() - timedelta(seconds=21)
    )
    assert worker.fail_abandoned_tasks() == "1 abandoned task(s) marked failed"
    task.refresh_from_db()
    assert task.status == "FAILED" and task.finished_at is not None


def test_requeue_webhooks_runs_the_sweep_by_hand(receiver: Receiver) -> None:
    cut_try(make_delivery(receiver.url), -timedelta(seconds=1))
    out = io.StringIO()
    call_command("requeue_webhooks", stdout=out)
    assert "Queued 1" in out.getvalue()


# -- the housekeeping schedule -------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_jobs_run_at_the_first_round_then_every_interval() -> None:
    clock = Clock()
    runs: list[str] = []
    schedule = Housekeeping(
        [
            Job("often", 10, lambda: runs.append("often") or "ok"),
            Job("rarely", 100, lambda: runs.append("rarely") or "ok"),
        ],
        clock=clock,
    )
    assert schedule.run_due() == ["often", "rarely"]
    clock.now += 9
    assert schedule.run_due() == []
    clock.now += 1
    assert schedule.run_due() == ["often"]
    clock.now += 90
    assert schedule.run_due() == ["often", "rarely"]
    assert runs == ["often", "rarely", "often", "often", "rarely"]


def test_a_job_that_fails_stays_due() -> None:
    clock = Clock()
    outcomes = iter([OperationalError("server closed the connection"), "ok"])

    def flaky() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    schedule = Housekeeping([Job("flaky", 60, flaky)], clock=clock)
    with pytest.raises(OperationalError):
        schedule.run_due()
    clock.now += 1
    assert schedule.run_due() == ["flaky"]
    assert schedule.log == [("flaky", "ok")]


def test_a_job_that_is_broken_is_logged_and_waits_for_its_turn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    calls: list[int] = []

    def broken() -> str:
        calls.append(1)
        raise ValueError("a bug")

    schedule = Housekeeping([Job("broken", 60, broken)], clock=clock)
    assert schedule.run_due() == ["broken"]
    assert schedule.log == [("broken", "failed")]
    assert "housekeeping: broken failed" in caplog.text
    clock.now += 30
    assert schedule.run_due() == [] and len(calls) == 1


def expired_key(user: Any, key: str) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        user=user,
        key=key,
        method="POST",
        path="/",
        request_hash="x",
        created_at=timezone.now() - timedelta(hours=25),
    )


def test_the_stack_housekeeping_runs_when_due(receiver: Receiver, settings: Any) -> None:
    settings.WORKER_SWEEP_SECONDS = 30
    settings.WORKER_HOUSEKEEPING_SECONDS = 3600
    settings.WORKER_TASK_RESULTS_DAYS = 14
    clock = Clock()
    schedule = Housekeeping(default_jobs(), clock=clock)
    user = make_user("partner")
    expired_key(user, "old")
    stuck = cut_try(make_delivery(receiver.url), -timedelta(seconds=1))
    old_result = DBTaskResult.objects.create(
        task_path=TASK_PATH,
        queue_name=QUEUE,
        backend_name="default",
        args_kwargs={"args": [0, None], "kwargs": {}},
        status="SUCCESSFUL",
        finished_at=timezone.now() - timedelta(days=15),
    )

    assert schedule.run_due() == [
        "sweep webhook deliveries",
        "purge idempotency keys",
        "prune task results",
    ]
    assert not IdempotencyRecord.objects.exists()
    assert not DBTaskResult.objects.filter(pk=old_result.pk).exists()
    assert len(tasks_for(stuck)) == 1

    # Nothing more until each is due again.
    expired_key(user, "old-2")
    clock.now += 29
    assert schedule.run_due() == []
    clock.now += 1
    assert schedule.run_due() == ["sweep webhook deliveries"]
    assert IdempotencyRecord.objects.filter(key="old-2").exists()
    clock.now += 3600
    assert "purge idempotency keys" in schedule.run_due()
    assert not IdempotencyRecord.objects.exists()


# -- the loop ------------------------------------------------------------------------------------


def make_worker(**kwargs: Any) -> ResilientWorker:
    options: dict[str, Any] = {
        "queue_names": ["*"],
        "interval": 0.5,
        "batch": False,
        "backend_name": "default",
        "startup_delay": False,
        "max_tasks": None,
        "worker_id": "test-worker",
        "excluded_queue_names": [],
    }
    return ResilientWorker(**{**options, **kwargs})


def test_backoff_doubles_up_to_its_cap() -> None:
    expected = [0.5, 1, 2, 4, 8, 10, 10]
    waits = [backoff(n, cap=10) for n in range(1, 8)]
    assert all(0.75 * e <= w <= e for w, e in zip(waits, expected, strict=True)), waits


def test_database_errors_make_the_worker_wait_and_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    rounds = iter(
        [
            OperationalError("connection refused"),
            OperationalError("connection refused"),
            OperationalError("server closed the connection unexpectedly"),
            False,  # the database answers: no task
            True,  # a task ran
            "stop",
        ]
    )
    resilient = make_worker(sleep=slept.append, max_backoff=4)

    def run_once() -> bool | None:
        outcome = next(rounds)
        if isinstance(outcome, Exception):
            raise outcome
        if outcome == "stop":
            resilient.running = False
            return False
        return bool(outcome)

    monkeypatch.setattr(resilient, "run_once", run_once)
    resilient.run()

    backoffs, idle = slept[:3], slept[3:]
    assert all([0.375 <= backoffs[0] <= 0.5, 0.75 <= backoffs[1] <= 1, 1.5 <= backoffs[2] <= 2])
    assert idle == [0.5]  # after the round with no task; none after the one that ran
    assert resilient.failures == 0 and resilient.down_since is None


@pytest.mark.django_db(transaction=True)
def test_a_housekeeping_job_hit_by_an_outage_does_not_stop_the_worker() -> None:
    slept: list[float] = []
    calls = iter([OperationalError("the database system is shutting down"), "ok", "ok"])

    def job() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    resilient = make_worker(
        sleep=slept.append, batch=True, housekeeping=Housekeeping([Job("job", 0, job)])
    )
    resilient.run()  # batch: returns once no task is ready
    assert len(slept) == 1  # one backoff, then the job ran and the queue was empty


@pytest.mark.django_db(transaction=True)
def test_run_worker_runs_the_tasks_and_the_housekeeping(receiver: Receiver) -> None:
    user = make_user("partner")
    expired_key(user, "old")
    stuck = cut_try(make_delivery(receiver.url), -timedelta(seconds=1))
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        # --batch: stop once nothing is ready; the first round's housekeeping queued the
        # cut try, which the same worker then delivered.
        call_command("run_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    stuck.refresh_from_db()
    assert stuck.status == "delivered"
    assert [r.webhook_id for r in receiver.requests] == [stuck.webhook_id]
    assert not IdempotencyRecord.objects.exists()
