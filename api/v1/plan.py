"""GET /api/v1/plan/: the whole plan in one JSON document."""

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ETAG_PARAMETERS, ProblemResponseMixin, check_query_params, etag_response
from api.language import negotiate_language
from api.permissions import PlanPermission
from workplan.models import Agency, Goal, Pillar, Project, ProjectAgencyRole

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

    def get_projects(self, goal: Goal) -> list[dict[str, Any]]:
        projects = self.context["projects_by_goal"].get(goal.pk, [])
        return ProjectSerializer(projects, many=True, context=self.context).data  # type: ignore[return-value]


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
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check_query_params(request, {"lang", "format"})
        language = negotiate_language(request)
        user = request.user
        projects = (
            Project.objects.visible_to(user)
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
        projects_by_goal: dict[int, list[Project]] = {}
        for project in projects:
            projects_by_goal.setdefault(project.goal_id, []).append(project)
        pillars = Pillar.objects.visible_to(user).prefetch_related(
            Prefetch("goals", queryset=Goal.objects.visible_to(user).order_by("number"))
        )
        agencies = Agency.objects.visible_to(user).select_related("parent")
        # The same querysets as the resources' own lists, so the plan shows them alike.
        meetings = MeetingViewSet.queryset.visible_to(user)
        progress = PROGRESS_QUERYSET.visible_to(user)
        results = RESULT_QUERYSET.visible_to(user).order_by("code")
        context = {
            "request": request,
            "language": language,
            "projects_by_goal": projects_by_goal,
        }
        data = PlanDocumentSerializer(
            {
                "pillars": pillars,
                "agencies": agencies,
                "meetings": meetings,
                "progress": progress,
                "results": results,
            },
            context=context,
        ).data
        return etag_response(request, language, data)
