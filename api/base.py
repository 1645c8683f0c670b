"""The base viewset every endpoint of every version is built on.

It owns what must never differ between endpoints: lookup by public code, strict
query parameters, language negotiation, `fields=` selection and problem-details
errors. Viewsets only declare their queryset, serializer and filterset.
"""

from typing import Any

from django.utils.cache import patch_vary_headers
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ProblemJSONRenderer, QueryParameterError
from api.language import content_language, negotiate_language
from workplan.models.base import CODE_URL_PATTERN


class PlanReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_field = "code"
    lookup_value_regex = CODE_URL_PATTERN
    # Query parameters every operation understands.
    common_query_params = frozenset({"lang", "fields", "format"})

    language = "en"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.language = negotiate_language(request)
        self.check_query_params(request)

    # -- strict query parameters -------------------------------------------------
    def allowed_query_params(self) -> set[str]:
        allowed = set(self.common_query_params)
        if self.action == "list":
            filterset_class = getattr(self, "filterset_class", None)
            if filterset_class is not None:
                allowed |= set(filterset_class.base_filters)
            if self.paginator is not None:
                allowed |= set(getattr(self.paginator, "query_params", ()))
        return allowed

    def check_query_params(self, request: Request) -> None:
        """Refuse parameters this operation does not know, so typos never go unnoticed."""
        unknown = sorted(set(request.query_params) - self.allowed_query_params())
        if unknown:
            raise QueryParameterError(
                {name: ["Unknown query parameter."] for name in unknown},
                detail=f"Unknown query parameter(s): {', '.join(unknown)}.",
            )
        # PostgreSQL cannot store or compare text with NUL bytes; refuse them up front.
        with_nul = sorted(
            name
            for name, values in request.query_params.lists()
            if any("\x00" in value for value in values)
        )
        if with_nul:
            raise QueryParameterError({name: ["Contains a NUL byte."] for name in with_nul})

    # -- lookup ------------------------------------------------------------------
    def get_object(self) -> Any:
        # Codes are upper case; accept any case in the URL.
        self.kwargs[self.lookup_field] = self.kwargs[self.lookup_field].upper()
        return super().get_object()

    # -- serializers -------------------------------------------------------------
    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "language": self.language}

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

    # -- response ----------------------------------------------------------------
    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and isinstance(response, Response):
            response.accepted_renderer = ProblemJSONRenderer()
            response.accepted_media_type = ProblemJSONRenderer.media_type
        else:
            response["Content-Language"] = content_language(self.language)
        patch_vary_headers(response, ["Accept-Language"])
        return response
