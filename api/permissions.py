"""The API's gate to `workplan.policy`: which policy action a request is, and the
HTTP status of a refusal. The rules themselves are decided in the policy alone."""

from typing import Any

from rest_framework import exceptions, permissions

from workplan import policy
from workplan.models import ApiToken
from workplan.policy import Action, Actor

# What each viewset action asks of the policy (reads are VIEW).
ACTIONS = {
    "create": Action.CREATE,
    "update": Action.UPDATE,
    "partial_update": Action.UPDATE,
    "destroy": Action.ARCHIVE,
    "restore": Action.RESTORE,
    "bulk": Action.CREATE,
}


def actor_for(request: Any, via: str = "api") -> Actor:
    """The policy's actor for a request: its user, its token, its request id."""
    cached = getattr(request, "_policy_actor", None)
    if cached is not None:
        return cached
    token = getattr(request, "auth", None)
    actor = Actor(
        user=request.user,
        token=token if isinstance(token, ApiToken) else None,
        via=via,
        request_id=getattr(getattr(request, "_request", request), "request_id", ""),
    )
    request._policy_actor = actor
    return actor


def refuse(refusal: policy.NotPermitted) -> exceptions.APIException:
    if refusal.unauthenticated:
        return exceptions.NotAuthenticated()
    return exceptions.PermissionDenied(refusal.message)


class PlanPermission(permissions.BasePermission):
    """Asks the policy about the view's action, on the model and then on the object.

    Objects a caller cannot see never reach the object check: they are a 404.
    """

    message = "Your role does not allow this."

    @staticmethod
    def action_of(request: Any, view: Any) -> Action:
        custom = getattr(view, "policy_action", None)
        if custom is not None:
            return custom(request)
        if request.method in permissions.SAFE_METHODS:
            return Action.VIEW
        return ACTIONS.get(getattr(view, "action", None) or "", Action.UPDATE)

    @staticmethod
    def model_of(view: Any) -> Any:
        queryset = getattr(view, "queryset", None)
        return queryset.model if queryset is not None else None

    def has_permission(self, request: Any, view: Any) -> bool:
        action = self.action_of(request, view)
        refusal = policy.reason(actor_for(request), action, model=self.model_of(view))
        if refusal is not None:
            raise refuse(refusal)
        return True

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        action = self.action_of(request, view)
        if action == Action.VIEW:
            return True  # visibility is the queryset's job (a 404, not a 403)
        refusal = policy.reason(actor_for(request), action, obj)
        if refusal is not None:
            raise refuse(refusal)
        return True
