"""Health endpoints for orchestrators and load balancers.

- `/health/live`: the process answers; no dependency is touched, so a database or
  Redis outage never gets healthy processes restarted.
- `/health/ready`: can this instance serve? Each dependency's state is in the body;
  503 when a required one is down. The database is required. The cache is not by
  default: throttling fails open without it (`HEALTH_CACHE_REQUIRED=true` changes that).
- `/health/`: the original check (database reachable), kept for existing probes.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

# Outages are reported once a minute per process (see LOGGING), not on every probe.
database_logger = logging.getLogger("api.database")
cache_logger = logging.getLogger("api.cache")

OK, UNAVAILABLE = "ok", "unavailable"


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any failure means "not ready"; the details go to the log only
        database_logger.warning("Health check: the database is unavailable", exc_info=True)
        return False
    return True


def cache_ok() -> bool:
    cache = caches["default"]
    try:
        client = getattr(cache, "client", None)
        if client is not None and hasattr(client, "get_client"):
            # django-redis ignores connection errors on reads and writes (throttling fails
            # open), so ask the server itself.
            client.get_client(write=True).ping()
        else:
            cache.get("health-check")
    except Exception:
        cache_logger.warning("Health check: the cache is unavailable", exc_info=True)
        return False
    return True


def _check(ok: bool, required: bool) -> dict[str, Any]:
    return {"status": OK if ok else UNAVAILABLE, "required": required}


@never_cache
@require_safe
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": OK})


@never_cache
@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _check(database_ok(), True),
        "cache": _check(cache_ok(), settings.HEALTH_CACHE_REQUIRED),
    }
    down = [name for name, check in checks.items() if check["status"] != OK]
    if any(checks[name]["required"] for name in down):
        status, code = UNAVAILABLE, 503
    else:
        status, code = ("degraded" if down else OK), 200
    return JsonResponse({"status": status, "checks": checks}, status=code)


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """The database is reachable: the first health check, kept as it was."""
    if not database_ok():
        return JsonResponse({"status": UNAVAILABLE, "database": UNAVAILABLE}, status=503)
    return JsonResponse({"status": OK, "database": OK})
