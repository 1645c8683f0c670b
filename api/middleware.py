import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from api.errors import problem_response

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,200}$")


class RequestIDMiddleware:
    """Every response carries X-Request-ID: the client's, when it sent a sane one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.headers.get("X-Request-ID", "")
        request.request_id = sent if REQUEST_ID.match(sent) else uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response


class BodySizeLimitMiddleware:
    """Refuse an API request body over the limit with 413 before reading it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            raw = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw)
            except ValueError:
                return problem_response(request, 400, "Content-Length is not a number.")
            if length > settings.API_MAX_BODY_BYTES:
                return problem_response(
                    request,
                    413,
                    f"The body is {length} bytes; the limit is {settings.API_MAX_BODY_BYTES}.",
                    code="body_too_large",
                )
        return self.get_response(request)
