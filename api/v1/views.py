from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from api.base import PlanViewSet
from api.filters import (
    AgencyFilterSet,
    GoalFilterSet,
    IndicatorFilterSet,
    IndicatorPeriodFilterSet,
    MeetingFilterSet,
    PillarFilterSet,
    ProgressReportFilterSet,
    ProjectFilterSet,
    ProjectProgressFilterSet,
    ProjectResultFilterSet,
    ResultFilterSet,
)
from api.schema import resource_docs
from workplan.models import (
    Agency,
    Goal,
    Indicator,
    IndicatorPeriod,
    Meeting,
    MeetingChair,
    MeetingProject,
    MeetingSource,
    Pillar,
    ProgressReport,
    Project,
    ProjectAgencyRole,
    Result,
)
from workplan.models.meetings import PUBLIC_LINK

from .progress_extra import ProgressExportMixin
from .projects_extra import ProjectBulkAndExportMixin
from .serializers import (
    AgencyBriefSerializer,
    AgencySerializer,
    AgencyWriteSerializer,
    GoalBriefSerializer,
    GoalSerializer,
    GoalWriteSerializer,
    IndicatorPeriodSerializer,
    IndicatorPeriodWriteSerializer,
    IndicatorSerializer,
    IndicatorWriteSerializer,
    MeetingBriefSerializer,
    MeetingSerializer,
    MeetingWriteSerializer,
    PillarBriefSerializer,
    PillarSerializer,
    PillarWriteSerializer,
    ProgressReportBriefSerializer,
    ProgressReportSerializer,
    ProgressReportWriteSerializer,
    ProjectBriefSerializer,
    ProjectProgressWriteSerializer,
    ProjectResultWriteSerializer,
    ProjectSerializer,
    ProjectWriteSerializer,
    ResultSerializer,
    ResultWriteSerializer,
)

ADMINS = "plan admins"


@extend_schema_view(**resource_docs("pillar", "pillars", writers=ADMINS))
@extend_schema(tags=["pillars"])
class PillarViewSet(PlanViewSet):
    """The four pillars of the work plan, each with its goals."""

    queryset = Pillar.objects.prefetch_related(
        Prefetch("goals", queryset=Goal.objects.active().order_by("number"))
    )
    serializer_class = PillarSerializer
    brief_serializer_class = PillarBriefSerializer
    write_serializer_class = PillarWriteSerializer
    filterset_class = PillarFilterSet


@extend_schema_view(**resource_docs("goal", "goals", writers=ADMINS))
@extend_schema(tags=["goals"])
class GoalViewSet(PlanViewSet):
    """Goals of the plan; each belongs to one pillar."""

    queryset = Goal.objects.select_related("pillar")
    serializer_class = GoalSerializer
    brief_serializer_class = GoalBriefSerializer
    write_serializer_class = GoalWriteSerializer
    filterset_class = GoalFilterSet


@extend_schema_view(**resource_docs("agency", "agencies", writers=ADMINS))
@extend_schema(tags=["agencies"])
class AgencyViewSet(PlanViewSet):
    """Government agencies of Mexico and the United States that take part in the plan."""

    queryset = Agency.objects.select_related("parent")
    serializer_class = AgencySerializer
    brief_serializer_class = AgencyBriefSerializer
    write_serializer_class = AgencyWriteSerializer
    filterset_class = AgencyFilterSet


@extend_schema_view(
    **resource_docs(
        "project",
        "projects",
        writers=(
            "agency editors, for projects their agency takes part in (they cannot publish "
            "or change other agencies' participation), and plan admins"
        ),
    )
)
@extend_schema(tags=["projects"])
class ProjectViewSet(ProjectBulkAndExportMixin, PlanViewSet):
    """Projects that carry the plan out, with their goal, pillar, countries and agencies."""

    queryset = Project.objects.select_related("goal__pillar").prefetch_related(
        Prefetch(
            "agency_roles",
            queryset=ProjectAgencyRole.objects.select_related("agency").order_by(
                "country", "agency__code"
            ),
        ),
        "countries",
        "links",
    )
    serializer_class = ProjectSerializer
    etag_from_rows = True  # goal, pillar, roles with agencies, countries, links: all loaded
    brief_serializer_class = ProjectBriefSerializer
    write_serializer_class = ProjectWriteSerializer
    filtered_actions = frozenset({"list", "export_csv", "export_iati"})
    export_actions = frozenset({"export_csv", "export_iati"})
    filterset_class = ProjectFilterSet


PROGRESS_WRITERS = (
    "agency editors, on projects their agency takes part in, and plan admins (on any "
    "project, and on goals)"
)


@extend_schema_view(**resource_docs("meeting", "meetings", writers=ADMINS))
@extend_schema(tags=["meetings"])
class MeetingViewSet(PlanViewSet):
    """Meetings of the dialogue: ministerial meetings and progress reviews."""

    queryset = Meeting.objects.prefetch_related(
        Prefetch(
            "chairs",
            queryset=MeetingChair.objects.select_related("agency").order_by(
                "country", "agency__code", "person_name"
            ),
        ),
        Prefetch("sources", queryset=MeetingSource.objects.order_by("date", "title")),
        Prefetch(
            "project_links",
            queryset=MeetingProject.objects.filter(PUBLIC_LINK)
            .select_related("project")
            .order_by("project__code"),
            to_attr="public_links",
        ),
    )
    serializer_class = MeetingSerializer
    brief_serializer_class = MeetingBriefSerializer
    write_serializer_class = MeetingWriteSerializer
    filterset_class = MeetingFilterSet


PROGRESS_QUERYSET = ProgressReport.objects.select_related(
    "project__goal__pillar", "goal__pillar", "meeting"
)


@extend_schema_view(**resource_docs("progress report", "progress", writers=PROGRESS_WRITERS))
@extend_schema(tags=["progress"])
class ProgressReportViewSet(ProgressExportMixin, PlanViewSet):
    """Progress reported on projects and goals, each with its source."""

    queryset = PROGRESS_QUERYSET
    serializer_class = ProgressReportSerializer
    brief_serializer_class = ProgressReportBriefSerializer
    write_serializer_class = ProgressReportWriteSerializer
    filterset_class = ProgressReportFilterSet
    filtered_actions = frozenset({"list", "export_csv"})
    export_actions = frozenset({"export_csv"})


PROJECT_CODE = OpenApiParameter(
    "project_code",
    str,
    OpenApiParameter.PATH,
    description="The project's code (case-insensitive), e.g. HLED-2021-01.",
)


class UnderProjectViewSet(PlanViewSet):
    """A list under `/projects/{project_code}/...`: the project in the URL, if the caller
    may see it (else a 404), narrows the list and is where new objects are created."""

    path_error_statuses = frozenset({404})  # the project in the URL
    project: Project | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        code = str(self.kwargs.get("project_code", "")).upper()
        self.project = Project.objects.visible_to(self.actor()).filter(code=code).first()
        if self.project is None:
            raise NotFound("No project with this code is visible to you.")

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        return super().filter_queryset(queryset).filter(project=self.project)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "project": self.project}


@extend_schema_view(
    list=extend_schema(
        operation_id="projects_progress_list",
        summary="List a project's progress reports",
        description=(
            "The progress reported on one project, oldest first, with the same filters as "
            "`/progress/` (less those that place a report in the plan). A project the caller "
            "may not see is a 404."
        ),
        parameters=[PROJECT_CODE],
    ),
    create=extend_schema(
        operation_id="projects_progress_create",
        summary="Report progress on a project",
        description=(
            "Creates a progress report on the project; its code is issued. Allowed for: "
            "agency editors of the agencies taking part in the project, and plan admins. "
            "Send an Idempotency-Key so a retry never creates a duplicate. Unknown and "
            "read-only fields (`project` and `goal` among them) are refused with a 400."
        ),
        parameters=[PROJECT_CODE],
    ),
)
@extend_schema(tags=["progress"])
class ProjectProgressViewSet(UnderProjectViewSet):
    """`/projects/{code}/progress/`: one project's progress reports (list and create).

    Routed with basename `progress`, so created reports are located at `/progress/{code}/`.
    """

    queryset = PROGRESS_QUERYSET
    serializer_class = ProgressReportSerializer
    brief_serializer_class = ProgressReportBriefSerializer
    write_serializer_class = ProjectProgressWriteSerializer
    filterset_class = ProjectProgressFilterSet


# -- results, indicators and periods ------------------------------------------------------

RESULT_WRITERS = (
    "agency editors, on projects their agency takes part in, and plan admins (on any project)"
)
ACTIVE_PERIODS = Prefetch(
    "periods",
    queryset=IndicatorPeriod.objects.active().order_by("code"),
    to_attr="active_periods",
)
ACTIVE_INDICATORS = Prefetch(
    "indicators",
    queryset=Indicator.objects.active().order_by("code").prefetch_related(ACTIVE_PERIODS),
    to_attr="active_indicators",
)
RESULT_QUERYSET = Result.objects.select_related("project").prefetch_related(ACTIVE_INDICATORS)


@extend_schema_view(**resource_docs("result", "results", writers=RESULT_WRITERS))
@extend_schema(tags=["results"])
class ResultViewSet(PlanViewSet):
    """Results projects mean to achieve (IATI `result`), each with its indicators and
    their periods."""

    queryset = RESULT_QUERYSET
    serializer_class = ResultSerializer
    write_serializer_class = ResultWriteSerializer
    filterset_class = ResultFilterSet


@extend_schema_view(
    list=extend_schema(
        operation_id="projects_results_list",
        summary="List a project's results",
        description=(
            "The results of one project, by code, each with its indicators and their "
            "periods. A project the caller may not see is a 404."
        ),
        parameters=[PROJECT_CODE],
    ),
    create=extend_schema(
        operation_id="projects_results_create",
        summary="Add a result to a project",
        description=(
            "Creates a result of the project; its code is issued. Allowed for: agency "
            "editors of the agencies taking part in the project, and plan admins. Send an "
            "Idempotency-Key so a retry never creates a duplicate. Add its indicators at "
            "`/indicators/` and their periods at `/periods/`."
        ),
        parameters=[PROJECT_CODE],
    ),
)
@extend_schema(tags=["results"])
class ProjectResultViewSet(UnderProjectViewSet):
    """`/projects/{code}/results/`: one project's results (list and create).

    Routed with basename `result`, so created results are located at `/results/{code}/`.
    """

    queryset = RESULT_QUERYSET
    serializer_class = ResultSerializer
    write_serializer_class = ProjectResultWriteSerializer
    filterset_class = ProjectResultFilterSet


@extend_schema_view(**resource_docs("indicator", "indicators", writers=RESULT_WRITERS))
@extend_schema(tags=["results"])
class IndicatorViewSet(PlanViewSet):
    """Indicators that measure results (IATI `indicator`), each with its periods. Written
    here with the `result` they measure."""

    queryset = Indicator.objects.select_related("result").prefetch_related(ACTIVE_PERIODS)
    serializer_class = IndicatorSerializer
    write_serializer_class = IndicatorWriteSerializer
    filterset_class = IndicatorFilterSet


@extend_schema_view(**resource_docs("indicator period", "periods", writers=RESULT_WRITERS))
@extend_schema(tags=["results"])
class IndicatorPeriodViewSet(PlanViewSet):
    """Targets and actual values of indicators over periods (IATI `period`). Written here
    with the `indicator` they measure."""

    queryset = IndicatorPeriod.objects.select_related("indicator")
    serializer_class = IndicatorPeriodSerializer
    write_serializer_class = IndicatorPeriodWriteSerializer
    filterset_class = IndicatorPeriodFilterSet
