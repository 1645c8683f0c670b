"""GET /api/v1/changes/: the audit trail as a feed partners replay to stay in sync."""

import re
from datetime import UTC, datetime
from typing import Any

from django.urls import reverse
from django.utils.http import urlencode
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ProblemResponseMixin, check_query_params
from api.errors import QueryParameterError
from api.permissions import PlanPermission
from workplan.models import PLAN_ACTIONS, AuditEvent, plan_types
from workplan.policy import Audience

OBJECT_TYPES = plan_types()


class TimestampField(serializers.DateTimeField):
    """UTC, always with microseconds, so the strings sort in time order too."""

    def to_representation(self, value: datetime) -> str:
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class ObjectURLField(serializers.URLField):
    """The changed object's URL in this API version (each plan type is routed under its
    type's name, `<type>-detail`), on the base URL given in the context."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", **kwargs)

    def to_representation(self, event: AuditEvent) -> str:  # type: ignore[override]
        path = reverse(f"v1:{event.object_type}-detail", kwargs={"code": event.object_code})
        return str(self.context["base_url"]).rstrip("/") + path


def _shown(field: serializers.Field, event: AuditEvent) -> bool:
    """Whether the context's audience may see the object as the change left it."""
    audience: Audience = field.context["audience"]
    return audience.sees_after(event)


class VisibleField(serializers.BooleanField):
    """Whether the audience may see the object as the change left it."""

    def get_attribute(self, event: AuditEvent) -> bool:
        return _shown(self, event)


class NewValuesField(serializers.DictField):
    """The new value of each field the change set; nothing when the object is not shown."""

    def get_attribute(self, event: AuditEvent) -> dict[str, Any]:
        if not _shown(self, event):
            return {}
        return {name: change["after"] for name, change in event.changes.items()}


class StateField(serializers.DictField):
    """The object's whole audited state after the change; null when it is not shown."""

    def get_attribute(self, event: AuditEvent) -> dict[str, Any] | None:
        return event.state if _shown(self, event) else None


# Renders an `AuditEvent` for the context's `audience` (a `workplan.policy.Audience`), with
# URLs on its `base_url`. `object` is the whole state after the change, so a replica can
# simply store it; it is null (and `visible` false) when the audience may no longer see
# the object: archived, or unpublished outside its agency. A replica drops such objects.
# (The docstring is the schema's description of the component.)
class ChangeSerializer(serializers.Serializer):
    """One change to the plan."""

    cursor = serializers.CharField(source="pk", help_text="Opaque, increasing: pass it as `after`.")
    occurred_at = TimestampField()
    action = serializers.ChoiceField([(a, a.capitalize()) for a in PLAN_ACTIONS])
    object_type = serializers.ChoiceField([(t, t) for t in OBJECT_TYPES])
    code = serializers.CharField(source="object_code", help_text="The object's public code.")
    url = ObjectURLField(help_text="The object's URL (a 404 once it is archived).")
    agency = serializers.CharField(
        source="agency.code",
        allow_null=True,
        help_text="Code of the agency that made the change; null for staff.",
    )
    visible = VisibleField(
        help_text="False when the caller can no longer see the object (archived, or "
        "unpublished outside its agencies): a replica deletes it."
    )
    changes = NewValuesField(
        child=serializers.JSONField(), help_text="New values of the fields this change set."
    )
    object = StateField(
        child=serializers.JSONField(),
        allow_null=True,
        help_text="The object's whole state after the change (text in both languages, "
        "related objects by code); null when `visible` is false.",
    )


class ChangePageSerializer(serializers.Serializer):
    results = ChangeSerializer(many=True)
    next = serializers.URLField(
        help_text="Where to continue: call it again later to get newer changes."
    )
    has_more = serializers.BooleanField(help_text="True when more changes are waiting now.")


FILTERS = {
    "object_type": OBJECT_TYPES,
    "action": PLAN_ACTIONS,
}


class ChangeFeedView(ProblemResponseMixin, generics.GenericAPIView):
    """The change feed."""

    permission_classes = [PlanPermission]
    serializer_class = ChangeSerializer
    pagination_class = None
    allowed_params = frozenset({"after", "limit", "object_type", "code", "action", "format"})

    def _int(self, request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if not re.fullmatch(r"[0-9]{1,19}", raw) or not low <= int(raw) <= high:
            raise QueryParameterError(
                {name: [f"Must be a whole number from {low} to {high}; got {raw!r}."]}
            )
        return int(raw)

    def _values(self, request: Request, name: str) -> list[str]:
        values = [
            v.strip()
            for raw in request.query_params.getlist(name)
            for v in raw.split(",")
            if v.strip()
        ]
        if name in FILTERS:
            unknown = [v for v in values if v not in FILTERS[name]]
            if unknown:
                choices = ", ".join(FILTERS[name])
                raise QueryParameterError(
                    {name: [f"Unknown value(s): {', '.join(unknown)}; use {choices}."]}
                )
        return values

    @extend_schema(
        operation_id="changes_list",
        summary="List changes since a cursor",
        description=(
            "Every create, update, archive and restore, oldest first, after the cursor "
            "given in `after` (from the start when absent). Keep the `cursor` of the last "
            "change you applied and pass it next time; `next` is that call. Each change "
            "carries the object's whole state, so a replica upserts `object` by "
            "(`object_type`, `code`) and deletes the object when `visible` is false. "
            "Changes to unpublished projects reach only those who may see them."
        ),
        tags=["changes"],
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": 2**62},
                description="Cursor of the last change seen.",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1000},
                description="Changes per call: default 100, at most 1000.",
            ),
            OpenApiParameter(
                "object_type",
                OpenApiTypes.STR,
                many=True,
                explode=True,
                enum=list(OBJECT_TYPES),
                description="Only changes to these kinds of object.",
            ),
            OpenApiParameter(
                "code",
                OpenApiTypes.STR,
                many=True,
                explode=True,
                description="Only changes to objects with these codes.",
            ),
            OpenApiParameter(
                "action",
                OpenApiTypes.STR,
                many=True,
                explode=True,
                enum=list(PLAN_ACTIONS),
                description="Only these actions.",
            ),
        ],
        responses={200: ChangePageSerializer},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check_query_params(request, self.allowed_params)
        after = self._int(request, "after", 0, 0, 2**62)
        limit = self._int(request, "limit", 100, 1, 1000)
        audience = Audience.of(request.user)
        events = audience.events().filter(pk__gt=after)
        if types := self._values(request, "object_type"):
            events = events.filter(object_type__in=types)
        if codes := self._values(request, "code"):
            events = events.filter(object_code__in=[c.upper() for c in codes])
        if actions := self._values(request, "action"):
            events = events.filter(action__in=actions)
        page = list(events.select_related("agency").order_by("pk")[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
        context = {"base_url": request.build_absolute_uri("/"), "audience": audience}
        results = ChangeSerializer(page, many=True, context=context).data
        params = [
            (name, value)
            for name, values in request.query_params.lists()
            if name != "after"
            for value in values
        ]
        cursor = page[-1].pk if page else after
        next_url = request.build_absolute_uri(
            request.path + "?" + urlencode([*params, ("after", str(cursor))])
        )
        return Response({"results": results, "next": next_url, "has_more": has_more})
