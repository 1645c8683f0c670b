"""RFC 9457 problem details for every error the API returns.

DRF's exceptions, Django's 404/500 handlers and our own refusals all end here, so a
client sees one error shape: `type`, `title`, `status`, `detail`, `instance`, a
machine-readable `code`, and for validation an `errors` list of {field, code, message}.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemJSONRenderer(JSONRenderer):
    media_type = PROBLEM_CONTENT_TYPE
    format = "problem+json"


def flatten_errors(detail: Any, prefix: str | None = None) -> list[dict[str, Any]]:
    """Turn DRF's nested error detail into a flat list of {field, code, message}.

    Nested fields are joined with dots and list items with their index
    (`agencies.0.role`); errors that belong to no field have `field: null`.
    """
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "__all__") else str(key)
            path = ".".join(p for p in (prefix, name) if p) or None
            out.extend(flatten_errors(value, path))
        return out
    if isinstance(detail, list):
        out = []
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):
                path = f"{prefix}.{index}" if prefix else str(index)
                out.extend(flatten_errors(item, path))
            else:
                out.extend(flatten_errors(item, prefix))
        return out
    return [
        {
            "field": prefix,
            "code": getattr(detail, "code", None) or "invalid",
            "message": str(detail),
        }
    ]


def problem(
    status: int,
    detail: str | None = None,
    *,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or HTTPStatus(status).description or HTTPStatus(status).phrase,
    }
    if instance:
        body["instance"] = instance
    body["code"] = code or HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    if errors is not None:
        body["errors"] = errors
    return body


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = "Send If-Match with the ETag you last read, so no update is lost."
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = "The object has changed since you read it: fetch it again and retry."
    default_code = "precondition_failed"


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class UnprocessableContent(exceptions.APIException):
    status_code = 422
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


class ContentTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "body_too_large"


# The error code of a refusal by the plan's rules (the models' `clean`, the services): a
# rule between fields or with the plan's state that the schema cannot state (a period
# ends after it starts, one lead agency per country), as opposed to a value the schema
# already refuses (a format, a length, a choice), which keeps its own code.
RULE = "rule"


def django_validation_detail(exc: DjangoValidationError) -> Any:
    """A Django ValidationError as DRF error detail, each error keeping its code; those
    raised without one are the plan's rules (`rule`)."""
    if hasattr(exc, "error_dict"):
        return {
            field: [
                ErrorDetail(str(message), code=error.code or RULE)
                for error in errors
                for message in error.messages
            ]
            for field, errors in exc.error_dict.items()
        }
    return [
        ErrorDetail(str(message), code=error.code or RULE)
        for error in exc.error_list
        for message in error.messages
    ]


def as_api_exception(exc: Exception) -> Exception:
    """Translate domain and Django exceptions into the API's exceptions."""
    from workplan.services import NotPermitted, PlanRuleError, VersionMismatch

    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, NotPermitted):
        if exc.unauthenticated:
            return exceptions.NotAuthenticated()
        return exceptions.PermissionDenied(exc.message)
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, RequestDataTooBig):
        return ContentTooLarge()
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(django_validation_detail(exc))
    if isinstance(exc, PlanRuleError):
        return Conflict(str(exc))
    if isinstance(exc, VersionMismatch):
        return PreconditionFailed()
    if isinstance(exc, IntegrityError):
        # Validation runs before every write; a constraint can still fire when two
        # requests race (the same new code, a lead taken at the same moment).
        return Conflict("The change conflicts with another one made at the same time; retry.")
    return exc


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every APIException becomes a problem document."""
    exc = as_api_exception(exc)
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django's 500 handler answer (also as a problem)

    request = context.get("request")
    instance = request.get_full_path() if request is not None else None
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]

    if isinstance(exc, exceptions.ValidationError):
        errors = getattr(exc, "problem_errors", None) or flatten_errors(exc.detail)
        fields = sorted({e["field"] for e in errors if e["field"]})
        detail = getattr(exc, "problem_detail", None) or (
            "Invalid value for: " + ", ".join(fields) if fields else "The request is invalid."
        )
        status = exc.status_code
        code = getattr(exc, "problem_code", None) or "invalid"
        if errors and all(e["code"] == "unique" for e in errors):
            # The request is valid but what it names is already taken (its code, a pillar's
            # number, an agency's acronym; a create, or an object brought back under a
            # code another one now has): a conflict with the plan's state, not bad input.
            status = 409
            if any(field.rsplit(".", 1)[-1] == "code" for field in fields):
                code, detail = "code_taken", "This code is already taken; codes are never reused."
            else:
                code = "taken"
                detail = "Already taken by another object: " + ", ".join(fields)
        body = problem(status, detail, code=code, errors=errors, instance=instance)
        set_rollback()
        return Response(body, status=status, headers=headers)
    else:
        detail = exc.detail if isinstance(exc.detail, str) else None
        codes = exc.get_codes()
        body = problem(
            exc.status_code,
            str(detail) if detail else None,
            code=codes if isinstance(codes, str) else None,
            instance=instance,
        )
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


class ItemErrors(exceptions.ValidationError):
    """A 400 whose `errors` are already built (bulk requests: each names its item)."""

    def __init__(self, errors: list[dict[str, Any]], detail: str) -> None:
        super().__init__(detail)
        self.problem_errors = errors
        self.problem_detail = detail


class QueryParameterError(exceptions.ValidationError):
    """A 400 for query parameters; `errors` names each offending parameter."""

    problem_code = "invalid_query"

    def __init__(self, errors: dict[str, Any], detail: str | None = None) -> None:
        super().__init__(errors)
        self.problem_detail = detail


def problem_response(
    request: HttpRequest, status: int, detail: str | None = None, code: str | None = None
) -> JsonResponse:
    """A problem document outside DRF (middleware, Django's error handlers)."""
    return JsonResponse(
        problem(status, detail, code=code, instance=request.get_full_path()),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
        json_dumps_params={"ensure_ascii": False},
    )


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(request, 400)


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(request, 403)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(request, 404, "No resource exists at this URL.")


def handler500(request: HttpRequest) -> JsonResponse:
    return problem_response(request, 500, "The server failed to answer; the error has been logged.")


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """A refused CSRF check (session-authenticated writes) as a problem document."""
    return problem_response(
        request,
        403,
        "CSRF check failed: session-authenticated writes need the CSRF token; partner "
        "systems should use a bearer token.",
        code="csrf_failed",
    )


@csrf_exempt
def not_found_view(
    request: HttpRequest, *args: Any, **kwargs: Any
) -> JsonResponse | HttpResponsePermanentRedirect:
    """Catch-all at the end of each API version, so unknown URLs answer JSON even with DEBUG on.

    A known URL missing its trailing slash is redirected with 308, which keeps the
    method and body (the catch-all would otherwise hide it from APPEND_SLASH).
    """
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found_view:
            query = request.META.get("QUERY_STRING", "")
            target = request.path + "/" + (f"?{query}" if query else "")
            return HttpResponsePermanentRedirect(target, preserve_request=True)
    return handler404(request)
