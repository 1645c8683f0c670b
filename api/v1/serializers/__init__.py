from .agencies import AgencyBriefSerializer, AgencySerializer, AgencyWriteSerializer
from .plan import (
    GoalBriefSerializer,
    GoalSerializer,
    GoalWriteSerializer,
    PillarBriefSerializer,
    PillarSerializer,
    PillarWriteSerializer,
)
from .projects import ProjectBriefSerializer, ProjectSerializer, ProjectWriteSerializer

__all__ = [
    "AgencyBriefSerializer",
    "AgencySerializer",
    "AgencyWriteSerializer",
    "GoalBriefSerializer",
    "GoalSerializer",
    "GoalWriteSerializer",
    "PillarBriefSerializer",
    "PillarSerializer",
    "PillarWriteSerializer",
    "ProjectBriefSerializer",
    "ProjectSerializer",
    "ProjectWriteSerializer",
]
