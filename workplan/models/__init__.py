from .agencies import Agency
from .base import TimeStampedModel
from .plan import Goal, Pillar
from .projects import Project, ProjectAgencyRole, ProjectCountry, ProjectLink

__all__ = [
    "Agency",
    "Goal",
    "Pillar",
    "Project",
    "ProjectAgencyRole",
    "ProjectCountry",
    "ProjectLink",
    "TimeStampedModel",
]
