import base64
import re
import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from .audit import PLAN_ACTIONS, AuditEvent
from .base import TimeStampedModel, plan_types

ACTIONS = PLAN_ACTIONS


def _event_type_pattern() -> re.Pattern[str]:
    types = "|".join(plan_types())
    return re.compile(rf"^(\*|({types})\.(\*|{'|'.join(ACTIONS)}))$")


def check_event_types(value: Any) -> None:
    """A non-empty list of "<object type>.<action>", "<object type>.*" or "*"."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError({"event_types": "Give a non-empty list of event types."})
    pattern = _event_type_pattern()
    wrong = [v for v in value if not pattern.match(v)]
    if wrong:
        raise ValidationError(
            {
                "event_types": f"Unknown event type(s): {', '.join(wrong)}; use "
                f"'<object type>.<action>' with object types {', '.join(plan_types())} and "
                f"actions {', '.join(ACTIONS)}, '<object type>.*', or '*'."
            }
        )


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookSubscription(TimeStampedModel):
    """A partner endpoint told about changes to the plan, signed per Standard Webhooks."""

    url = models.URLField(max_length=500, help_text="http(s) endpoint that receives events.")
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list,
        help_text='Event types wanted, "<object type>.<action>" (e.g. "project.update"); '
        '"project.*" for every action on projects, "*" for everything.',
    )
    agency = models.ForeignKey(
        "workplan.Agency",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhook_subscriptions",
        help_text="Deliver only what this agency may see, as the change feed shows it to "
        "the agency. Empty: every change, in full (for the plan's own systems).",
    )
    secret = models.CharField(
        max_length=100, default=new_webhook_secret, help_text="Signing secret (whsec_...)."
    )
    is_active = models.BooleanField(default=True)
    api_version = models.CharField(
        max_length=10,
        default="v1",
        editable=False,
        help_text="The API version whose format the deliveries use: the one the "
        "subscription was made through.",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        # Every rule at once, so a caller learns all that is wrong in one answer.
        from workplan.webhooks import check_webhook_target

        errors: dict[str, list[str]] = {}
        checks = [lambda: check_webhook_target(self.url)] if self.url else []
        checks.append(lambda: check_event_types(self.event_types))
        for run in checks:
            try:
                run()
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    errors.setdefault(field, []).extend(messages)
        if errors:
            raise ValidationError(errors)

    def wants(self, event_type: str) -> bool:
        object_type = event_type.split(".", 1)[0]
        return any(t in ("*", event_type, f"{object_type}.*") for t in self.event_types)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """One event for one subscription, tried until it is delivered or the retries run out.

    `webhook_id` is the Standard Webhooks message id: the same on every attempt, so a
    receiver can drop duplicates.
    """

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(AuditEvent, on_delete=models.CASCADE, related_name="deliveries")
    webhook_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=40)
    payload = models.TextField(
        help_text="The exact JSON body sent (and signed), as the subscription's API version "
        "rendered it when the change was recorded."
    )
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    leased_until = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Set while a try is running: past it, the try is taken for dead and the "
        "delivery is queued again.",
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="one_delivery_per_event_and_subscription"
            )
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} → {self.subscription}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: the delivery log."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error[:40]}"
