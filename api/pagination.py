"""Pagination of every list: page numbers (v1's) and opaque keyset cursors.

Page numbers (`?page=`) stay for existing clients, but an exact `COUNT(*)` over a large
plan costs more than the page itself. So `count` is counted on the first page (and on any
page with `?count=true`) and kept in the shared cache for `API_COUNT_CACHE_SECONDS`, keyed
by the list's own count query (its filters and the caller's visibility are in it); later
pages take it from there, and count only when it is not there. `count` is always an
integer, as v1 clients expect; on later pages it may be that many seconds old. Whether
there is a next page is found by reading one row more than the page holds, never from
the count.

Cursors (`?cursor=`; empty for the first page) walk the list by keyset: the position is
the last row's values of the list's ordering, with the primary key as the tiebreaker,
so a page deep in the list costs what the first one costs, and rows added or removed
meanwhile never make a client skip or repeat one. DRF's CursorPagination is not used:
it keys on the first ordering field only and falls back to an offset for ties, and its
cursors cannot carry several values (dates, codes and keys) of a compound ordering.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, ValidationError
from django.db.models import F, OrderBy, Q, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from api.errors import QueryParameterError
from api.throttling import fail_open_cache

CURSOR = "cursor"
COUNT = "count"


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


def cached_count(queryset: QuerySet, *, fresh: bool) -> int:
    """The exact count of `queryset` (`fresh`), or the one counted for the same query within
    `API_COUNT_CACHE_SECONDS`. The key is the count query itself (SQL and parameters), so
    another filter or another caller's visibility is another key. With the cache down,
    the count is exact (the cache fails open)."""
    try:
        sql, params = queryset.order_by().query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing (e.g. a search without words)
        return 0
    key = "count:" + hashlib.sha256(f"{sql}|{params!r}".encode()).hexdigest()
    if not fresh:
        count = fail_open_cache.get(key)
        if isinstance(count, int):
            return count
    count = queryset.count()
    fail_open_cache.set(key, count, settings.API_COUNT_CACHE_SECONDS)
    return count


def _wants_count(request: Any) -> bool:
    raw = request.query_params.get(COUNT)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise QueryParameterError({COUNT: [f"Must be true or false; got {raw!r}."]})
    return raw == "true"


LINK = {"type": ["string", "null"], "format": "uri"}


class PagePagination(PageNumberPagination):
    """Page numbers or cursors, whichever the request names; refuses, rather than
    ignores, a bad `page`, `page_size`, `cursor` or `count`.

    DRF falls back to the default when `page_size` is invalid and clamps it silently;
    a partner would then miss records without knowing, so both are a 400 here.
    """

    page_query_param = "page"
    page_size_query_param = "page_size"
    query_params = frozenset({"page", "page_size", CURSOR, COUNT})

    count: int = 0
    has_next = False
    number = 1
    cursor_mode = False

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
        self.request = request
        number = _positive_int(request, self.page_query_param) or 1
        wants_count = _wants_count(request)
        size = self.get_page_size(request)
        if CURSOR in request.query_params:
            if self.page_query_param in request.query_params:
                raise QueryParameterError({CURSOR: ["Give either `cursor` or `page`, not both."]})
            if wants_count:
                raise QueryParameterError(
                    {COUNT: ["Only pages by number carry a count; drop `count` or `cursor`."]}
                )
            self.cursor_mode = True
            self.keyset = KeysetPage(queryset, request, size)
            return self.keyset.rows
        self.number = number
        self.count = cached_count(queryset, fresh=number == 1 or wants_count)
        offset = (number - 1) * size
        rows = list(queryset[offset : offset + size + 1])
        if not rows and number > 1:
            raise NotFound("Invalid page.")
        self.has_next = len(rows) > size
        return rows[:size]

    def get_next_link(self) -> str | None:
        if not self.has_next or self.request is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.page_query_param, self.number + 1)

    def get_previous_link(self) -> str | None:
        if self.number <= 1 or self.request is None:
            return None
        url = self.request.build_absolute_uri()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response(self, data: Any) -> Response:
        if self.cursor_mode:
            return Response(
                {
                    "next": self.keyset.next_link(),
                    "previous": self.keyset.previous_link(),
                    "results": data,
                }
            )
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Both envelopes in one schema (OpenAPI 3.1 terms: `nullable` is gone from 3.1)."""
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "description": (
                        "Pages by number only: how many objects all the pages hold. Exact "
                        "on the first page and with `count=true`; on later pages it is the "
                        "count of the same list taken within the last minute (counting a "
                        "large plan costs more than a page). Absent with `cursor`."
                    ),
                },
                "next": {
                    **LINK,
                    "description": "The next page (same style as this one); null on the last.",
                },
                "previous": {
                    **LINK,
                    "description": "The previous page; null on the first.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "Page number, from 1. A page past the last one is a 404. Deep pages "
                    "cost more the deeper they are: walk a large list with `cursor`."
                ),
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
            {
                "name": CURSOR,
                "required": False,
                "in": "query",
                "description": (
                    "Walk the list by cursor instead of page number: send it empty for the "
                    "first page, then follow `next` and `previous`, whose cursors are "
                    "opaque. Any page costs what the first costs, and rows added or removed "
                    "meanwhile are neither skipped nor repeated. The answer has no `count`. "
                    "A cursor that was altered, or was made for another `ordering`, is a "
                    "400; so is one with a `q` search ranked by relevance (give `ordering` "
                    "to walk search results by cursor) and one with `page`."
                ),
                "schema": {"type": "string"},
            },
            {
                "name": COUNT,
                "required": False,
                "in": "query",
                "description": (
                    "`true`: give the exact `count` on any page by number, not only on the "
                    "first (it costs a count of the whole list). Not with `cursor`."
                ),
                "schema": {"type": "boolean"},
            },
        ]


# -- keyset cursors -----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _bad_cursor(reason: str) -> QueryParameterError:
    return QueryParameterError(
        {CURSOR: [f"Not a cursor of this list: {reason}. Start again from an empty cursor."]}
    )


class KeysetPage:
    """One page of a queryset after (or before) a position in its ordering."""

    def __init__(self, queryset: QuerySet, request: Any, size: int) -> None:
        self.request = request
        self.size = size
        self.fields = self.ordering(queryset)
        raw = request.query_params.get(CURSOR, "")
        position, backwards = self.decode(queryset, raw) if raw else (None, False)
        ordered = queryset.order_by(*self.order_by(backwards))
        if position is not None:
            ordered = ordered.filter(self.after(position, backwards))
        rows = list(ordered[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
            self.has_previous, self.has_next = more, True
        else:
            self.has_previous, self.has_next = position is not None, more
        self.rows = rows

    # The ordering ---------------------------------------------------------------------
    @staticmethod
    def ordering(queryset: QuerySet) -> list[tuple[str, bool, bool]]:
        """(field path, descending, nullable) of the queryset's order, up to its first
        unique non-null field; the key is appended when none is."""
        names = list(queryset.query.order_by or queryset.model._meta.ordering)
        fields: list[tuple[str, bool, bool]] = []
        for name in names:
            if not isinstance(name, str) or name.lstrip("-") in ("search_rank", "?"):
                raise QueryParameterError(
                    {
                        CURSOR: [
                            "Search results ranked by relevance cannot be walked by cursor: "
                            "give `ordering` (e.g. `ordering=code`) or use `page`."
                        ]
                    }
                )
            path = name.lstrip("-")
            nullable, unique = _nature(queryset.model, path)
            fields.append((path, name.startswith("-"), nullable))
            if unique and not nullable:
                return fields  # later fields never break a tie
        fields.append(("pk", False, False))
        return fields

    def order_by(self, backwards: bool) -> list[OrderBy]:
        """A nullable field's NULLs come after every value going forwards (before, going
        backwards), on every database alike, so that the comparisons below hold. Fields
        that cannot be null are ordered plainly, so that an index serves the order."""
        order = []
        for path, descending, nullable in self.fields:
            if descending != backwards:
                order.append(F(path).desc(nulls_first=True if nullable else None))
            else:
                order.append(F(path).asc(nulls_last=True if nullable else None))
        return order

    def after(self, position: list[Any], backwards: bool) -> Q:
        """Rows past `position` in the (possibly reversed) order: lexicographic. On the
        usual orderings (a unique code or date and the key) this is a range of an index."""
        condition: Q | None = None
        equal = Q()
        for (path, descending, nullable), value in zip(self.fields, position, strict=True):
            ascending = descending == backwards  # ascending with NULLs last
            if value is None:
                past = Q(pk__in=[]) if ascending else Q(**{f"{path}__isnull": False})
                same = Q(**{f"{path}__isnull": True})
            else:
                past = Q(**{f"{path}__gt" if ascending else f"{path}__lt": value})
                if ascending and nullable:
                    past |= Q(**{f"{path}__isnull": True})
                same = Q(**{path: value})
            condition = past if condition is None else condition | (equal & past)
            equal &= same
        assert condition is not None
        return condition

    # Cursors --------------------------------------------------------------------------
    def signature(self) -> list[str]:
        return [("-" if descending else "") + path for path, descending, _ in self.fields]

    def position_of(self, row: Any) -> list[Any]:
        values = []
        for path, _, _ in self.fields:
            value = row
            for part in path.split("__"):
                value = None if value is None else getattr(value, part)
            values.append(_plain(value))
        return values

    def encode(self, row: Any, backwards: bool) -> str:
        return encode_cursor(self.signature(), self.position_of(row), backwards)

    def decode(self, queryset: QuerySet, raw: str) -> tuple[list[Any], bool]:
        try:
            body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (binascii.Error, ValueError):
            raise _bad_cursor("it does not decode") from None
        if not isinstance(body, dict) or set(body) != {"o", "p", "b"}:
            raise _bad_cursor("it does not decode")
        if body["o"] != self.signature():
            raise _bad_cursor("it was made for another ordering")
        position = body["p"]
        if not isinstance(position, list) or len(position) != len(self.fields):
            raise _bad_cursor("its position does not fit the ordering")
        checked = []
        for (path, _, _), value in zip(self.fields, position, strict=True):
            if value is not None:
                try:
                    field = _model_field(queryset.model, path)
                    value = field.to_python(value)
                    field.get_prep_value(value)
                except (ValidationError, TypeError, ValueError, FieldDoesNotExist):
                    raise _bad_cursor("its position holds a value of the wrong kind") from None
            checked.append(value)
        return checked, bool(body["b"])

    def _link(self, row: Any, backwards: bool) -> str:
        url = self.request.build_absolute_uri()
        return replace_query_param(url, CURSOR, self.encode(row, backwards))

    def next_link(self) -> str | None:
        if not self.has_next or not self.rows:
            return None
        return self._link(self.rows[-1], False)

    def previous_link(self) -> str | None:
        if not self.has_previous or not self.rows:
            return None
        return self._link(self.rows[0], True)


def encode_cursor(ordering: list[str], position: list[Any], backwards: bool = False) -> str:
    """The opaque cursor of the row at `position` (its values of `ordering`, key last)."""
    body = {"o": ordering, "p": [_plain(value) for value in position], "b": backwards}
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _nature(model: Any, path: str) -> tuple[bool, bool]:
    """Whether the field at `path` may be null (along the way too), and is unique."""
    parts = path.split("__")
    nullable = False
    for part in parts[:-1]:
        field = model._meta.get_field(part)
        nullable = nullable or field.null
        model = field.related_model
    field = model._meta.pk if parts[-1] == "pk" else model._meta.get_field(parts[-1])
    unique = field.unique and len(parts) == 1
    return nullable or field.null, unique


def _model_field(model: Any, path: str) -> Any:
    parts = path.split("__")
    for part in parts[:-1]:
        model = model._meta.get_field(part).related_model
    last = parts[-1]
    return model._meta.pk if last == "pk" else model._meta.get_field(last)
