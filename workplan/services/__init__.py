"""Business rules of the work plan: the one write path of every channel.

The API (single and bulk), the admin and the commands all write through these
functions, split by concern as the HackSoft styleguide does. Each asks
`workplan.policy` itself, compares versions, and records the audit event.
"""

from workplan.policy import SYSTEM, Actor, NotPermitted

from .audit import WRITE_LOCK_KEY, audit_record, diff, snapshot, write_transaction
from .errors import BulkError, PlanRuleError, VersionMismatch
from .importing import ImportResult, plan_import
from .meetings import ChairSpec, MeetingProjectSpec, SourceSpec
from .plan_objects import (
    plan_object_archive,
    plan_object_change,
    plan_object_create,
    plan_object_restore,
    plan_object_update,
)
from .projects import (
    AgencyRoleSpec,
    BulkItem,
    BulkTargets,
    LinkSpec,
    ProjectData,
    agency_roles_check,
    project_bulk_targets,
    project_bulk_upsert,
)
from .tokens import (
    agency_membership_remove,
    agency_membership_set,
    api_token_create,
    api_token_issue,
    api_token_rename,
    api_token_revoke,
    partner_user_set,
)
from .webhooks import (
    SubscriptionData,
    webhook_delivery_redeliver,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_update,
)

__all__ = [
    "SYSTEM",
    "WRITE_LOCK_KEY",
    "Actor",
    "AgencyRoleSpec",
    "BulkError",
    "BulkItem",
    "ChairSpec",
    "MeetingProjectSpec",
    "SourceSpec",
    "BulkTargets",
    "ImportResult",
    "LinkSpec",
    "NotPermitted",
    "PlanRuleError",
    "ProjectData",
    "SubscriptionData",
    "VersionMismatch",
    "agency_membership_remove",
    "agency_membership_set",
    "agency_roles_check",
    "api_token_create",
    "api_token_issue",
    "api_token_rename",
    "api_token_revoke",
    "audit_record",
    "diff",
    "partner_user_set",
    "plan_import",
    "plan_object_archive",
    "plan_object_change",
    "plan_object_create",
    "plan_object_restore",
    "plan_object_update",
    "project_bulk_targets",
    "project_bulk_upsert",
    "snapshot",
    "webhook_delivery_redeliver",
    "webhook_subscription_create",
    "webhook_subscription_delete",
    "webhook_subscription_update",
    "write_transaction",
]
