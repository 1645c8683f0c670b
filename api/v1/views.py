from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view

from api.base import PlanViewSet
from api.filters import AgencyFilterSet, GoalFilterSet, PillarFilterSet, ProjectFilterSet
from api.schema import resource_docs
from workplan.models import Agency, Goal, Pillar, Project, ProjectAgencyRole

from .projects_extra import ProjectBulkAndExportMixin
from .serializers import (
    AgencySerializer,
    AgencyWriteSerializer,
    GoalSerializer,
    GoalWriteSerializer,
    PillarSerializer,
    PillarWriteSerializer,
    ProjectSerializer,
    ProjectWriteSerializer,
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
    write_serializer_class = PillarWriteSerializer
    filterset_class = PillarFilterSet


@extend_schema_view(**resource_docs("goal", "goals", writers=ADMINS))
@extend_schema(tags=["goals"])
class GoalViewSet(PlanViewSet):
    """Goals of the plan; each belongs to one pillar."""

    queryset = Goal.objects.select_related("pillar")
    serializer_class = GoalSerializer
    write_serializer_class = GoalWriteSerializer
    filterset_class = GoalFilterSet


@extend_schema_view(**resource_docs("agency", "agencies", writers=ADMINS))
@extend_schema(tags=["agencies"])
class AgencyViewSet(PlanViewSet):
    """Government agencies of Mexico and the United States that take part in the plan."""

    queryset = Agency.objects.select_related("parent")
    serializer_class = AgencySerializer
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
    write_serializer_class = ProjectWriteSerializer
    filtered_actions = frozenset({"list", "export_csv", "export_iati"})
    export_actions = frozenset({"export_csv", "export_iati"})
    filterset_class = ProjectFilterSet
