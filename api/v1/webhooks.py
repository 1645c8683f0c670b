"""Webhook subscriptions and their delivery log, for plan admins."""

import json
import re
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import (
    OpenApiResponse,
    OpenApiWebhook,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ProblemResponseMixin, check_query_params
from api.fields import StrictInputMixin
from api.pagination import PagePagination
from api.permissions import PlanPermission, actor_for
from api.v1.changes import ChangeSerializer, TimestampField
from workplan import services
from workplan.models import (
    Agency,
    AuditEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from workplan.policy import Action, Audience
from workplan.webhooks import event_type


class WebhookSubscriptionSerializer(StrictInputMixin, serializers.ModelSerializer):
    """A webhook subscription. The signing secret is shown only when it is created."""

    read_only_names = frozenset({"id", "created_at", "updated_at", "secret"})
    agency = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Agency.objects.active(),
        allow_null=True,
        required=False,
        help_text="Code of the agency whose view to deliver (only what it may see); "
        "null for every change in full.",
    )
    event_types = serializers.ListField(
        child=serializers.CharField(),
        help_text="'<object type>.<action>' (e.g. project.update), 'project.*', or '*'.",
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "agency",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    # The rules for targets and event types live in the model (WebhookSubscription.clean),
    # applied by the service, so the admin and the API refuse the same subscriptions.


class NewWebhookSubscriptionSerializer(WebhookSubscriptionSerializer):
    """A webhook subscription just created, with its signing secret (shown this once)."""

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = [*WebhookSubscriptionSerializer.Meta.read_only_fields, "secret"]


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "status_code", "error", "duration_ms", "succeeded"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    """One event for one subscription and every attempt to deliver it."""

    event_cursor = serializers.CharField(source="event_id", help_text="The change's cursor.")
    log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook_id",
            "event_type",
            "event_cursor",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
            "log",
        ]
        read_only_fields = fields


ADMIN_ONLY = " Plan admins only."


@extend_schema_view(
    list=extend_schema(
        summary="List webhook subscriptions", description="All subscriptions." + ADMIN_ONLY
    ),
    retrieve=extend_schema(
        summary="Retrieve a webhook subscription", description="One subscription." + ADMIN_ONLY
    ),
    create=extend_schema(
        summary="Subscribe to events",
        description=(
            "Creates a subscription. The response carries the signing `secret` this once. "
            "Targets must be http(s) and resolve to public addresses." + ADMIN_ONLY
        ),
        responses={201: NewWebhookSubscriptionSerializer},
    ),
    update=extend_schema(
        summary="Replace a webhook subscription",
        description="Replaces the subscription's settings." + ADMIN_ONLY,
    ),
    partial_update=extend_schema(
        summary="Update a webhook subscription",
        description="Changes the fields sent (e.g. pause it with is_active false)." + ADMIN_ONLY,
    ),
    destroy=extend_schema(
        summary="Delete a webhook subscription",
        description="Stops deliveries and deletes the subscription and its log." + ADMIN_ONLY,
    ),
)
class WebhookSubscriptionViewSet(ProblemResponseMixin, viewsets.ModelViewSet):
    """Webhook subscriptions (plan admins)."""

    queryset = WebhookSubscription.objects.all()
    serializer_class = WebhookSubscriptionSerializer
    permission_classes = [PlanPermission]
    pagination_class = PagePagination
    filter_backends: list[Any] = []
    reads_need_admin = True

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        allowed = {"format"}
        if self.action in ("list", "deliveries"):
            allowed |= PagePagination.query_params
        check_query_params(request, allowed)

    def policy_action(self, request: Request) -> Action:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return Action.VIEW_WEBHOOKS
        return Action.MANAGE_WEBHOOKS

    def perform_create(self, serializer: Any) -> None:
        # Its deliveries take the format of the API version it is made through.
        data = cast(
            services.SubscriptionData,
            {**serializer.validated_data, "api_version": self.request.version},
        )
        serializer.instance = services.webhook_subscription_create(
            actor=actor_for(self.request), data=data
        )

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.webhook_subscription_update(
            actor=actor_for(self.request),
            subscription=serializer.instance,
            data=serializer.validated_data,
        )

    def perform_destroy(self, instance: WebhookSubscription) -> None:
        services.webhook_subscription_delete(actor=actor_for(self.request), subscription=instance)

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return NewWebhookSubscriptionSerializer
        if self.action in ("deliveries", "redeliver"):
            return WebhookDeliverySerializer
        return WebhookSubscriptionSerializer

    def get_success_headers(self, data: Any) -> dict[str, str]:
        # DRF would take the `url` field, which here is the target, not this subscription.
        return {"Location": self.reverse_action("detail", kwargs={"pk": data["id"]})}

    def get_object(self) -> Any:
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if not re.fullmatch(r"[0-9]{1,18}", str(self.kwargs.get("pk", ""))):
            raise NotFound()
        return super().get_object()

    @extend_schema(
        summary="List a subscription's deliveries",
        description="The delivery log, newest first, with every attempt." + ADMIN_ONLY,
        responses={200: WebhookDeliverySerializer(many=True)},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subscription = self.get_object()
        queryset = subscription.deliveries.prefetch_related("log").order_by("-id")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Redeliver an event",
        description=(
            "Sends a delivery again now, with the same webhook-id, and gives it a fresh "
            "retry budget." + ADMIN_ONLY
        ),
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[0-9]+)/redeliver",
    )
    def redeliver(self, request: Request, *args: Any, delivery_id: str, **kwargs: Any) -> Response:
        subscription = self.get_object()
        delivery = subscription.deliveries.filter(pk=int(delivery_id)).first()
        if delivery is None:
            raise NotFound("No such delivery for this subscription.")
        with transaction.atomic():
            services.webhook_delivery_redeliver(actor=actor_for(self.request), delivery=delivery)
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=202)


class EventTypeField(serializers.CharField):
    """What subscriptions choose by: '<object type>.<action>'."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", **kwargs)

    def to_representation(self, event: AuditEvent) -> str:  # type: ignore[override]
        return event_type(event)


class WebhookPayloadSerializer(serializers.Serializer):
    """The body of every webhook request."""

    type = EventTypeField(help_text="'<object type>.<action>', e.g. project.update.")
    timestamp = TimestampField(source="occurred_at", help_text="When the change happened.")
    data = ChangeSerializer(  # type: ignore[assignment]
        source="*", help_text="The change, as the change feed shows it to a plan admin."
    )


def render_webhook_payload(event: AuditEvent, audience: Audience) -> str:
    """The v1 body for an event: the change as the feed shows it to the subscription's
    audience, with URLs on API_PUBLIC_URL; keys sorted, no spaces, UTF-8 as is."""
    context = {"base_url": settings.API_PUBLIC_URL, "audience": audience}
    body = WebhookPayloadSerializer(event, context=context).data
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


plan_changed = OpenApiWebhook(
    name="planChanged",
    decorator=extend_schema(
        summary="A change to the plan",
        description=(
            "Sent to each subscription whose `event_types` match, by the task worker, at "
            "least once: a delivery that does not get a 2xx answer is retried with "
            "exponential backoff for about 27 hours (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, "
            "10 h), always with the same `webhook-id`, which receivers use to drop "
            "duplicates. Signed as the Standard Webhooks specification says: verify "
            "`webhook-signature` (HMAC-SHA256 of `webhook-id.webhook-timestamp.body` with "
            "the subscription's secret) with a Standard Webhooks library."
        ),
        tags=["webhooks"],
        request=WebhookPayloadSerializer,
        responses={
            200: OpenApiResponse(description="Any 2xx: delivered."),
            500: OpenApiResponse(description="Anything else (or no answer): retried later."),
        },
    ),
)
