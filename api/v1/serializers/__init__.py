from .agencies import AgencyBriefSerializer, AgencySerializer, AgencyWriteSerializer
from .meetings import MeetingBriefSerializer, MeetingSerializer, MeetingWriteSerializer
from .plan import (
    GoalBriefSerializer,
    GoalSerializer,
    GoalWriteSerializer,
    PillarBriefSerializer,
    PillarSerializer,
    PillarWriteSerializer,
)
from .progress import (
    ProgressReportBriefSerializer,
    ProgressReportSerializer,
    ProgressReportWriteSerializer,
    ProjectProgressWriteSerializer,
)
from .projects import ProjectBriefSerializer, ProjectSerializer, ProjectWriteSerializer

__all__ = [
    "AgencyBriefSerializer",
    "AgencySerializer",
    "AgencyWriteSerializer",
    "GoalBriefSerializer",
    "GoalSerializer",
    "GoalWriteSerializer",
    "MeetingBriefSerializer",
    "MeetingSerializer",
    "MeetingWriteSerializer",
    "PillarBriefSerializer",
    "PillarSerializer",
    "PillarWriteSerializer",
    "ProgressReportBriefSerializer",
    "ProgressReportSerializer",
    "ProgressReportWriteSerializer",
    "ProjectProgressWriteSerializer",
    "ProjectBriefSerializer",
    "ProjectSerializer",
    "ProjectWriteSerializer",
]
