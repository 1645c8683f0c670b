"""Visibility and edit rights as queryset methods, so no endpoint can forget them."""

from __future__ import annotations

from typing import Any, Self

from django.db import models
from django.db.models import Q

from workplan.access import agency_id_of, is_agency_editor, is_plan_admin


class PlanQuerySet(models.QuerySet):
    def active(self) -> Self:
        return self.filter(archived_at__isnull=True)

    def archived(self) -> Self:
        return self.filter(archived_at__isnull=False)

    def visible_to(self, user: Any) -> Self:
        """Pillars, goals and agencies are public while they are not archived."""
        return self.active()

    def editable_by(self, user: Any) -> Self:
        """Only plan admins change pillars, goals and agencies."""
        return self.active() if is_plan_admin(user) else self.none()


class ProjectQuerySet(PlanQuerySet):
    def _of_agency(self, agency_id: int) -> Q:
        from workplan.models import ProjectAgencyRole

        return Q(pk__in=ProjectAgencyRole.objects.filter(agency_id=agency_id).values("project"))

    def visible_to(self, user: Any) -> Self:
        """Published projects for everyone; unpublished ones for their agencies and admins."""
        qs = self.active()
        if is_plan_admin(user):
            return qs
        agency_id = agency_id_of(user)
        if agency_id is not None:
            return qs.filter(Q(is_published=True) | self._of_agency(agency_id))
        return qs.filter(is_published=True)

    def editable_by(self, user: Any) -> Self:
        """Admins change every project; an agency editor those its agency takes part in."""
        qs = self.active()
        if is_plan_admin(user):
            return qs
        if is_agency_editor(user):
            agency_id = agency_id_of(user)
            assert agency_id is not None
            return qs.filter(self._of_agency(agency_id))
        return qs.none()
