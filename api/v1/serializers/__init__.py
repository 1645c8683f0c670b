from .agencies import AgencyBriefSerializer, AgencySerializer
from .plan import GoalBriefSerializer, GoalSerializer, PillarBriefSerializer, PillarSerializer
from .projects import ProjectBriefSerializer, ProjectSerializer

__all__ = [
    "AgencyBriefSerializer",
    "AgencySerializer",
    "GoalBriefSerializer",
    "GoalSerializer",
    "PillarBriefSerializer",
    "PillarSerializer",
    "ProjectBriefSerializer",
    "ProjectSerializer",
]
