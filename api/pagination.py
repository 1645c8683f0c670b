from typing import Any

from django.conf import settings
from rest_framework.pagination import PageNumberPagination

from api.errors import QueryParameterError


def _positive_int(request: Any, name: str, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or (maximum is not None and value > maximum):
        bound = f" from 1 to {maximum}" if maximum is not None else " of 1 or more"
        raise QueryParameterError({name: [f"Must be a whole number{bound}; got {raw!r}."]})
    return value


class PagePagination(PageNumberPagination):
    """Page-number pagination that refuses, rather than ignores, a bad `page` or `page_size`.

    DRF falls back to the default when `page_size` is invalid and clamps it silently;
    a partner would then miss records without knowing, so both are a 400 here.
    """

    page_query_param = "page"
    page_size_query_param = "page_size"
    query_params = frozenset({"page", "page_size"})

    @property
    def page_size(self) -> int:  # type: ignore[override]
        return settings.API_DEFAULT_PAGE_SIZE

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request: Any) -> int:
        return _positive_int(request, self.page_size_query_param, self.max_page_size) or (
            self.page_size
        )

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        _positive_int(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """DRF's page schema, in OpenAPI 3.1 terms (`nullable` is gone from 3.1, so clients
        read it as a non-null string) and without its placeholder examples."""
        link = {"type": ["string", "null"], "format": "uri"}
        return {
            "type": "object",
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many objects all the pages hold.",
                },
                "next": {**link, "description": "The next page; null on the last one."},
                "previous": {**link, "description": "The previous page; null on the first."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "Page number, from 1. A page past the last one is a 404.",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": (
                    f"Results per page: default {self.page_size}, maximum "
                    f"{self.max_page_size}; a larger value is refused with a 400."
                ),
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
