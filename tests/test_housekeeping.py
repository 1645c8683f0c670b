"""Periodic commands: stuck webhook deliveries and expired idempotency keys."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from api.models import IdempotencyRecord
from tests.conftest import make_user
from workplan import services
from workplan.models import DeliveryStatus, Pillar, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


def make_delivery() -> WebhookDelivery:
    subscription = WebhookSubscription.objects.create(url="http://127.0.0.1:9/", event_types=["*"])
    services.plan_object_create(
        model=Pillar,
        data={"code": "P90", "number": 90, "name_en": "x", "name_es": "y"},
        actor=services.SYSTEM,
    )
    return WebhookDelivery.objects.get(subscription=subscription)


def test_stuck_deliveries_are_queued_again(django_capture_on_commit_callbacks):
    stuck = make_delivery()
    long_ago = timezone.now() - timedelta(hours=2)
    # A try that was taken (next_attempt_at cleared) and never finished.
    WebhookDelivery.objects.filter(pk=stuck.pk).update(
        next_attempt_at=None, last_attempt_at=long_ago
    )
    DBTaskResult.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        out = io.StringIO()
        call_command("requeue_webhooks", stdout=out)
    assert "Queued 1" in out.getvalue()
    stuck.refresh_from_db()
    assert stuck.status == DeliveryStatus.PENDING and stuck.next_attempt_at is not None
    task = DBTaskResult.objects.get()
    assert task.args_kwargs["args"] == [stuck.pk, stuck.next_attempt_at.isoformat()]


def test_recent_pending_deliveries_are_left_alone(django_capture_on_commit_callbacks):
    make_delivery()
    DBTaskResult.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("requeue_webhooks", stdout=io.StringIO())
    assert not DBTaskResult.objects.exists()


def test_expired_idempotency_records_are_purged():
    user = make_user("partner")
    now = timezone.now()
    old = IdempotencyRecord.objects.create(
        user=user,
        key="old",
        method="POST",
        path="/",
        request_hash="x",
        created_at=now - timedelta(hours=25),
    )
    fresh = IdempotencyRecord.objects.create(
        user=user, key="fresh", method="POST", path="/", request_hash="x", created_at=now
    )
    call_command("purge_idempotency_keys", stdout=io.StringIO())
    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not IdempotencyRecord.objects.filter(pk=old.pk).exists()
