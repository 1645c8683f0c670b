"""Webhook delivery: signed per Standard Webhooks, at least once, retried with backoff.

Events are queued when a change commits and delivered by Django's task worker
(`manage.py run_worker`), never inside the request that made the change. Bodies are
written by the API version a subscription belongs to (see `register_payload_renderer`).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models import Q
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
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n) for n in settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS]


def _refusal(address: IPAddress) -> str | None:
    """Why a target may not be called at `address`; None when it may.

    Multicast, broadcast and unspecified addresses are never one host's endpoint (and
    0.0.0.0 or :: reach this machine itself), so no setting allows them. Other
    non-global addresses (private, loopback, link-local, shared, reserved,
    documentation, translated) are refused unless WEBHOOK_ALLOWED_PRIVATE_NETWORKS
    lists a range holding them.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:a.b.c.d is a.b.c.d
    if address.is_multicast:
        return f"a multicast address ({address})"
    if address.is_unspecified:
        return f"an unspecified address ({address})"
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return f"the broadcast address ({address})"
    public = (
        address.is_global
        and not address.is_reserved
        and not any(address in network for network in TRANSLATED_NETWORKS)
    )
    if public or any(address in network for network in _allowed_networks()):
        return None
    return f"a non-public address ({address})"


@dataclass(frozen=True)
class WebhookTarget:
    """A target URL taken apart, with the addresses it resolved to once they were checked."""

    scheme: str
    host: str  # as in the URL, without brackets; the Host header and TLS name
    port: int
    path: str  # path and query, what the request line carries
    addresses: tuple[str, ...]  # checked, in the resolver's order: the only ones called


def resolve_webhook_target(url: str) -> WebhookTarget:
    """Take `url` apart, resolve its host once and check every address it resolves to.

    The rules live here, so that the model (WebhookSubscription.clean, hence the API and
    the admin) and every delivery attempt apply the same ones. A delivery connects only
    to the addresses returned here (see `_post`): the name is never resolved a second
    time between the check and the connection, so DNS rebinding cannot turn a checked
    public name into a private address.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValidationError({"url": "The port is not valid."}) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "Use an http or https URL with a host."})
    if "@" in parts.netloc:
        # They would be sent to the receiver in clear text in an Authorization header,
        # and shown to everyone who can read the subscription: sign requests instead.
        raise ValidationError(
            {"url": "Credentials in the URL are not allowed (the requests are signed)."}
        )
    port = port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:  # a name: in ASCII (IDNA), as the Host header and TLS need it
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValidationError({"url": f"The host name is not valid: {exc}."}) from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError({"url": f"The host does not resolve: {exc}."}) from exc
    addresses: list[str] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        reason = _refusal(address)
        if reason is not None:
            raise ValidationError({"url": f"The host resolves to {reason}; not allowed."})
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise ValidationError({"url": "The host does not resolve to any address."})
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return WebhookTarget(parts.scheme, host, port, path, tuple(addresses))


def check_webhook_target(url: str) -> None:
    """Refuse targets that are not http(s), carry credentials, or resolve to addresses
    that are not public unicast ones (see `resolve_webhook_target`)."""
    resolve_webhook_target(url)


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
    # A try in flight loses its lease: its outcome no longer counts, the new try's does.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, leased_until=None
    )
    transaction.on_commit(functools.partial(_schedule, delivery.pk, 0, now))


# -- delivering -----------------------------------------------------------------------


def tls_context() -> ssl.SSLContext:
    """How https targets are verified: the system's CAs, certificate and host name checked."""
    return ssl.create_default_context()


def _open_socket(address: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to the IP address `address`, which nothing resolves again."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to `host` that connects to a checked address, never resolving
    `host` itself; the Host header still names `host`."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = _open_socket(self.address, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As `_PinnedConnection`, over TLS: SNI and certificate verification for `host`."""

    def __init__(
        self, host: str, port: int, *, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address
        self.tls = context

    def connect(self) -> None:
        sock = _open_socket(self.address, self.port, self.timeout)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class DeliveryTimeout(TimeoutError):
    pass


def _exchange(
    connection: http.client.HTTPConnection,
    target: WebhookTarget,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
) -> int:
    """Send the request on a connected `connection`; cut it at `deadline` whatever the
    receiver does (a per-read timeout alone lets a trickling receiver go on for ever)."""
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        with contextlib.suppress(OSError):
            if connection.sock is not None:
                connection.sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(max(deadline - time.monotonic(), 0), cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        return int(connection.getresponse().status)
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise DeliveryTimeout(
                f"no answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s"
            ) from exc
        raise
    finally:
        watchdog.cancel()
        connection.close()


def _post(target: WebhookTarget, body: bytes, headers: dict[str, str]) -> int:
    """POST `body` to `target` at the addresses it was checked at (the first that accepts
    a connection); return the status code. No redirects, no proxies.

    WEBHOOK_TIMEOUT_SECONDS bounds the whole exchange, connecting included.
    """
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    deadline = time.monotonic() + timeout
    last_error: OSError = DeliveryTimeout(f"no answer within {timeout:g} s")
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPSConnection(
                target.host, target.port, address=address, timeout=remaining, context=tls_context()
            )
        else:
            connection = _PinnedConnection(
                target.host, target.port, address=address, timeout=remaining
            )
        try:
            connection.connect()
        except OSError as exc:  # refused, unreachable, timed out, TLS refused: next address
            connection.close()
            last_error = exc
            continue
        return _exchange(connection, target, body, headers, deadline)
    raise last_error


def lease_duration() -> timedelta:
    """How long a try owns its delivery. Past it, the try is taken for dead (its worker was
    killed or lost the database) and `webhook_sweep` queues the delivery again."""
    return timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)


def _claim(delivery_id: int, due: str | None) -> WebhookDelivery | None:
    """Take the delivery for this try, under a row lock, with a lease; None if there is
    nothing to do."""
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
            return None  # a stale task: the delivery was redelivered, requeued or already tried
        delivery.next_attempt_at = None  # taken; a concurrent copy of this task stops here
        delivery.leased_until = timezone.now() + lease_duration()
        delivery.save(update_fields=["next_attempt_at", "leased_until"])
        return delivery


def webhook_attempt(*, delivery_id: int, due: str | None = None) -> WebhookDelivery | None:
    """Try one delivery once; schedule the next try or give up."""
    delivery = _claim(delivery_id, due)
    if delivery is None:
        return None
    lease = delivery.leased_until
    subscription = delivery.subscription
    now = timezone.now()
    status_code: int | None = None
    error = ""
    started = time.monotonic()
    try:
        if not subscription.is_active:
            raise RuntimeError("The subscription is inactive.")
        # Resolved and checked once, here; the request goes to exactly these addresses.
        target = resolve_webhook_target(subscription.url)
        signature = Webhook(subscription.secret).sign(delivery.webhook_id, now, delivery.payload)
        status_code = _post(
            target,
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
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = status_code
    delivery.last_error = error
    delivery.leased_until = None
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
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            status_code=status_code,
            error=error,
            duration_ms=duration,
            succeeded=succeeded,
        )
        # Only while the lease is ours: past it, the sweep has handed the delivery to
        # another try, whose outcome is the one that counts (the receiver may get the
        # message twice, with one webhook-id: at least once).
        kept = WebhookDelivery.objects.filter(pk=delivery.pk, leased_until=lease).update(
            status=delivery.status,
            attempts=delivery.attempts,
            last_attempt_at=delivery.last_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            next_attempt_at=delivery.next_attempt_at,
            leased_until=None,
        )
        if not kept:
            logger.warning(
                "Webhook %s: the try outlived its lease; another try owns the delivery",
                delivery.webhook_id,
            )
            delivery.refresh_from_db()
            return delivery
        if delivery.status == DeliveryStatus.PENDING:
            # In the same transaction: the next try is recorded and queued together.
            _schedule(delivery.pk, delays[delivery.attempts], delivery.next_attempt_at)
    return delivery


# -- recovering deliveries nobody is trying ---------------------------------------------


def webhook_requeue(*, delivery: WebhookDelivery) -> bool:
    """Queue a try of a pending delivery now, keeping its attempts (and webhook-id), if it
    is still as it was read; False when something else moved it meanwhile."""
    now = timezone.now()
    with transaction.atomic():
        moved = WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status=DeliveryStatus.PENDING,
            next_attempt_at=delivery.next_attempt_at,
            leased_until=delivery.leased_until,
        ).update(next_attempt_at=now, leased_until=None)
        if moved:
            _schedule(delivery.pk, 0, now)
    return bool(moved)


def webhook_sweep(*, grace: timedelta | None = None, limit: int = 500) -> int:
    """Queue again the pending deliveries that no try owns and no task will pick up.

    - a try whose lease ran out (its worker was killed, or lost the database mid-try);
    - a try that was due more than `grace` ago (default: the lease) with no task queued
      for it (a task lost between a commit and its enqueue, or pruned);
    - a try taken before leases existed and never finished.

    Safe to run from several workers at once: each requeue is conditional on the row
    being as it was read. The worker runs it every WORKER_SWEEP_SECONDS
    (`manage.py run_worker`); `manage.py requeue_webhooks` runs it by hand.
    """
    from django_tasks_db.models import DBTaskResult

    from workplan.tasks import deliver_webhook

    now = timezone.now()
    cutoff = now - (grace if grace is not None else lease_duration())
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
    expired = list(pending.filter(leased_until__lt=now).order_by("pk")[:limit])
    due = list(
        pending.filter(leased_until__isnull=True).filter(
            Q(next_attempt_at__lt=cutoff)
            | Q(next_attempt_at__isnull=True, last_attempt_at__lt=cutoff)
            | Q(next_attempt_at__isnull=True, last_attempt_at__isnull=True, created_at__lt=cutoff)
        )[:limit]
    )
    queued: set[tuple[int, str | None]] = set()
    if due:
        tasks = DBTaskResult.objects.ready().filter(
            task_path=deliver_webhook.module_path,
            args_kwargs__args__0__in=[d.pk for d in due],
        )
        queued = {
            (int(args[0]), args[1] if len(args) > 1 else None)
            for args in (t["args"] for t in tasks.values_list("args_kwargs", flat=True))
        }
    count = 0
    for delivery in expired + due:
        if (
            delivery.leased_until is None
            and delivery.next_attempt_at is not None
            and (delivery.pk, delivery.next_attempt_at.isoformat()) in queued
        ):
            continue  # its task is in the queue, only late: the workers are busy
        if webhook_requeue(delivery=delivery):
            logger.warning(
                "Webhook %s: %s; queued again",
                delivery.webhook_id,
                "the try's lease ran out" if delivery.leased_until else "no task was queued",
            )
            count += 1
    return count
