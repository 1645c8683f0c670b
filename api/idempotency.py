"""Idempotency-Key on POST, with Stripe's semantics.

The first request with a key runs and its response is stored; a retry with the same
key and body within the retention window gets that response again and creates
nothing. The same key with another body is a 422; a retry while the first request is
still running is a 409. Requests that fail with an error are not stored, so they can
be retried. There is no maintained Django library for this on DRF viewsets with
these semantics, hence this module.

The key is claimed in the same transaction as the write and its stored response:
whatever cuts a request short (an error, a lost database connection, a killed
worker), the claim goes with the write, so the key never stays "in progress" and a
retry after the outage runs once. While a request holds its key, a retry is told
409 at once (PostgreSQL: a transaction-level advisory lock on the key; SQLite runs
one writer at a time, so the retry waits and gets the stored response). A record
still marked in progress and older than API_IDEMPOTENCY_LEASE_SECONDS (left by an
earlier version that claimed keys in a transaction of their own) is taken as
abandoned.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import Conflict, QueryParameterError, UnprocessableContent
from api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADERS = ("Location", "ETag")
# The first key of PostgreSQL's two-key advisory locks, for idempotency keys ("Idem").
LOCK_NAMESPACE = 0x4964656D


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _hold(user_id: int, key: str) -> None:
    """Hold the key until the transaction ends; 409 if another request holds it (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"{user_id}\n{key}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)",
            [LOCK_NAMESPACE, int.from_bytes(digest[:4], "big", signed=True)],
        )
        (held,) = cursor.fetchone()
    if not held:
        raise Conflict(f"A request with {HEADER} {key!r} is still being processed; retry later.")


def _claim(request: Request, key: str, fingerprint: str) -> IdempotencyRecord | Response:
    """Inside the caller's transaction: a new record for the key, or the stored response."""
    user_id: int = request.user.pk  # type: ignore[assignment]  # authenticated: has a pk
    _hold(user_id, key)
    now = timezone.now()
    retention = timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    lease = timedelta(seconds=settings.API_IDEMPOTENCY_LEASE_SECONDS)
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    user_id=user_id,
                    key=key,
                    method=request.method or "",
                    path=request.path,
                    request_hash=fingerprint,
                    created_at=now,
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(user_id=user_id, key=key).first()
            if existing is None:
                continue  # it just went away: try again
            expired = existing.created_at < now - retention
            abandoned = not existing.completed and existing.created_at < now - lease
            if expired or abandoned:
                existing.delete()
                continue
            if existing.request_hash != fingerprint:
                raise UnprocessableContent(
                    f"{HEADER} {key!r} was used for a different request; use a new key."
                ) from None
            if not existing.completed:
                raise Conflict(
                    f"A request with {HEADER} {key!r} is still being processed; retry later."
                ) from None
            body = json.loads(bytes(existing.response_body or b"null"))
            headers = {**existing.response_headers, "Idempotent-Replayed": "true"}
            return Response(body, status=existing.response_status, headers=headers)
    raise Conflict(f"{HEADER} {key!r} is contended; retry.")


def idempotent(request: Request, handler: Callable[[], Response]) -> Response:
    """Run `handler` at most once per (user, Idempotency-Key)."""
    key = request.headers.get(HEADER)
    if key is None or not request.user.is_authenticated:
        return handler()
    if not KEY_PATTERN.match(key):
        raise QueryParameterError(
            {HEADER: ["Use 1 to 255 visible ASCII characters, e.g. a UUID."]},
            detail=f"Invalid {HEADER} header.",
        )
    fingerprint = _fingerprint(request)
    # An exception (the database gone, a bug) leaves the block and rolls back the claim
    # with everything the handler wrote.
    with transaction.atomic():
        claimed = _claim(request, key, fingerprint)
        if isinstance(claimed, Response):
            return claimed
        response = handler()
        if response.status_code >= 400:
            claimed.delete()
            return response
        claimed.completed = True
        claimed.response_status = response.status_code
        claimed.response_body = json.dumps(response.data, default=str).encode()
        claimed.response_headers = {
            h: response[h] for h in REPLAYED_HEADERS if response.has_header(h)
        }
        claimed.save(
            update_fields=["completed", "response_status", "response_body", "response_headers"]
        )
    return response
