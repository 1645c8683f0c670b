"""The base viewset every endpoint of every version is built on.

It owns what must never differ between endpoints: visibility scoping, permissions,
lookup by public code, strict query parameters, language negotiation, `fields=`
selection, ETags and If-Match, idempotent creation, and problem-details errors.
Viewsets only declare their queryset, serializers and filterset.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.db.models import QuerySet
from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import (
    PreconditionFailed,
    PreconditionRequired,
    ProblemJSONRenderer,
    QueryParameterError,
)
from api.idempotency import idempotent
from api.language import content_language, negotiate_language
from api.permissions import PlanPermission, actor_for
from workplan import services
from workplan.models import PlanObject
from workplan.models.base import CODE_URL_PATTERN

ETAG_PATTERN = re.compile(r'^"(\d{1,18})(?:-[A-Za-z0-9]*)?"$')


def check_query_params(request: Request, allowed: set[str] | frozenset[str]) -> None:
    """Refuse parameters an operation does not know, so typos never go unnoticed."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise QueryParameterError(
            {name: ["Unknown query parameter."] for name in unknown},
            detail=f"Unknown query parameter(s): {', '.join(unknown)}.",
        )
    # One rule for every parameter: an empty value (`updated_since=`, `fields=`) is refused
    # rather than read as "no filter", so a client that fails to fill in a value finds out.
    empty = sorted(
        name
        for name, values in request.query_params.lists()
        if any(not value.strip() for value in values)
    )
    if empty:
        raise QueryParameterError(
            {name: ["An empty value is not accepted; leave the parameter out."] for name in empty},
            detail=f"Empty value for query parameter(s): {', '.join(empty)}.",
        )
    # PostgreSQL cannot store or compare text with NUL bytes; refuse them up front.
    with_nul = sorted(
        name
        for name, values in request.query_params.lists()
        if any("\x00" in value for value in values)
    )
    if with_nul:
        raise QueryParameterError({name: ["Contains a NUL byte."] for name in with_nul})


def if_none_match_hits(request: Request, etag: str) -> bool:
    """Does If-None-Match name this ETag (weak comparison, as RFC 9110 says) or `*`?"""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


class ProblemResponseMixin:
    """Error responses are rendered as application/problem+json whatever was negotiated.

    A method the resource does not offer (TRACE, or PUT on a list) is a 405 naming the
    allowed methods, before credentials or the body are looked at.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method not in self.allowed_methods:  # type: ignore[attr-defined]
            self.http_method_not_allowed(request, *args, **kwargs)  # type: ignore[attr-defined]
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if response.status_code >= 400 and isinstance(response, Response):
            response.accepted_renderer = ProblemJSONRenderer()
            response.accepted_media_type = ProblemJSONRenderer.media_type
        return response


class PlanViewSet(ProblemResponseMixin, viewsets.ModelViewSet):
    """Base of every resource viewset.

    Subclasses declare `queryset`, `serializer_class` (output), `write_serializer_class`
    (input; None for read-only resources) and `filterset_class`. They may not override
    `get_queryset`: visibility is applied here, once, so no endpoint can forget it.
    """

    queryset: QuerySet
    lookup_field = "code"
    lookup_value_regex = CODE_URL_PATTERN
    permission_classes = [PlanPermission]
    write_serializer_class: type | None = None
    # Query parameters every operation understands.
    common_query_params = frozenset({"lang", "fields", "format"})

    language = "en"
    # `?expand=` values this resource understands (on its lists and details).
    expand_choices: frozenset[str] = frozenset()
    expanded: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset; declare `queryset` and let "
                "PlanViewSet scope it."
            )

    @property
    def allowed_methods(self) -> list[str]:
        methods = super().allowed_methods
        if self.write_serializer_class is None:
            return [m for m in methods if m in ("GET", "HEAD", "OPTIONS")]
        return methods

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if self.write_serializer_class is None and request.method not in (
            "GET",
            "HEAD",
            "OPTIONS",
        ):
            self.http_method_not_allowed(request, *args, **kwargs)
        super().initial(request, *args, **kwargs)
        self.language = negotiate_language(request)
        self.check_query_params(request)
        self.expanded = self.parse_expand(request)

    # -- scoping -----------------------------------------------------------------
    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        if self.action == "restore":
            return queryset.archived()  # type: ignore[attr-defined]
        return queryset.visible_to(self.actor())  # type: ignore[attr-defined]

    # -- strict query parameters -------------------------------------------------
    # Actions that take the list's filters (exports honour them too).
    filtered_actions = frozenset({"list"})
    # Actions whose output is not a JSON representation: no `lang` or `fields`.
    export_actions: frozenset[str] = frozenset()

    def allowed_query_params(self) -> set[str]:
        allowed = set(self.common_query_params)
        if self.action in self.export_actions:
            allowed -= {"lang", "fields"}
        if self.action in self.filtered_actions:
            filterset_class = getattr(self, "filterset_class", None)
            if filterset_class is not None:
                allowed |= set(filterset_class.base_filters)
        if (
            self.expand_choices
            and self.action not in self.export_actions
            and self.request.method in ("GET", "HEAD")
        ):
            allowed.add("expand")
        if self.action == "list" and self.paginator is not None:
            allowed |= set(getattr(self.paginator, "query_params", ()))
        return allowed

    def check_query_params(self, request: Request) -> None:
        check_query_params(request, self.allowed_query_params())

    def parse_expand(self, request: Request) -> frozenset[str]:
        """`expand=labels` (comma-separated); unknown values are a 400 naming `expand`."""
        values = [
            value.strip()
            for raw in request.query_params.getlist("expand")
            for value in raw.split(",")
            if value.strip()
        ]
        unknown = sorted(set(values) - self.expand_choices)
        if unknown or request.query_params.getlist("expand") and not values:
            raise QueryParameterError(
                {
                    "expand": [
                        f"Unknown value(s): {', '.join(unknown) or '(none given)'}; "
                        f"available: {', '.join(sorted(self.expand_choices))}."
                    ]
                }
            )
        return frozenset(values)

    # -- lookup ------------------------------------------------------------------
    def get_object(self) -> Any:
        # Codes are upper case; accept any case in the URL.
        self.kwargs[self.lookup_field] = self.kwargs[self.lookup_field].upper()
        return super().get_object()

    def fetch(self, obj: PlanObject) -> Any:
        """The object again, with everything its representation needs prefetched."""
        return self.queryset.all().get(pk=obj.pk)

    @property
    def model(self) -> type[PlanObject]:
        return self.queryset.model

    # -- serializers -------------------------------------------------------------
    def get_serializer_context(self) -> dict[str, Any]:
        return {
            **super().get_serializer_context(),
            "language": self.language,
            "expand": self.expanded,
        }

    def selected_fields(self, serializer_class: type) -> list[str] | None:
        raw = self.request.query_params.get("fields") if self.request else None
        if raw is None:
            return None
        wanted = [name.strip() for name in raw.split(",") if name.strip()]
        available = list(serializer_class().fields)
        unknown = [name for name in wanted if name not in available]
        if unknown or not wanted:
            raise QueryParameterError(
                {
                    "fields": [
                        f"Unknown field(s): {', '.join(unknown) or '(none given)'}; "
                        f"available: {', '.join(available)}."
                    ]
                }
            )
        return wanted

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer_class = self.get_serializer_class()
        kwargs.setdefault("context", self.get_serializer_context())
        fields = self.selected_fields(serializer_class)
        if fields:
            kwargs["fields"] = fields
        return serializer_class(*args, **kwargs)

    def get_write_serializer(self, *args: Any, **kwargs: Any) -> Any:
        assert self.write_serializer_class is not None
        return self.write_serializer_class(*args, context=self.get_serializer_context(), **kwargs)

    def actor(self) -> services.Actor:
        return actor_for(self.request)

    # -- ETags ---------------------------------------------------------------------
    def etag_for(self, obj: PlanObject, data: Any) -> str:
        """A strong ETag: the object's version (what If-Match compares) and a digest of this
        representation, which also changes with language, `fields` and nested objects."""
        body = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return f'"{obj.version}-{hashlib.sha256(body.encode()).hexdigest()[:16]}"'

    def expected_version(self, request: Request, obj: PlanObject) -> int | None:
        """The version named by If-Match (428 without one, 412 when it is stale)."""
        header = request.headers.get("If-Match")
        if not header:
            raise PreconditionRequired()
        tags = [tag.strip() for tag in header.split(",")]
        if "*" in tags:
            return None  # any current version: the write applies to the row as it is now
        versions = {int(m.group(1)) for tag in tags if (m := ETAG_PATTERN.match(tag))}
        if obj.version not in versions:
            raise PreconditionFailed()
        return obj.version

    def represent(self, obj: PlanObject, status_code: int = 200, **headers: str) -> Response:
        obj = self.fetch(obj)
        data = self.get_serializer(obj).data
        return Response(
            data, status=status_code, headers={"ETag": self.etag_for(obj, data), **headers}
        )

    # -- actions -------------------------------------------------------------------
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        data = self.get_serializer(obj).data
        etag = self.etag_for(obj, data)
        if if_none_match_hits(request, etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response(data, headers={"ETag": etag})

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        def handler() -> Response:
            serializer = self.get_write_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            obj = services.plan_object_create(
                model=self.model,
                data=serializer.service_data(),
                actor=self.actor(),
            )
            location = self.reverse_action("detail", kwargs={self.lookup_field: obj.code})
            return self.represent(obj, status.HTTP_201_CREATED, Location=location)

        return idempotent(request, handler)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        expected = self.expected_version(request, obj)
        serializer = self.get_write_serializer(
            obj, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        services.plan_object_update(
            obj=obj, data=serializer.service_data(), actor=self.actor(), expected_version=expected
        )
        return self.represent(obj)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        expected = self.expected_version(request, obj)
        services.plan_object_archive(obj=obj, actor=self.actor(), expected_version=expected)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        services.plan_object_restore(obj=obj, actor=self.actor())
        return self.represent(obj)

    # -- response ----------------------------------------------------------------
    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code < 400:
            response["Content-Language"] = content_language(self.language)
        patch_vary_headers(response, ["Accept-Language"])
        return response
