"""What the project list and detail are measured against.

- A raw Django view: `.values()` for the page, three more queries for the agencies,
  countries and links of the page's projects, dicts built by hand, `json.dumps`. It is
  the floor: the same rows, the same count and envelope, the same bytes, with nothing
  of the framework in between (no authentication, throttling, content negotiation,
  parameter checks or serializers).
- An untuned DRF viewset: a `ReadOnlyModelViewSet` with nested `ModelSerializer`s and
  the right `select_related`/`prefetch_related`, as a team would first write it, under
  the project's default DRF settings (authentication, permission, throttling).

Both answer in English only (the API's default), for anonymous callers (published,
active projects), and link `next`/`previous` to the real list, so that their bodies are
byte for byte the real endpoint's; the bench checks that and warns when they drift.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.utils.urls import remove_query_param, replace_query_param

from api.pagination import cached_count
from workplan.models import (
    Agency,
    Goal,
    Pillar,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

# What an anonymous caller sees: published, active projects.
VISIBLE = {"archived_at__isnull": True, "is_published": True}

PROJECT_VALUES = (
    "id",
    "code",
    "version",
    "title_en",
    "description_en",
    "status",
    "is_published",
    "announced_on",
    "planned_start",
    "planned_end",
    "actual_start",
    "actual_end",
    "budget_amount",
    "budget_currency",
    "created_at",
    "updated_at",
    "goal__code",
    "goal__title_en",
    "goal__pillar__code",
    "goal__pillar__number",
    "goal__pillar__name_en",
)


# -- the raw view ------------------------------------------------------------------------


def _date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _datetime(value: datetime | None) -> str | None:
    # As DRF writes ISO 8601 date-times: in the current time zone, UTC as "Z".
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _amount(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _json(data: Any) -> bytes:
    # DRF's JSONRenderer: compact, UTF-8, with U+2028/U+2029 escaped.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _positive(raw: str | None, default: int, maximum: int | None = None) -> int | None:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    if value < 1 or (maximum is not None and value > maximum):
        return None
    return value


def _projects(request: HttpRequest, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's projects as the API represents them: three queries for all of them."""
    origin = request.build_absolute_uri("/")[:-1]
    paths = {name: reverse(f"v1:{name}-list") for name in ("project", "goal", "pillar", "agency")}
    ids = [row["id"] for row in rows]
    agencies: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for role in (
        ProjectAgencyRole.objects.filter(project_id__in=ids)
        .order_by("country", "agency__code")
        .values(
            "project_id",
            "role",
            "is_lead",
            "source",
            "agency__code",
            "agency__acronym",
            "agency__name_en",
            "agency__country",
        )
    ):
        agencies[role["project_id"]].append(
            {
                "agency": {
                    "code": role["agency__code"],
                    "url": f"{origin}{paths['agency']}{role['agency__code']}/",
                    "acronym": role["agency__acronym"],
                    "name": role["agency__name_en"],
                    "country": role["agency__country"],
                },
                "role": role["role"],
                "is_lead": role["is_lead"],
                "source": role["source"],
            }
        )
    countries: dict[int, list[str]] = defaultdict(list)
    for project_id, country in (
        ProjectCountry.objects.filter(project_id__in=ids)
        .order_by("country")
        .values_list("project_id", "country")
    ):
        countries[project_id].append(country)
    links: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for project_id, url, label in (
        ProjectLink.objects.filter(project_id__in=ids)
        .order_by("project", "id")
        .values_list("project_id", "url", "label_en")
    ):
        links[project_id].append({"url": url, "label": label})
    return [
        {
            "code": row["code"],
            "url": f"{origin}{paths['project']}{row['code']}/",
            "title": row["title_en"],
            "description": row["description_en"],
            "status": row["status"],
            "is_published": row["is_published"],
            "goal": {
                "code": row["goal__code"],
                "url": f"{origin}{paths['goal']}{row['goal__code']}/",
                "title": row["goal__title_en"],
            },
            "pillar": {
                "code": row["goal__pillar__code"],
                "url": f"{origin}{paths['pillar']}{row['goal__pillar__code']}/",
                "number": row["goal__pillar__number"],
                "name": row["goal__pillar__name_en"],
            },
            "announced_on": _date(row["announced_on"]),
            "planned_start": _date(row["planned_start"]),
            "planned_end": _date(row["planned_end"]),
            "actual_start": _date(row["actual_start"]),
            "actual_end": _date(row["actual_end"]),
            "countries": countries[row["id"]],
            "participating_agencies": agencies[row["id"]],
            "budget": None
            if row["budget_amount"] is None
            else {"amount": _amount(row["budget_amount"]), "currency": row["budget_currency"]},
            "links": links[row["id"]],
            "created_at": _datetime(row["created_at"]),
            "updated_at": _datetime(row["updated_at"]),
        }
        for row in rows
    ]


def _real_list_url(request: Any) -> str:
    """This request's URL as if it had been made to the real list (for next/previous)."""
    query = request.META.get("QUERY_STRING", "")
    return request.build_absolute_uri(reverse("v1:project-list") + (f"?{query}" if query else ""))


def raw_project_list(request: HttpRequest) -> HttpResponse:
    """GET: a page of projects, as /api/v1/projects/ answers it, in five queries."""
    size = _positive(request.GET.get("page_size"), PAGE_SIZE, MAX_PAGE_SIZE)
    number = _positive(request.GET.get("page"), 1)
    if size is None or number is None:
        return HttpResponse(status=400)
    projects = Project.objects.filter(**VISIBLE).order_by("code")
    # As the real list: an exact count on the first page, kept for the later ones.
    count = cached_count(projects, fresh=number == 1)
    rows = list(projects.values(*PROJECT_VALUES)[(number - 1) * size : number * size + 1])
    if not rows and number > 1:
        return HttpResponse(status=404)
    more, rows = len(rows) > size, rows[:size]
    url = _real_list_url(request)
    if number == 2:
        previous: str | None = remove_query_param(url, "page")
    else:
        previous = replace_query_param(url, "page", number - 1) if number > 1 else None
    return HttpResponse(
        _json(
            {
                "count": count,
                "next": replace_query_param(url, "page", number + 1) if more else None,
                "previous": previous,
                "results": _projects(request, rows),
            }
        ),
        content_type="application/json",
    )


def raw_project_detail(request: HttpRequest, code: str) -> HttpResponse:
    """GET: one project as /api/v1/projects/{code}/ answers it, ETag and 304 included."""
    rows = list(Project.objects.filter(**VISIBLE, code=code.upper()).values(*PROJECT_VALUES)[:1])
    if not rows:
        return HttpResponse(status=404)
    data = _projects(request, rows)[0]
    digest = hashlib.sha256(
        json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()[:16]
    etag = f'"{rows[0]["version"]}-{digest}"'
    sent = request.headers.get("If-None-Match", "")
    if sent and any(tag.strip().removeprefix("W/") in (etag, "*") for tag in sent.split(",")):
        return HttpResponse(status=304, headers={"ETag": etag})
    return HttpResponse(_json(data), content_type="application/json", headers={"ETag": etag})


# -- the untuned DRF viewset ---------------------------------------------------------------


class UntunedPillarSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="pillar-detail", lookup_field="code")
    name = serializers.CharField(source="name_en")

    class Meta:
        model = Pillar
        fields = ["code", "url", "number", "name"]


class UntunedGoalSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="goal-detail", lookup_field="code")
    title = serializers.CharField(source="title_en")

    class Meta:
        model = Goal
        fields = ["code", "url", "title"]


class UntunedAgencySerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="agency-detail", lookup_field="code")
    name = serializers.CharField(source="name_en")

    class Meta:
        model = Agency
        fields = ["code", "url", "acronym", "name", "country"]


class UntunedRoleSerializer(serializers.ModelSerializer):
    agency = UntunedAgencySerializer()

    class Meta:
        model = ProjectAgencyRole
        fields = ["agency", "role", "is_lead", "source"]


class UntunedLinkSerializer(serializers.ModelSerializer):
    label = serializers.CharField(source="label_en")  # type: ignore[assignment]

    class Meta:
        model = ProjectLink
        fields = ["url", "label"]


class UntunedProjectSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="project-detail", lookup_field="code")
    title = serializers.CharField(source="title_en")
    description = serializers.CharField(source="description_en")
    goal = UntunedGoalSerializer()
    pillar = UntunedPillarSerializer(source="goal.pillar")
    countries: Any = serializers.SlugRelatedField(many=True, read_only=True, slug_field="country")
    participating_agencies = UntunedRoleSerializer(source="agency_roles", many=True)
    budget = serializers.SerializerMethodField()
    links = UntunedLinkSerializer(many=True)

    class Meta:
        model = Project
        fields = [
            "code",
            "url",
            "title",
            "description",
            "status",
            "is_published",
            "goal",
            "pillar",
            "announced_on",
            "planned_start",
            "planned_end",
            "actual_start",
            "actual_end",
            "countries",
            "participating_agencies",
            "budget",
            "links",
            "created_at",
            "updated_at",
        ]

    def get_budget(self, project: Project) -> dict[str, str] | None:
        if project.budget_amount is None:
            return None
        return {"amount": _amount(project.budget_amount), "currency": project.budget_currency}


class RealListLinksPagination(PageNumberPagination):
    """DRF's page-number pagination, its links pointing at the real list."""

    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_next_link(self) -> str | None:
        page = self.page
        if page is None or not page.has_next():
            return None
        url = _real_list_url(self.request)
        return replace_query_param(url, self.page_query_param, page.next_page_number())

    def get_previous_link(self) -> str | None:
        page = self.page
        if page is None or not page.has_previous():
            return None
        url = _real_list_url(self.request)
        number = page.previous_page_number()
        if number == 1:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, number)


class UntunedProjectViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = (
        Project.objects.filter(**VISIBLE)
        .select_related("goal__pillar")
        .prefetch_related(
            Prefetch(
                "agency_roles",
                queryset=ProjectAgencyRole.objects.select_related("agency").order_by(
                    "country", "agency__code"
                ),
            ),
            "countries",
            "links",
        )
        .order_by("code")
    )
    serializer_class = UntunedProjectSerializer
    pagination_class = RealListLinksPagination
