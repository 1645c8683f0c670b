from .access import AgencyMembership, ApiToken, TokenScope
from .agencies import Agency
from .audit import PLAN_ACTIONS, AuditAction, AuditEvent
from .base import PLAN_TYPES, PlanObject, TimeStampedModel, plan_types
from .baselines import ImportBaseline
from .meetings import Meeting, MeetingChair, MeetingProject, MeetingSource
from .plan import Goal, Pillar
from .progress import ProgressReport
from .projects import Project, ProjectAgencyRole, ProjectCountry, ProjectLink
from .results import Indicator, IndicatorPeriod, Result
from .webhooks import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    new_webhook_secret,
)

__all__ = [
    "PLAN_ACTIONS",
    "PLAN_TYPES",
    "plan_types",
    "Agency",
    "AgencyMembership",
    "ApiToken",
    "AuditAction",
    "AuditEvent",
    "Goal",
    "ImportBaseline",
    "Indicator",
    "IndicatorPeriod",
    "Meeting",
    "MeetingChair",
    "MeetingProject",
    "MeetingSource",
    "Pillar",
    "PlanObject",
    "Project",
    "ProjectAgencyRole",
    "ProjectCountry",
    "ProjectLink",
    "ProgressReport",
    "Result",
    "TimeStampedModel",
    "TokenScope",
    "DeliveryStatus",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "new_webhook_secret",
]
