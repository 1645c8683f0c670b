"""Rate limits per token (or session user) and per client address for anonymous calls.

Counters live in the default cache: Redis in production, so every worker shares them.
"""

from typing import Any

from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

from workplan.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

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
