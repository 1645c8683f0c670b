"""Webhook subscriptions: managed by plan admins, checked here, audited."""

from __future__ import annotations

from typing import Any, TypedDict

from workplan.models import Agency, AuditAction, WebhookDelivery, WebhookSubscription
from workplan.policy import Action, Actor, check

from .audit import audit_record, write_transaction


class SubscriptionData(TypedDict, total=False):
    url: str
    description: str
    event_types: list[str]
    agency: Agency | None
    is_active: bool
    api_version: str  # set by the API version that creates the subscription


def _subscription_state(subscription: WebhookSubscription) -> dict[str, Any]:
    # Never the secret: the audit trail is readable by more people than the secret is.
    return {
        "url": subscription.url,
        "description": subscription.description,
        "event_types": list(subscription.event_types),
        "agency": subscription.agency.code if subscription.agency else None,
        "is_active": subscription.is_active,
    }


def _apply(subscription: WebhookSubscription, data: SubscriptionData) -> None:
    for name, value in data.items():
        setattr(subscription, name, value)
    if "event_types" in data:
        subscription.event_types = sorted(set(data["event_types"]))
    # The model's clean() holds the rules: event types, and a target that is http(s)
    # on a public address (so the API and the admin refuse the same URLs).
    subscription.full_clean(exclude=["secret"])


def webhook_subscription_create(*, actor: Actor, data: SubscriptionData) -> WebhookSubscription:
    with write_transaction():
        check(actor, Action.MANAGE_WEBHOOKS)
        subscription = WebhookSubscription()
        _apply(subscription, data)
        subscription.save()
        audit_record(
            action=AuditAction.CREATE,
            obj=subscription,
            actor=actor,
            before={},
            after=_subscription_state(subscription),
        )
    return subscription


def webhook_subscription_update(
    *, actor: Actor, subscription: WebhookSubscription, data: SubscriptionData
) -> WebhookSubscription:
    with write_transaction():
        check(actor, Action.MANAGE_WEBHOOKS)
        before = _subscription_state(subscription)
        _apply(subscription, data)
        subscription.save()
        audit_record(
            action=AuditAction.UPDATE,
            obj=subscription,
            actor=actor,
            before=before,
            after=_subscription_state(subscription),
        )
    return subscription


def webhook_subscription_delete(*, actor: Actor, subscription: WebhookSubscription) -> None:
    """Stop deliveries and delete the subscription with its delivery log."""
    with write_transaction():
        check(actor, Action.MANAGE_WEBHOOKS)
        before = _subscription_state(subscription)
        audit_record(
            action=AuditAction.DELETE,
            obj=subscription,
            actor=actor,
            before=before,
            after=dict.fromkeys(before) | {"deleted": True},
        )
        subscription.delete()


def webhook_delivery_redeliver(*, actor: Actor, delivery: WebhookDelivery) -> None:
    """Send a delivery again now (same webhook-id), with a fresh retry budget."""
    from workplan.webhooks import webhook_redeliver

    check(actor, Action.MANAGE_WEBHOOKS)
    webhook_redeliver(delivery=delivery)
