"""Webhook delivery: signed per Standard Webhooks, at least once, retried with backoff.

Events are queued when a change commits and delivered by Django's task worker
(`manage.py db_worker`), never inside the request that made the change. Bodies are
written by the API version a subscription belongs to (see `register_payload_renderer`).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from workplan.models import (
    AuditEvent,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from workplan.policy import Audience

logger = logging.getLogger(__name__)

# Standard Webhooks' recommended schedule: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
# (about 27.6 hours in all). WEBHOOK_RETRY_DELAYS overrides it (seconds).
DEFAULT_RETRY_DELAYS = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


def retry_delays() -> tuple[int, ...]:
    return tuple(getattr(settings, "WEBHOOK_RETRY_DELAYS", None) or DEFAULT_RETRY_DELAYS)


# -- target checks ---------------------------------------------------------------


# Globally routed, but they reach IPv4 addresses (NAT64, 6to4), which may be private.
TRANSLATED_NETWORKS = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("2002::/16")]


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n) for n in settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS]


def check_webhook_target(url: str) -> None:
    """Refuse targets that are not http(s) or that resolve to non-public addresses.

    Private, loopback, link-local and other reserved addresses would let a subscriber
    make this server call into its own network; WEBHOOK_ALLOWED_PRIVATE_NETWORKS can
    allow chosen ranges (the tests allow loopback).
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValidationError({"url": "The port is not valid."}) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "Use an http or https URL with a host."})
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError({"url": f"The host does not resolve: {exc}."}) from exc
    allowed = _allowed_networks()
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_global and not any(address in net for net in TRANSLATED_NETWORKS):
            continue
        if any(address in network for network in allowed):
            continue
        raise ValidationError(
            {"url": f"The host resolves to a non-public address ({address}); not allowed."}
        )


# -- queueing ----------------------------------------------------------------------


def event_type(event: AuditEvent) -> str:
    return f"{event.object_type}.{event.action}"


# The body of a delivery is the API's business: each API version registers a renderer
# (api.apps.ApiConfig.ready) and a subscription's deliveries use the format of the API
# version it was created through. The body is rendered once, when the change is recorded,
# and stored: every attempt sends (and signs) the same bytes.
PayloadRenderer = Callable[[AuditEvent, Audience], str]
_payload_renderers: dict[str, PayloadRenderer] = {}


def register_payload_renderer(api_version: str, renderer: PayloadRenderer) -> None:
    """Make `renderer(event, audience)` write the body of `api_version`'s deliveries."""
    _payload_renderers[api_version] = renderer


def payload_versions() -> list[str]:
    """The API versions whose webhook bodies can be rendered."""
    return sorted(_payload_renderers)


def webhook_payload(event: AuditEvent, subscription: WebhookSubscription) -> str:
    """The body sent to `subscription` for `event`, as its API version renders it."""
    try:
        renderer = _payload_renderers[subscription.api_version]
    except KeyError:
        raise ImproperlyConfigured(
            f"No webhook payload renderer for API version {subscription.api_version!r} "
            f"(subscription {subscription.pk}); registered: {payload_versions()}."
        ) from None
    return renderer(event, subscription_audience(subscription))


def subscription_audience(subscription: WebhookSubscription) -> Audience:
    """A subscription sees what its agency may see; with no agency, everything."""
    return Audience.of_agency(subscription.agency.code if subscription.agency else None)


def webhook_events_enqueue(event: AuditEvent) -> list[WebhookDelivery]:
    """Create a delivery per interested subscription; start them once the change commits."""
    kind = event_type(event)
    deliveries = []
    for subscription in WebhookSubscription.objects.filter(is_active=True).select_related("agency"):
        if not subscription.wants(kind) or not subscription_audience(subscription).sees(event):
            continue
        deliveries.append(
            WebhookDelivery.objects.create(
                subscription=subscription,
                event=event,
                webhook_id=f"msg_{uuid.uuid4().hex}",
                event_type=kind,
                payload=webhook_payload(event, subscription),
                next_attempt_at=event.occurred_at,
            )
        )
    for delivery in deliveries:
        transaction.on_commit(
            functools.partial(_schedule, delivery.pk, 0, delivery.next_attempt_at)
        )
    return deliveries


def _schedule(delivery_id: int, delay_seconds: int, due: datetime | None) -> None:
    """Queue a try of the delivery. `due` is its `next_attempt_at` at queueing time: a
    task whose `due` no longer matches (the delivery was redelivered or already tried)
    does nothing, so retries never fork into two chains."""
    from workplan.tasks import deliver_webhook

    task = deliver_webhook
    if delay_seconds > 0:
        task = task.using(run_after=timezone.now() + timedelta(seconds=delay_seconds))
    task.enqueue(delivery_id, due.isoformat() if due else None)


def webhook_redeliver(*, delivery: WebhookDelivery) -> None:
    """Send a delivery again now (same webhook-id), with a fresh retry budget."""
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now
    )
    transaction.on_commit(functools.partial(_schedule, delivery.pk, 0, now))


# -- delivering -----------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer, not a delivery


# No proxies from the environment: they would bypass the target checks.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _claim(delivery_id: int, due: str | None) -> WebhookDelivery | None:
    """Take the delivery for this try, under a row lock; None if there is nothing to do."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("subscription")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return None
        if due is not None and (
            delivery.next_attempt_at is None or delivery.next_attempt_at.isoformat() != due
        ):
            return None  # a stale task: the delivery was redelivered or already tried
        delivery.next_attempt_at = None  # taken; a concurrent copy of this task stops here
        delivery.save(update_fields=["next_attempt_at"])
        return delivery


def webhook_attempt(*, delivery_id: int, due: str | None = None) -> WebhookDelivery | None:
    """Try one delivery once; schedule the next try or give up."""
    delivery = _claim(delivery_id, due)
    if delivery is None:
        return None
    subscription = delivery.subscription
    now = timezone.now()
    status_code: int | None = None
    error = ""
    started = time.monotonic()
    try:
        if not subscription.is_active:
            raise RuntimeError("The subscription is inactive.")
        check_webhook_target(subscription.url)
        signature = Webhook(subscription.secret).sign(delivery.webhook_id, now, delivery.payload)
        status_code = _post(
            subscription.url,
            delivery.payload.encode(),
            {
                "Content-Type": "application/json",
                "User-Agent": "workplan-api-webhooks/1",
                "webhook-id": delivery.webhook_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            },
        )
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except ValidationError as exc:
        error = "; ".join(m for ms in exc.message_dict.values() for m in ms)
    except Exception as exc:  # network errors of every kind: log them and retry
        error = f"{type(exc).__name__}: {exc}"[:1000]
    duration = int((time.monotonic() - started) * 1000)
    succeeded = not error
    WebhookAttempt.objects.create(
        delivery=delivery,
        attempted_at=now,
        status_code=status_code,
        error=error,
        duration_ms=duration,
        succeeded=succeeded,
    )
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = status_code
    delivery.last_error = error
    delays = retry_delays()
    if succeeded:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif delivery.attempts >= len(delays):
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        logger.warning(
            "Webhook %s gave up after %s attempts", delivery.webhook_id, delivery.attempts
        )
    else:
        delay = delays[delivery.attempts]
        delivery.next_attempt_at = now + timedelta(seconds=delay)
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    if delivery.status == DeliveryStatus.PENDING:
        _schedule(delivery.pk, delays[delivery.attempts], delivery.next_attempt_at)
    return delivery
