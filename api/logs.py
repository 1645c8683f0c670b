"""Logging helpers: the request id on every record, and a brake on repeated warnings.

The request id is the one `X-Request-ID` returns (see api.middleware). It is kept in
a context variable from the start of the request until its response is closed, so the
lines Django writes after the middleware chain (its "Not Found" warnings) carry it too.
"""

from __future__ import annotations

import logging
import threading
import time
from contextvars import ContextVar
from typing import Any

from django.core.signals import request_finished
from pythonjsonlogger import json as jsonlogger
from pythonjsonlogger.core import RESERVED_ATTRS

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def _forget_request_id(**kwargs: Any) -> None:
    request_id_var.set(None)


request_finished.connect(_forget_request_id, dispatch_uid="api.logs.forget_request_id")


class RequestIDFilter(logging.Filter):
    """Adds `request_id` (None outside a request) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class OncePerInterval(logging.Filter):
    """Lets one record of a kind through per interval, per process, and counts the rest.

    A dependency that is down fails every request; its warning is worth one line a
    minute, not one per request. Records are of a kind when their logger and message
    template are the same. The next record let through says how many were held back.
    """

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self.interval = float(interval)
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            record.suppressed = held
            record.msg = f"{record.msg} ({held} more like this since the last report)"
        return True


class JsonFormatter(jsonlogger.JsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, extras.

    Django's request logging attaches the request object itself; it is left out (its
    method and path are in the access line of the same request id).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "request_id"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "server_time"])
        super().__init__(*args, **kwargs)
