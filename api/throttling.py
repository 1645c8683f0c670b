"""Rate limits per token (or session user) and per client address for anonymous calls,
and a brake on bearer-token guessing per client address.

Counters live in the default cache: Redis in production, so every worker shares them.
A cache that fails never fails the request: the limits are then not enforced (fail
open) and the failure is logged through `api.cache`, at most once a minute per process.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache as default_cache
from rest_framework.exceptions import Throttled
from rest_framework.throttling import AnonRateThrottle, BaseThrottle, SimpleRateThrottle

from workplan.models import ApiToken

logger = logging.getLogger("api.cache")


def client_address(request: Any) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For behind API_NUM_PROXIES proxies."""
    return BaseThrottle().get_ident(request)


class FailOpenCache:
    """The default cache as the counters use it: a failure reads as "nothing counted yet".

    django-redis already ignores connection errors (IGNORE_EXCEPTIONS: reads return the
    default, writes are dropped, and it logs them through `api.cache`); an error from
    any other backend is caught and logged here the same way.
    """

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return default_cache.get(key, default)
        except Exception:
            logger.warning("The cache is unavailable: counters are not enforced", exc_info=True)
            return default

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        try:
            default_cache.set(key, value, timeout)
        except Exception:
            logger.warning("The cache is unavailable: counters are not enforced", exc_info=True)

    def incr(self, key: str, timeout: float) -> None:
        try:
            default_cache.add(key, 0, timeout)
            default_cache.incr(key)
        except ValueError:
            pass  # the key expired between add and incr, or the cache dropped the add
        except Exception:
            logger.warning("The cache is unavailable: counters are not enforced", exc_info=True)


fail_open_cache = FailOpenCache()


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"
    cache = fail_open_cache  # type: ignore[assignment]

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonymousRateThrottle(AnonRateThrottle):
    scope = "anon"
    cache = fail_open_cache  # type: ignore[assignment]


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
