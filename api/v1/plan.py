"""GET /api/v1/plan/: the whole plan in one JSON document, streamed."""

import hashlib
import json
import re
from collections import defaultdict, deque
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Prefetch, QuerySet, Value
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.utils.encoders import JSONEncoder

from api.base import (
    ETAG_PARAMETERS,
    ProblemResponseMixin,
    check_query_params,
    if_none_match_hits,
)
from api.language import ALL_LANGUAGES, DEFAULT_LANGUAGE, content_language, negotiate_language
from api.permissions import PlanPermission
from workplan.models import (
    Agency,
    Goal,
    Indicator,
    IndicatorPeriod,
    Meeting,
    Pillar,
    ProgressReport,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
    Result,
)
from workplan.models.base import SUPPORTED_LANGUAGES

from .serializers import (
    AgencySerializer,
    GoalSerializer,
    MeetingSerializer,
    PillarSerializer,
    ProgressReportSerializer,
    ProjectSerializer,
    ResultSerializer,
)
from .views import PROGRESS_QUERYSET, RESULT_QUERYSET, MeetingViewSet


class PlanGoalSerializer(GoalSerializer):
    """A goal with its projects."""

    projects = serializers.SerializerMethodField()

    class Meta(GoalSerializer.Meta):
        fields = [f for f in GoalSerializer.Meta.fields if f != "pillar"] + ["projects"]

    @extend_schema_field(ProjectSerializer(many=True))
    def get_projects(self, goal: Goal) -> Any:
        projects = self.context["projects_by_goal"].get(goal.pk, [])
        if isinstance(projects, _Marker):
            return f"{GOAL_PROJECTS}{projects.goal_id}"  # replaced by the stream
        return ProjectSerializer(projects, many=True, context=self.context).data


class PlanPillarSerializer(PillarSerializer):
    """A pillar with its goals and their projects."""

    goals = PlanGoalSerializer(many=True, read_only=True)  # type: ignore[assignment]


class PlanDocumentSerializer(serializers.Serializer):
    pillars = PlanPillarSerializer(many=True)
    agencies = AgencySerializer(many=True)
    meetings = MeetingSerializer(many=True, help_text="Meetings of the dialogue, oldest first.")
    progress = ProgressReportSerializer(
        many=True, help_text="Progress reported on projects and goals, oldest first."
    )
    results = ResultSerializer(
        many=True,
        help_text="Results of the projects shown, by code, each with its indicators and "
        "their periods.",
    )


class PlanView(ProblemResponseMixin, generics.GenericAPIView):
    """The whole plan."""

    permission_classes = [PlanPermission]
    serializer_class = PlanDocumentSerializer
    pagination_class = None

    @extend_schema(
        operation_id="plan_retrieve",
        summary="Retrieve the whole plan",
        description=(
            "Pillars with their goals and each goal's projects, every agency, the meetings, "
            "the progress reported and the projects' results (with indicators and periods), in one "
            "document: what the caller may see, in the negotiated language (`lang=all` for "
            "both). Carries an ETag; send it in If-None-Match to get a 304 when nothing changed."
        ),
        tags=["plan"],
        parameters=[
            OpenApiParameter("lang", str, enum=["en", "es", "all"], description="Language."),
            *ETAG_PARAMETERS,
        ],
        responses={200: PlanDocumentSerializer, 304: OpenApiResponse(description="Not modified.")},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        check_query_params(request, {"lang", "format"})
        language = negotiate_language(request)
        user = request.user
        etag = plan_etag(request, user, language)
        headers = {
            "ETag": etag,
            "Content-Language": content_language(language),
            "Vary": "Accept-Language",
        }
        if if_none_match_hits(request, etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        response = StreamingHttpResponse(
            plan_document(request, user, language), content_type="application/json"
        )
        for name, value in headers.items():
            response[name] = value
        return response


# -- the validator, from aggregates -----------------------------------------------------------


# Every kind of object the document shows (results with their indicators and periods).
PLAN_MODELS = (
    Pillar,
    Goal,
    Agency,
    Project,
    Meeting,
    ProgressReport,
    Result,
    Indicator,
    IndicatorPeriod,
)


def plan_etag(request: Request, user: Any, language: str) -> str:
    """The document's ETag without rendering it: for each kind of object in it, how many
    the caller sees and the latest `updated_at` among them (one query), with the
    language and the address the links are built on.

    Every write goes through the services, which save the object written (a project's
    agencies, countries and links are written with the project), so any change to what
    the document shows moves a count or a latest `updated_at` of the caller's view;
    another caller's unpublished work does not.
    """
    stamps = [
        (
            model.objects.visible_to(user)
            .order_by()
            .annotate(plan_kind=Value(model.__name__))
            .values("plan_kind")
            .annotate(n=Count("pk"), latest=Max("updated_at"))
            .values_list("plan_kind", "n", "latest")
        )
        for model in PLAN_MODELS
    ]
    rows = sorted(str(row) for row in stamps[0].union(*stamps[1:], all=True).order_by())
    key = "|".join([PLAN_FORMAT, language, request.build_absolute_uri("/"), *rows])
    return f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'


# What the document's shape is; a change to it must change every ETag.
PLAN_FORMAT = "plan-2"

# -- the document, streamed -----------------------------------------------------------------

BATCH = 1000
GOAL_PROJECTS = "\u0000goal-projects:"


def _json(data: Any) -> str:
    # As DRF's JSONRenderer writes it: compact, UTF-8, U+2028/U+2029 escaped.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), cls=JSONEncoder)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def plan_document(request: Request, user: Any, language: str) -> Iterator[bytes]:
    """`{"pillars": [...], "agencies": [...], "meetings": [...], "progress": [...]}`,
    written as it is read: pillars and goals (a few dozen) are serialised whole, each with
    a placeholder where its projects go; the projects are then read in the goals' order
    in batches (`ProjectRows`) and written in their place. Memory holds one batch."""
    context = {"request": request, "language": language, "projects_by_goal": _Placeholders()}
    pillars = list(
        Pillar.objects.visible_to(user).prefetch_related(
            Prefetch("goals", queryset=Goal.objects.visible_to(user).order_by("number"))
        )
    )
    goal_ids = [goal.pk for pillar in pillars for goal in pillar.goals.all()]
    head = _json({"pillars": PlanPillarSerializer(pillars, many=True, context=context).data})
    projects = ProjectRows(request, language).batches(
        Project.objects.visible_to(user)
        .filter(goal_id__in=goal_ids)
        .order_by("goal__pillar__number", "goal__number", "code")
    )
    pending: deque[dict[str, Any]] = deque()
    parts = re.split(rf'"{re.escape(_json(GOAL_PROJECTS)[1:-1])}(\d+)"', head[:-1])
    # The pillars up to the first goal's projects leave before any project is read.
    yield parts[0].encode()
    out: list[str] = []
    for goal_id, text in zip(parts[1::2], parts[2::2], strict=True):
        out.append("[")
        first = True
        while True:
            if not pending:
                pending = deque(next(projects, []))
                if not pending:
                    break
            if pending[0]["goal_id"] != int(goal_id):
                break
            row = pending.popleft()
            out.append(("" if first else ",") + _json(row["data"]))
            first = False
            if len(out) > 200:
                yield "".join(out).encode()
                out = []
        out.append("]" + text)
        yield "".join(out).encode()
        out = []
    agencies = Agency.objects.visible_to(user).select_related("parent")
    meetings = MeetingViewSet.queryset.visible_to(user)
    progress = PROGRESS_QUERYSET.visible_to(user)
    results = RESULT_QUERYSET.visible_to(user).order_by("code")
    for name, serializer, queryset in (
        ("agencies", AgencySerializer, agencies),
        ("meetings", MeetingSerializer, meetings),
        ("progress", ProgressReportSerializer, progress),
        ("results", ResultSerializer, results),
    ):
        data = serializer(queryset, many=True, context=context).data
        yield f',"{name}":{_json(data)}'.encode()
    yield b"}"


class _Placeholders(dict):
    """`projects_by_goal` for the streamed document: each goal's projects are a marker
    that the stream replaces with the projects themselves."""

    def get(self, goal_id: Any, default: Any = None) -> Any:
        return _Marker(goal_id)


class _Marker(list):
    def __init__(self, goal_id: Any) -> None:
        super().__init__()
        self.goal_id = goal_id


class ProjectRows:
    """Projects as ProjectSerializer represents them (without `expand`), built from plain
    rows: a whole plan is a hundred thousand projects, and DRF's serialisers, field by
    field, would take minutes. The suite checks that the plan shows each project exactly
    as the project list does."""

    VALUES = (
        "id",
        "goal_id",
        "code",
        "title_en",
        "title_es",
        "description_en",
        "description_es",
        "status",
        "is_published",
        "goal__code",
        "goal__title_en",
        "goal__title_es",
        "goal__pillar__code",
        "goal__pillar__number",
        "goal__pillar__name_en",
        "goal__pillar__name_es",
        "announced_on",
        "planned_start",
        "planned_end",
        "actual_start",
        "actual_end",
        "budget_amount",
        "budget_currency",
        "created_at",
        "updated_at",
    )

    def __init__(self, request: Request, language: str) -> None:
        self.everything = language == ALL_LANGUAGES
        self.language = DEFAULT_LANGUAGE if self.everything else language
        self.urls = {
            name: reverse(f"{name}-detail", kwargs={"code": "X"}, request=request)[:-2]
            for name in ("project", "goal", "pillar", "agency")
        }

    def text(self, row: Any, base: str) -> str:
        return row.get(f"{base}_{self.language}") or row.get(f"{base}_en") or ""

    def translations(self, row: Any, *bases: str) -> dict[str, dict[str, str]]:
        return {
            lang: {base.rsplit("__", 1)[-1]: row[f"{base}_{lang}"] for base in bases}
            for lang in SUPPORTED_LANGUAGES
        }

    def batches(self, queryset: QuerySet) -> Iterator[list[dict[str, Any]]]:
        rows: list[dict[str, Any]] = []
        for row in queryset.values(*self.VALUES).iterator(chunk_size=BATCH):
            rows.append(row)
            if len(rows) >= BATCH:
                yield self.represent(rows)
                rows = []
        if rows:
            yield self.represent(rows)

    def represent(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [row["id"] for row in rows]
        roles: dict[int, list[dict[str, Any]]] = defaultdict(list)
        agency_values = (
            "project_id",
            "role",
            "is_lead",
            "source",
            "agency__code",
            "agency__acronym",
            "agency__name_en",
            "agency__name_es",
            "agency__country",
        )
        for role in (
            ProjectAgencyRole.objects.filter(project_id__in=ids)
            .order_by("country", "agency__code")
            .values(*agency_values)
        ):
            agency = {
                "code": role["agency__code"],
                "url": f"{self.urls['agency']}{role['agency__code']}/",
                "acronym": role["agency__acronym"],
                "name": self.text(role, "agency__name"),
                "country": role["agency__country"],
            }
            if self.everything:
                agency["translations"] = self.translations(role, "agency__name")
            roles[role["project_id"]].append(
                {
                    "agency": agency,
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
        for link in (
            ProjectLink.objects.filter(project_id__in=ids)
            .order_by("project", "id")
            .values("project_id", "url", "label_en", "label_es")
        ):
            item: dict[str, Any] = {"url": link["url"], "label": self.text(link, "label")}
            if self.everything:
                item["translations"] = self.translations(link, "label")
            links[link["project_id"]].append(item)
        return [
            {
                "goal_id": row["goal_id"],
                "data": self.project(row, countries, roles, links),
            }
            for row in rows
        ]

    def project(self, row: dict[str, Any], countries: Any, roles: Any, links: Any) -> Any:
        goal = {
            "code": row["goal__code"],
            "url": f"{self.urls['goal']}{row['goal__code']}/",
            "title": self.text(row, "goal__title"),
        }
        pillar = {
            "code": row["goal__pillar__code"],
            "url": f"{self.urls['pillar']}{row['goal__pillar__code']}/",
            "number": row["goal__pillar__number"],
            "name": self.text(row, "goal__pillar__name"),
        }
        data: dict[str, Any] = {
            "code": row["code"],
            "url": f"{self.urls['project']}{row['code']}/",
            "title": self.text(row, "title"),
            "description": self.text(row, "description"),
        }
        if self.everything:
            data["translations"] = self.translations(row, "title", "description")
            goal["translations"] = self.translations(row, "goal__title")
            pillar["translations"] = self.translations(row, "goal__pillar__name")
        amount = row["budget_amount"]
        data.update(
            {
                "status": row["status"],
                "is_published": row["is_published"],
                "goal": goal,
                "pillar": pillar,
                "announced_on": _date(row["announced_on"]),
                "planned_start": _date(row["planned_start"]),
                "planned_end": _date(row["planned_end"]),
                "actual_start": _date(row["actual_start"]),
                "actual_end": _date(row["actual_end"]),
                "countries": countries[row["id"]],
                "participating_agencies": roles[row["id"]],
                "budget": None
                if amount is None
                else {
                    "amount": f"{amount.quantize(Decimal('0.01')):f}",
                    "currency": row["budget_currency"],
                },
                "links": links[row["id"]],
                "created_at": _datetime(row["created_at"]),
                "updated_at": _datetime(row["updated_at"]),
            }
        )
        return data


def _date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _datetime(value: datetime | None) -> str | None:
    # As DRF writes ISO 8601 date-times: in the current time zone, UTC as "Z".
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
