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
from drf_spectacular.utils import OpenApiParameter, extend_schema
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


# Query parameters whose empty value means something: `cursor=` asks for the first page.
EMPTY_BY_DESIGN = frozenset({"cursor"})


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
    # The one value that is empty by design is the first page's `cursor=` (api/pagination.py).
    empty = sorted(
        name
        for name, values in request.query_params.lists()
        if name not in EMPTY_BY_DESIGN and any(not value.strip() for value in values)
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


def loaded_rows(obj: Any, seen: set[tuple[str, Any]] | None = None) -> list[Any]:
    """Every field of `obj` and of the related rows loaded with it, recursively (a row
    met again, such as a role's project, is named, not walked again)."""
    seen = set() if seen is None else seen
    identity = (obj._meta.label, obj.pk)
    if identity in seen:
        return list(identity)
    seen.add(identity)
    own = [obj._meta.label, *(getattr(obj, f.attname) for f in obj._meta.concrete_fields)]
    for name, related in sorted(obj._state.fields_cache.items()):
        own.append([name, None if related is None else loaded_rows(related, seen)])
    prefetched = getattr(obj, "_prefetched_objects_cache", {})
    for name, rows in sorted(prefetched.items()):
        own.append([name, [loaded_rows(row, seen) for row in rows]])
    return own


ETAG_PARAMETERS = [
    OpenApiParameter(
        "If-None-Match",
        str,
        location=OpenApiParameter.HEADER,
        description="ETag of an earlier copy: 304 when unchanged.",
    ),
    OpenApiParameter(
        "ETag",
        str,
        location=OpenApiParameter.HEADER,
        response=[200, 304],
        description="Validator of this document: send it in If-None-Match next time.",
    ),
]


def etag_response(request: Request, language: str, data: Any) -> Response:
    """A computed document with a digest ETag in the negotiated language: 304 when the
    client's If-None-Match names it (the plan, the codelists, the summary)."""
    body = json.dumps(data, sort_keys=True, default=str).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Content-Language": content_language(language),
        "Vary": "Accept-Language",
    }
    if if_none_match_hits(request, etag):
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(data, headers=headers)


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
    # `?expand=` values this resource understands (on its lists and details): the
    # `expansions` its serializer declares, set when the class is made.
    expand_choices: frozenset[str] = frozenset()
    expanded: frozenset[str] = frozenset()
    # `?brief=true`: the minimal representation, as references to the object carry it
    # elsewhere (`brief_fields` are its serializer's, set when the class is made).
    brief_serializer_class: type | None = None
    brief_fields: tuple[str, ...] = ()
    brief = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset; declare `queryset` and let "
                "PlanViewSet scope it."
            )
        serializer_class = cls.__dict__.get("serializer_class")
        if serializer_class is not None:
            cls.expand_choices = frozenset(getattr(serializer_class, "expansions", {}))
        if cls.brief_serializer_class is not None:
            cls.brief_fields = tuple(cls.brief_serializer_class.Meta.fields)  # type: ignore[attr-defined]

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
        self.brief = self.parse_brief(request)
        self.expanded = self.parse_expand(request)

    # -- scoping -----------------------------------------------------------------
    def get_queryset(self) -> QuerySet:
        if self.brief:
            # A brief representation reads no related object.
            queryset = self.model._default_manager.all()
        else:
            queryset = super().get_queryset()
            expansions = getattr(self.serializer_class, "expansions", {})
            for value in sorted(self.expanded):
                queryset = queryset.prefetch_related(*expansions[value].prefetch)
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
        if self.brief_fields and self.action in ("list", "retrieve"):
            allowed.add("brief")
        if self.action == "list" and self.paginator is not None:
            allowed |= set(getattr(self.paginator, "query_params", ()))
        return allowed

    def check_query_params(self, request: Request) -> None:
        check_query_params(request, self.allowed_query_params())

    def parse_brief(self, request: Request) -> bool:
        """`brief=true` or `brief=false` (any case); anything else is a 400 naming `brief`."""
        raw = request.query_params.get("brief")
        if raw is None:
            return False
        if raw.strip().lower() not in ("true", "false"):
            raise QueryParameterError({"brief": ["Must be true or false."]})
        return raw.strip().lower() == "true"

    def parse_expand(self, request: Request) -> frozenset[str]:
        """`expand=labels,goal` (comma-separated, or repeated); unknown values are a 400
        naming `expand`, and so are related objects asked of a brief representation."""
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
        embedded = sorted(set(values) - {"labels"})
        if self.brief and embedded:
            raise QueryParameterError(
                {
                    "expand": [
                        f"A brief representation embeds no related object ({', '.join(embedded)}); "
                        "only `labels` applies."
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

    def get_serializer_class(self) -> Any:
        if self.brief:
            return self.brief_serializer_class
        return super().get_serializer_class()

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
    # True where the representation is built only from the object's own fields and the
    # related rows its queryset loads with it (select_related, prefetch_related into the
    # cache): the ETag is then computed from those rows, before any serializer runs, and
    # a matching If-None-Match costs the lookup alone.
    etag_from_rows = False

    def etag_for(self, obj: PlanObject, data: Any) -> str:
        """A strong ETag: the object's version (what If-Match compares) and a digest of what
        the representation is made of, which also changes with language, `fields`, `expand`
        and nested objects: the representation itself, or with `etag_from_rows` the rows
        it is built from."""
        if self.etag_from_rows:
            return self.etag_of_rows(obj)
        body = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return f'"{obj.version}-{hashlib.sha256(body.encode()).hexdigest()[:16]}"'

    def etag_of_rows(self, obj: PlanObject) -> str:
        request = self.request
        key = [
            type(self).__name__,
            request.build_absolute_uri("/"),
            str(request.version),
            self.language,
            sorted(request.query_params.lists()),  # fields, expand, brief...
            loaded_rows(obj),
        ]
        body = json.dumps(key, separators=(",", ":"), default=str)
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
        if self.etag_from_rows:
            etag = self.etag_of_rows(obj)
            if if_none_match_hits(request, etag):
                return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
            return Response(self.get_serializer(obj).data, headers={"ETag": etag})
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
