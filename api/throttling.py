"""Rate limits per token (or session user) and per client address for anonymous calls,
a separate (lower) limit on exports, and a brake on bearer-token guessing per client
address.

Counters live in the default cache: Redis in production, so every worker shares them.
Each limit counts requests in fixed windows (a minute for `120/minute`): one counter per
caller and window, raised with one round trip to Redis per request (SET NX with the
window's expiry, then INCR, pipelined). DRF's own throttles keep a list of timestamps
per caller, read and written back on every request: two round trips and a payload that
grows with the rate.

A cache that fails never fails the request: the limits are then not enforced (fail
open) and the failure is logged through `api.cache`, at most once a minute per process.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.cache import cache as default_cache
from django.core.cache import caches
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from workplan.models import ApiToken

logger = logging.getLogger("api.cache")


def client_address(request: Any) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For behind API_NUM_PROXIES proxies."""
    return BaseThrottle().get_ident(request)


UNAVAILABLE = "The cache is unavailable: counters are not enforced, counts are made afresh"


class FailOpenCache:
    """The default cache as the counters (and the lists' cached counts) use it: a failure
    reads as "nothing counted yet" (or "count again").

    django-redis already ignores connection errors (IGNORE_EXCEPTIONS: reads return the
    default, writes are dropped, and it logs them through `api.cache`); an error from
    any other backend is caught and logged here the same way.
    """

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return default_cache.get(key, default)
        except Exception:
            logger.warning(
                "The cache is unavailable: counters are not enforced, counts are made afresh",
                exc_info=True,
            )
            return default

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        try:
            default_cache.set(key, value, timeout)
        except Exception:
            logger.warning(
                "The cache is unavailable: counters are not enforced, counts are made afresh",
                exc_info=True,
            )

    def hit(self, key: str, timeout: int) -> int:
        """Count one more request under `key` (kept `timeout` seconds from its first one);
        the count so far, or 0 when the cache is unavailable."""
        try:
            client = _redis_client()
            if client is not None:
                full_key = default_cache.make_and_validate_key(key)
                pipe = client.pipeline(transaction=False)
                pipe.set(full_key, 0, ex=timeout, nx=True)
                pipe.incr(full_key)
                try:
                    return int(pipe.execute()[1])
                except Exception:
                    # Logged as django-redis logs the errors it ignores, so that both
                    # count as one kind in the once-a-minute brake (api.logs).
                    logger.warning("Exception ignored", exc_info=True)
                    return 0
            default_cache.add(key, 0, timeout)
            return int(default_cache.incr(key))
        except ValueError:
            return 1  # the key expired between add and incr, or the cache dropped the add
        except Exception:
            logger.warning(
                "The cache is unavailable: counters are not enforced, counts are made afresh",
                exc_info=True,
            )
            return 0

    def incr(self, key: str, timeout: float) -> None:
        try:
            default_cache.add(key, 0, timeout)
            default_cache.incr(key)
        except ValueError:
            pass  # the key expired between add and incr, or the cache dropped the add
        except Exception:
            logger.warning(
                "The cache is unavailable: counters are not enforced, counts are made afresh",
                exc_info=True,
            )


def _redis_client() -> Any:
    """The raw Redis client behind django-redis (the production cache), else None."""
    backend = caches["default"]
    if not type(backend).__module__.startswith("django_redis"):
        return None
    return backend.client.get_client(write=True)  # type: ignore[attr-defined]


fail_open_cache = FailOpenCache()


class WindowThrottle(SimpleRateThrottle):
    """A rate as a counter per caller and fixed window: one cache round trip a request."""

    cache = fail_open_cache  # type: ignore[assignment]
    window_end = 0.0

    def allow_request(self, request: Any, view: Any) -> bool:
        num_requests, duration = self.parse_rate(self.rate)
        if num_requests is None or duration is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        start = int(self.now // duration) * duration
        self.window_end = start + duration
        expires = max(1, math.ceil(self.window_end - self.now))
        return fail_open_cache.hit(f"{key}_{start}", expires) <= num_requests

    def wait(self) -> float | None:
        return max(1.0, self.window_end - self.now)


def _caller(request: Any) -> str | None:
    if isinstance(request.auth, ApiToken):
        return f"token:{request.auth.pk}"
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return None


class TokenRateThrottle(WindowThrottle):
    scope = "token"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        ident = _caller(request)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonymousRateThrottle(WindowThrottle):
    scope = "anon"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class ExportRateThrottle(WindowThrottle):
    """Exports of the whole (filtered) plan, per token, user or client address: their own
    budget (`export`), counted apart from reads, since one costs what thousands of reads
    cost."""

    scope = "export"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        ident = _caller(request) or f"address:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class BadTokenBrake(SimpleRateThrottle):
    """Failed bearer tokens counted per client address, in fixed windows.

    Past the `bad_token` rate, every bearer token from that address is refused with
    429 and Retry-After until the window ends, without being looked up: guessing costs
    the guesser time, not the database.
    """

    scope = "bad_token"

    def __init__(self) -> None:
        super().__init__()
        self.limit, self.window = self.parse_rate(self.rate)

    def _counter(self, request: Any, window: int) -> tuple[str, float]:
        """This address's counter for the current window, and the seconds left in it."""
        now = self.timer()
        start = int(now // window) * window
        ident = f"{client_address(request)}:{start}"
        return self.cache_format % {"scope": self.scope, "ident": ident}, start + window - now

    def check(self, request: Any) -> None:
        if self.limit is None or self.window is None:
            return
        key, left = self._counter(request, self.window)
        if fail_open_cache.get(key, 0) >= self.limit:
            raise Throttled(
                wait=max(1, round(left)),
                detail="Too many invalid tokens from this address; retry later.",
            )

    def failed(self, request: Any) -> None:
        if self.limit is None or self.window is None:
            return
        key, _ = self._counter(request, self.window)
        fail_open_cache.incr(key, self.window + 1)
