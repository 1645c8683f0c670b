"""Visibility and edit rights as queryset methods, so no endpoint can forget them.

The rules themselves live in `workplan.policy`; these methods only apply them.
"""

from __future__ import annotations

from typing import Any, Self

from django.db import models


class PlanQuerySet(models.QuerySet):
    def active(self) -> Self:
        return self.filter(archived_at__isnull=True)

    def archived(self) -> Self:
        return self.filter(archived_at__isnull=False)

    def visible_to(self, who: Any) -> Self:
        """What `who` (a user or a policy Actor) may read; archived objects never."""
        from workplan import policy

        return policy.visible(who, self)

    def editable_by(self, who: Any) -> Self:
        """What `who` may change."""
        from workplan import policy

        return policy.editable(who, self)
