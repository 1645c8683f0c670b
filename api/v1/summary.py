"""GET /api/v1/summary/: the numbers partners ask for, computed in the database.

Every number is of what the caller may see (`policy.visible`), narrowed by the project
list's own filters (`ProjectFilterSet`, applied by the same filter backend as
`/projects/`), so a partner can recompute each one from the list endpoints. Each section
is one function of the selection: an aggregate query with GROUP BY, never a loop over rows.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, QuerySet, Window
from django.db.models.functions import Coalesce, RowNumber
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ETAG_PARAMETERS, ProblemResponseMixin, check_query_params, etag_response
from api.filters import ProjectFilterSet
from api.language import ALL_LANGUAGES, negotiate_language
from api.permissions import PlanPermission, actor_for
from workplan.choices import AssignmentSource, SourceKind
from workplan.codelists import REGISTRY
from workplan.models import (
    Indicator,
    ProgressReport,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
)
from workplan.models.base import SUPPORTED_LANGUAGES
from workplan.policy import visible


class SummaryFilterSet(ProjectFilterSet):
    """The project list's filters, less its ordering (a summary has no order to choose)."""


del SummaryFilterSet.base_filters["ordering"]
FILTER_PARAMS = frozenset(SummaryFilterSet.base_filters)
# Filters that say something only a project has: reports on goals do not match them.
PROJECT_ONLY_FILTERS = FILTER_PARAMS - {"pillar", "goal"}


@dataclass(frozen=True)
class Selection:
    """What a summary counts: the caller's visible projects the filters select."""

    request: Request
    language: str
    projects: QuerySet  # Project rows, one per project (no join multiplicity)
    narrowed_to_projects: bool  # a project-only filter was given

    def name(self, row: dict[str, Any], en: str, es: str, key: str = "name") -> dict[str, Any]:
        """`key` in the negotiated language; with `lang=all`, English plus `translations`."""
        out = {key: row[es] if self.language == "es" else row[en]}
        if self.language == ALL_LANGUAGES:
            out["translations"] = {lang: {key: row[f"{en[:-3]}_{lang}"]} for lang in ("en", "es")}
        return out

    def label(self, codelist: str, code: str, key: str = "name") -> dict[str, Any]:
        """The name of `code` in `codelist`, as `name` does it."""
        names = {lang: REGISTRY[codelist].label(code, lang) for lang in SUPPORTED_LANGUAGES}
        return self.name({"n_en": names["en"], "n_es": names["es"]}, "n_en", "n_es", key)


def _counted(selection: Selection, rows: Iterable[dict[str, Any]], codelist: str) -> list:
    """Rows of codes with their names from `codelist`."""
    return [
        {"code": row["code"], **selection.label(codelist, row["code"]), "count": row["count"]}
        for row in rows
    ]


def _grouped(queryset: QuerySet, fields: dict[str, str], counted: str, *order: str) -> list:
    """Rows of `fields` (output name -> lookup) with how many distinct `counted`."""
    rows = (
        queryset.values(*fields.values())
        .annotate(count=Count(counted, distinct=True))
        .order_by(*order)
    )
    return [
        {**{out: row[path] for out, path in fields.items()}, "count": row["count"]} for row in rows
    ]


def projects_section(selection: Selection) -> dict[str, Any]:
    projects = selection.projects
    ids = projects.values("pk")
    named = selection.name
    pillar = {"code": "goal__pillar__code", "name_en": "goal__pillar__name_en"}
    pillar["name_es"] = "goal__pillar__name_es"
    by_pillar = _grouped(projects, pillar, "pk", "goal__pillar__number")
    goal = {"code": "goal__code", "pillar": "goal__pillar__code", "title_en": "goal__title_en"}
    goal["title_es"] = "goal__title_es"
    by_goal = _grouped(projects, goal, "pk", "goal__pillar__number", "goal__number")
    agency = {
        "code": "agency__code",
        "acronym": "agency__acronym",
        "country": "agency__country",
        "name_en": "agency__name_en",
        "name_es": "agency__name_es",
    }
    roles = ProjectAgencyRole.objects.filter(project__in=ids)
    by_agency = _grouped(roles, agency, "project", "agency__code")
    countries = ProjectCountry.objects.filter(project__in=ids)
    by_country = _grouped(countries, {"code": "country"}, "project", "country")
    by_status = _grouped(projects, {"code": "status"}, "pk", "status")
    return {
        "count": sum(row["count"] for row in by_status),
        "by_pillar": [
            {"code": r["code"], **named(r, "name_en", "name_es"), "count": r["count"]}
            for r in by_pillar
        ],
        "by_goal": [
            {
                "code": r["code"],
                "pillar": r["pillar"],
                **named(r, "title_en", "title_es", "title"),
                "count": r["count"],
            }
            for r in by_goal
        ],
        "by_agency": [
            {
                **{key: r[key] for key in ("code", "acronym", "country")},
                **named(r, "name_en", "name_es"),
                "count": r["count"],
            }
            for r in by_agency
        ],
        "by_country": _counted(selection, by_country, "country"),
        "by_status": _counted(selection, by_status, "activity-status"),
    }


def progress_reports(selection: Selection) -> QuerySet:
    """Reports on the selected projects; reports on goals too, in the selected pillars and
    goals, unless a filter only a project can match (agency, country, status, q, ...) was
    given."""
    reports = visible(actor_for(selection.request), ProgressReport.objects.all())
    on_projects = Q(project__in=selection.projects.values("pk"))
    if selection.narrowed_to_projects:
        return reports.filter(on_projects)
    on_goals = Q(project__isnull=True)
    params = selection.request.query_params
    for name, path in (("pillar", "goal__pillar"), ("goal", "goal")):
        if name in params:
            # The same FilterSet reads the codes (any case, repeated or comma-separated).
            form = SummaryFilterSet(params, queryset=Project.objects.none()).form
            form.is_valid()
            codes = form.cleaned_data.get(name) or []
            on_goals &= Q(**{f"{path}__code__in": codes})
    return reports.filter(on_projects | on_goals)


def latest_progress_section(selection: Selection) -> list[dict[str, Any]]:
    """The latest report in each pillar (by date, then code): one windowed query."""
    pillar = Coalesce("project__goal__pillar", "goal__pillar")
    rows = (
        progress_reports(selection)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[pillar],
                order_by=[F("date").desc(), F("code").desc()],
            )
        )
        .filter(rank=1)
        .values(
            "code",
            "date",
            "source_kind",
            "source_title",
            "source_publisher",
            "source_date",
            "source_url",
            project_code=F("project__code"),
            goal_code=Coalesce("project__goal__code", "goal__code"),
            pillar_code=Coalesce("project__goal__pillar__code", "goal__pillar__code"),
            pillar_number=Coalesce("project__goal__pillar__number", "goal__pillar__number"),
        )
    )
    return [
        {
            "pillar": r["pillar_code"],
            "code": r["code"],
            "date": r["date"].isoformat(),
            "project": r["project_code"],
            "goal": r["goal_code"],
            "source": {
                "kind": r["source_kind"],
                **selection.label("source-kind", r["source_kind"], "kind_name"),
                "title": r["source_title"],
                "publisher": r["source_publisher"],
                "date": r["source_date"].isoformat() if r["source_date"] else None,
                "url": r["source_url"],
            },
        }
        for r in sorted(rows, key=lambda r: r["pillar_number"])
    ]


def _by_kind(selection: Selection, queryset: QuerySet, field: str, choices: Any, codelist: str):
    counts = queryset.aggregate(
        **{value: Count("pk", filter=Q(**{field: value})) for value in choices.values}
    )
    return [
        {"code": value, **selection.label(codelist, value), "count": counts[value]}
        for value in choices.values
    ]


def facts_section(selection: Selection) -> dict[str, Any]:
    """How much of what is shown was stated by the governments, and how much was entered
    by an agency or inferred."""
    roles = ProjectAgencyRole.objects.filter(project__in=selection.projects.values("pk"))
    return {
        "progress_reports": _by_kind(
            selection, progress_reports(selection), "source_kind", SourceKind, "source-kind"
        ),
        "agency_roles": _by_kind(selection, roles, "source", AssignmentSource, "assignment-source"),
    }


def indicators_section(selection: Selection) -> dict[str, int]:
    """Indicators of the selected projects' results: how many, how many have a target
    (a period with a target value), and of those whether the latest such period's actual
    reached it (`Indicator.objects.with_met`: at least the target when ascending, at most
    when not), did not, or has no actual yet. One aggregate query."""
    indicators = (
        visible(actor_for(selection.request), Indicator.objects.all())
        .filter(result__project__in=selection.projects.values("pk"))
        .with_met()
    )
    # GROUP BY whether a target was found and whether it was met: at most four rows.
    rows = (
        indicators.annotate(
            targeted=ExpressionWrapper(Q(latest_target__isnull=False), BooleanField())
        )
        .values("targeted", "met")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = dict.fromkeys(("count", "with_target", "met", "not_met", "awaiting_actual"), 0)
    for row in rows:
        counts["count"] += row["n"]
        if row["targeted"]:
            counts["with_target"] += row["n"]
            outcome = {True: "met", False: "not_met", None: "awaiting_actual"}[row["met"]]
            counts[outcome] += row["n"]
    return counts


# Each section of the summary: its key and the function that computes it. A section
# whose data the plan does not hold is simply not listed.
SECTIONS: dict[str, Callable[[Selection], Any]] = {
    "projects": projects_section,
    "latest_progress": latest_progress_section,
    "facts": facts_section,
    "indicators": indicators_section,
}


# -- the documented shape ------------------------------------------------------------------
def _named(name: str = "name") -> dict[str, serializers.Field]:
    return {
        name: serializers.CharField(help_text="In the negotiated language."),
        "translations": serializers.DictField(
            child=serializers.DictField(child=serializers.CharField()),
            required=False,
            help_text="The name in each language, keyed by language tag; only with `lang=all`.",
        ),
    }


def _serializer(
    class_name: str, doc: str, /, **fields: serializers.Field
) -> type[serializers.Serializer]:
    return type(class_name, (serializers.Serializer,), {"__doc__": doc, **fields})


CodeCount = _serializer(
    "SummaryCodeCount",
    "A code, its name and how many.",
    code=serializers.CharField(),
    **_named(),
    count=serializers.IntegerField(min_value=0),
)
GoalCount = _serializer(
    "SummaryGoalCount",
    "A goal, its pillar and how many projects carry it out.",
    code=serializers.CharField(),
    pillar=serializers.CharField(help_text="The pillar's code."),
    **_named("title"),
    count=serializers.IntegerField(min_value=0),
)
AgencyCount = _serializer(
    "SummaryAgencyCount",
    "An agency and how many selected projects it takes part in.",
    code=serializers.CharField(),
    acronym=serializers.CharField(),
    country=serializers.CharField(help_text="ISO 3166-1 alpha-2 code."),
    **_named(),
    count=serializers.IntegerField(min_value=0),
)
ProjectCounts = _serializer(
    "SummaryProjects",
    "How many projects are selected, and how they divide.",
    count=serializers.IntegerField(min_value=0),
    by_pillar=CodeCount(many=True),
    by_goal=GoalCount(many=True),
    by_agency=AgencyCount(many=True),
    by_country=CodeCount(many=True, help_text="Projects per country they take place in."),
    by_status=CodeCount(many=True, help_text="Projects per IATI ActivityStatus."),
)
LatestSource = _serializer(
    "SummarySource",
    "The source of a report.",
    kind=serializers.CharField(help_text="`stated` or `entered`."),
    **_named("kind_name"),
    title=serializers.CharField(),
    publisher=serializers.CharField(),
    date=serializers.DateField(allow_null=True),
    url=serializers.CharField(),
)
LatestProgress = _serializer(
    "SummaryLatestProgress",
    "The latest progress report in a pillar.",
    pillar=serializers.CharField(help_text="The pillar's code."),
    code=serializers.CharField(help_text="The report's code."),
    date=serializers.DateField(),
    project=serializers.CharField(allow_null=True, help_text="Null for a report on a goal."),
    goal=serializers.CharField(help_text="The goal reported on, or the project's goal."),
    source=LatestSource(),
)
Facts = _serializer(
    "SummaryFacts",
    "Stated against entered or inferred facts.",
    progress_reports=CodeCount(
        many=True, help_text="Reports by source kind: `stated` by a government, or `entered`."
    ),
    agency_roles=CodeCount(
        many=True,
        help_text="Participations: `stated` in the published plan, or `inferred` from remits.",
    ),
)
IndicatorCounts = _serializer(
    "SummaryIndicators",
    "Indicators of the selected projects' results, and how many met their target.",
    count=serializers.IntegerField(min_value=0, help_text="Indicators in all."),
    with_target=serializers.IntegerField(
        min_value=0, help_text="Indicators with a period that has a target value."
    ),
    met=serializers.IntegerField(
        min_value=0,
        help_text=(
            "Of those, how many reached the target of their latest period with one (by end, "
            "then start date): at least the target when `ascending`, at most when not."
        ),
    ),
    not_met=serializers.IntegerField(min_value=0, help_text="Of those, how many did not."),
    awaiting_actual=serializers.IntegerField(
        min_value=0, help_text="Of those, how many have no actual value for it yet."
    ),
)
SummarySerializer = _serializer(
    "Summary",
    "The summary of what the caller may see.",
    projects=ProjectCounts(),
    latest_progress=LatestProgress(many=True),
    facts=Facts(),
    indicators=IndicatorCounts(),
)


class SummaryView(ProblemResponseMixin, generics.GenericAPIView):
    """Roll-ups of the plan."""

    permission_classes = [PlanPermission]
    serializer_class = SummarySerializer
    pagination_class = None
    filter_backends = [DjangoFilterBackend]
    filterset_class = SummaryFilterSet
    queryset = Project.objects.all()

    @extend_schema(
        operation_id="summary_retrieve",
        summary="Summarise the plan",
        description=(
            "Projects per pillar, goal, agency, country and status; the latest progress "
            "report in each pillar; indicators with a target and how many met it; and how "
            "many facts the governments stated against those "
            "entered by an agency or inferred. Of what the caller may see, so an agency's "
            "token counts its unpublished projects too; narrowed by the filters of "
            "`/projects/`. Progress counts reports on the selected projects, and reports on "
            "goals of the selected pillars and goals unless a filter only a project can match "
            "(`agency`, `country`, `status`, `q`, `updated_since`) is given. Carries an ETag."
        ),
        tags=["summary"],
        parameters=[
            OpenApiParameter("lang", str, enum=["en", "es", "all"], description="Language."),
            *ETAG_PARAMETERS,
        ],
        filters=True,
        responses={200: SummarySerializer, 304: OpenApiResponse(description="Not modified.")},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check_query_params(request, FILTER_PARAMS | {"lang", "format"})
        language = negotiate_language(request)
        projects = self.filter_queryset(visible(actor_for(request), Project.objects.all()))
        selection = Selection(
            request=request,
            language=language,
            # One row per project whatever the filters joined (countries do).
            projects=Project.objects.filter(pk__in=projects.values("pk")),
            narrowed_to_projects=bool(PROJECT_ONLY_FILTERS & set(request.query_params)),
        )
        data = {key: section(selection) for key, section in SECTIONS.items()}
        return etag_response(request, language, data)
