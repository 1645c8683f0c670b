from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view

from api.base import PlanReadOnlyViewSet
from api.filters import AgencyFilterSet, GoalFilterSet, PillarFilterSet, ProjectFilterSet
from api.schema import list_and_detail
from workplan.models import Agency, Goal, Pillar, Project, ProjectAgencyRole

from .serializers import AgencySerializer, GoalSerializer, PillarSerializer, ProjectSerializer


@extend_schema_view(**list_and_detail("pillar", "pillars"))
@extend_schema(tags=["pillars"])
class PillarViewSet(PlanReadOnlyViewSet):
    """The four pillars of the work plan, each with its goals."""

    queryset = Pillar.objects.prefetch_related(
        Prefetch("goals", queryset=Goal.objects.order_by("number"))
    )
    serializer_class = PillarSerializer
    filterset_class = PillarFilterSet


@extend_schema_view(**list_and_detail("goal", "goals"))
@extend_schema(tags=["goals"])
class GoalViewSet(PlanReadOnlyViewSet):
    """Goals of the plan; each belongs to one pillar."""

    queryset = Goal.objects.select_related("pillar")
    serializer_class = GoalSerializer
    filterset_class = GoalFilterSet


@extend_schema_view(**list_and_detail("agency", "agencies"))
@extend_schema(tags=["agencies"])
class AgencyViewSet(PlanReadOnlyViewSet):
    """Government agencies of Mexico and the United States that take part in the plan."""

    queryset = Agency.objects.select_related("parent")
    serializer_class = AgencySerializer
    filterset_class = AgencyFilterSet


@extend_schema_view(**list_and_detail("project", "projects"))
@extend_schema(tags=["projects"])
class ProjectViewSet(PlanReadOnlyViewSet):
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
    filterset_class = ProjectFilterSet
