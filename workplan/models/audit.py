from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    ARCHIVE = "archive", "Archive"
    RESTORE = "restore", "Restore"
    DELETE = "delete", "Delete"  # records that are not plan objects (webhook subscriptions)


# What can happen to a plan object (the change feed's and webhooks' actions).
PLAN_ACTIONS = ("create", "update", "archive", "restore")


class AuditEvent(models.Model):
    """One change to the plan: who, when, through what, and the fields before and after.

    The id is the change feed's cursor: it only grows.
    """

    occurred_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=10, choices=AuditAction.choices)
    object_type = models.CharField(max_length=20, db_index=True)
    object_id = models.PositiveBigIntegerField()
    object_code = models.CharField(max_length=32, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    username = models.CharField(
        max_length=150, blank=True, help_text="Kept if the user is deleted."
    )
    token = models.ForeignKey(
        "workplan.ApiToken", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    token_prefix = models.CharField(max_length=16, blank=True)
    agency = models.ForeignKey(
        "workplan.Agency",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The agency the actor acted for.",
    )
    via = models.CharField(max_length=10, help_text="api, admin or command")
    request_id = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(
        default=dict, help_text='{"field": {"before": ..., "after": ...}} for each changed field.'
    )
    state = models.JSONField(default=dict, help_text="The object's whole state after the change.")
    # Who may see this event in the change feed: before and after the change.
    public_before = models.BooleanField(default=False)
    public_after = models.BooleanField(default=False)
    agencies_before = models.JSONField(default=list)
    agencies_after = models.JSONField(default=list)
    audience = models.TextField(
        blank=True,
        help_text='"|*|" when public before or after, plus "|<agency code>|" for each agency '
        "that may see it; a text column so the feed can filter on it in any database.",
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["object_type", "object_code"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_type} {self.object_code}"
