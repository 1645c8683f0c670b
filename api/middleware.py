import io
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from api.errors import problem_response
from api.logs import request_id_var

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,200}$")

access_logger = logging.getLogger("api.access")
# Reported once a minute per process while it lasts (see LOGGING), not once per request.
database_logger = logging.getLogger("api.database")


class RequestIDMiddleware:
    """Every response carries X-Request-ID: the client's, when it sent a sane one.

    The id is also put on every log record written while the request is handled
    (api.logs), and the request ends with one access line.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        sent = request.headers.get("X-Request-ID", "")
        request.request_id = sent if REQUEST_ID.match(sent) else uuid.uuid4().hex  # type: ignore[attr-defined]
        request_id_var.set(request.request_id)  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response


class ApiProblemMiddleware:
    """Every error under /api/ is a problem document, whatever the settings.

    Django answers a URL no pattern matches, or a suspicious request, with its own HTML
    page when DEBUG is on (and bypasses the handler404/handler400 views): such a response
    is replaced here by the problem document for its status.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith(
                ("application/problem+json", "application/json")
            )
        ):
            detail = "No resource exists at this URL." if response.status_code == 404 else None
            problem = problem_response(request, response.status_code, detail)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if response.has_header(header):
                    problem[header] = response[header]
            return problem
        return response


class DatabaseUnavailableMiddleware:
    """A database that cannot be reached is a 503 with Retry-After, not a 500.

    OperationalError and InterfaceError mean the database could not serve the request
    (connection refused or lost, server shutting down, a query cancelled): the request
    may well succeed later, so the client is told when to retry.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    # SQLSTATEs of a transaction the database rolled back because of concurrent ones:
    # deadlock detected, serialization failure, lock not available. The database is up;
    # the request was undone as a whole and can be sent again.
    CONTENTION = {
        "40P01": "deadlock detected",
        "40001": "serialization failure",
        "55P03": "lock not available",
    }

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        sqlstate = getattr(exception.__cause__, "sqlstate", None)
        if sqlstate in self.CONTENTION:
            database_logger.warning("Rolled back by the database: %s", self.CONTENTION[sqlstate])
            detail = (
                f"The request met concurrent writes ({self.CONTENTION[sqlstate]}) and was "
                "rolled back as a whole; retry it."
            )
            code = "database_contention"
        else:
            database_logger.error("The database is unavailable", exc_info=exception)
            detail, code = "The database is unavailable; retry later.", "database_unavailable"
        response = problem_response(request, 503, detail, code=code)
        response["Retry-After"] = str(settings.API_UNAVAILABLE_RETRY_AFTER)
        return response


class NoStoreMiddleware:
    """A response to a request that carried credentials is never stored by any cache.

    Such a response may hold what only that caller may see (an unpublished project, a
    webhook's signing secret), so neither the client's nor a shared cache keeps it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "HTTP_AUTHORIZATION" in request.META or settings.SESSION_COOKIE_NAME in request.COOKIES:
            patch_cache_control(response, no_store=True)
        return response


class BodySizeLimitMiddleware:
    """Refuse an API request body over the limit with 413 before reading it.

    A body of unknown length (Transfer-Encoding still set: the server did not decode and
    measure it, see ChunkedBodyBuffer) is refused with 411, never read as empty.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            if "HTTP_TRANSFER_ENCODING" in request.META:
                return problem_response(
                    request,
                    411,
                    "Send the body with a Content-Length: bodies of unknown length "
                    "(Transfer-Encoding) are not accepted here.",
                    code="length_required",
                )
            raw = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw)
            except ValueError:
                return problem_response(request, 400, "Content-Length is not a number.")
            if length > settings.API_MAX_BODY_BYTES:
                size = "over" if request.META.get(ChunkedBodyBuffer.OVER_LIMIT) else length
                return problem_response(
                    request,
                    413,
                    f"The body is {size} bytes; the limit is {settings.API_MAX_BODY_BYTES}.",
                    code="body_too_large",
                )
        return self.get_response(request)


class ChunkedBodyBuffer:
    """WSGI middleware: a chunked request body is read (up to the limit) and measured.

    Django reads as many bytes as Content-Length says, so a chunked body, which has
    none, would be read as empty and the request would succeed while ignoring it. When
    the server decodes chunked bodies and marks the input as terminated
    (`wsgi.input_terminated`, as gunicorn does), the body is read here, at most one byte
    over the limit, and handed on with its Content-Length. Otherwise Transfer-Encoding
    stays and BodySizeLimitMiddleware refuses the request with 411.
    """

    OVER_LIMIT = "workplan.body_over_limit"

    def __init__(self, application: Callable[..., Iterable[bytes]]) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and environ.get("wsgi.input_terminated"):
            limit = settings.API_MAX_BODY_BYTES
            body = environ["wsgi.input"].read(limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            if len(body) > limit:
                environ[self.OVER_LIMIT] = True
            del environ["HTTP_TRANSFER_ENCODING"]
        return self.application(environ, start_response)
