"""Who may call what. Visibility (what exists for a caller) is the queryset's job."""

from typing import Any

from django.conf import settings
from rest_framework import exceptions, permissions

from workplan.access import is_agency_editor, is_plan_admin
from workplan.models import ApiToken, Project, TokenScope


def token_can_write(request: Any) -> bool:
    token = request.auth
    return not isinstance(token, ApiToken) or token.scope == TokenScope.WRITE


class PlanPermission(permissions.BasePermission):
    """Reads: anyone (unless anonymous reading is off). Writes: editors on projects, admins.

    Object-level: a caller may change only objects in `editable_by(user)`; objects it
    cannot see never reach this check (they are a 404).
    """

    message = "Your role does not allow this."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        authenticated = bool(user and user.is_authenticated)
        if request.method in permissions.SAFE_METHODS:
            if not authenticated and not settings.API_ANONYMOUS_READ:
                raise exceptions.NotAuthenticated()
            return True
        if not authenticated:
            raise exceptions.NotAuthenticated()
        if not token_can_write(request):
            raise exceptions.PermissionDenied("This token is read-only.")
        if is_plan_admin(user):
            return True
        if view.admin_only_action(request):
            raise exceptions.PermissionDenied("Only plan admins may do this.")
        if view.queryset.model is Project and is_agency_editor(user):
            return True
        raise exceptions.PermissionDenied("Your role does not allow changes to the plan.")

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        if request.method in permissions.SAFE_METHODS or view.action == "restore":
            return True  # restore is admin-only, checked above
        if not type(obj).objects.editable_by(request.user).filter(pk=obj.pk).exists():
            raise exceptions.PermissionDenied("Your agency does not take part in this project.")
        return True
