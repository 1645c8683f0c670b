"""Projects: their related rows (countries, participating agencies, links) and bulk upsert."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from django.core.exceptions import ValidationError
from django.db import transaction

from workplan import policy
from workplan.models import Agency, Project, ProjectAgencyRole, ProjectCountry, ProjectLink
from workplan.policy import Actor, NotPermitted

from .audit import write_transaction
from .errors import BulkError, PlanRuleError
from .plan_objects import (
    RELATED_WRITERS,
    RelatedWriter,
    plan_object_change,
    plan_object_create,
)
from .results import project_results_upsert


class AgencyRoleSpec(TypedDict):
    """One agency's participation in a project, as a write gives it."""

    agency: Agency
    role: str
    is_lead: NotRequired[bool]
    source: NotRequired[str]


class LinkSpec(TypedDict):
    url: str
    label_en: NotRequired[str]
    label_es: NotRequired[str]


class ProjectData(TypedDict, total=False):
    """What a write may set on a project; absent keys are left as they are."""

    code: str
    goal: Any
    title_en: str
    title_es: str
    description_en: str
    description_es: str
    status: str
    announced_on: Any
    planned_start: Any
    planned_end: Any
    actual_start: Any
    actual_end: Any
    budget_amount: Any
    budget_currency: str
    is_published: bool
    countries: list[str]
    agency_roles: list[AgencyRoleSpec]
    links: list[LinkSpec]


RELATED_FIELDS = ("countries", "agency_roles", "links")


def _role_values(spec: Mapping[str, Any]) -> tuple[str, bool, str]:
    return (spec["role"], bool(spec.get("is_lead", False)), spec.get("source") or "stated")


def agency_roles_check(roles: Sequence[tuple[Agency, bool]]) -> None:
    """Each agency once, and at most one lead agency per country."""
    agencies = [agency.pk for agency, _ in roles]
    if len(agencies) != len(set(agencies)):
        raise ValidationError({"participating_agencies": "An agency can take part only once."})
    lead_countries = [agency.country for agency, is_lead in roles if is_lead]
    if len(lead_countries) != len(set(lead_countries)):
        raise ValidationError(
            {"participating_agencies": "At most one agency leads the project for each country."}
        )


def _participation_errors(
    actor: Actor, data: Mapping[str, Any], project: Project | None
) -> dict[str, str]:
    current = None
    if project is not None:
        current = {
            r.agency_id: (r.role, r.is_lead, r.source)
            for r in ProjectAgencyRole.objects.filter(project=project)
        }
    submitted = None
    if "agency_roles" in data:
        submitted = [(spec["agency"].pk, _role_values(spec)) for spec in data["agency_roles"]]
    codes: dict[int, str] = {}
    if current:
        codes = dict(Agency.objects.filter(pk__in=current).values_list("pk", "code"))
    return policy.participation_errors(
        actor, submitted=submitted, current=current, agency_codes=codes
    )


def _set_countries(project: Project, countries: list[str]) -> None:
    wanted = set(countries)
    ProjectCountry.objects.filter(project=project).exclude(country__in=wanted).delete()
    existing = set(ProjectCountry.objects.filter(project=project).values_list("country", flat=True))
    for country in sorted(wanted - existing):
        row = ProjectCountry(project=project, country=country)
        row.full_clean()
        row.save()


def _set_agency_roles(project: Project, roles: list[AgencyRoleSpec]) -> None:
    # Check the list as a whole first: row by row, a second lead would only surface as
    # a database error.
    agency_roles_check([(spec["agency"], bool(spec.get("is_lead", False))) for spec in roles])
    wanted = {spec["agency"].pk: spec for spec in roles}
    ProjectAgencyRole.objects.filter(project=project).exclude(agency_id__in=wanted).delete()
    # Fresh queries, not the related managers: a caller may have prefetched them.
    existing = {r.agency_id: r for r in ProjectAgencyRole.objects.filter(project=project)}
    # Clear leads first, so moving the lead never trips one-lead-per-country half way.
    for agency_id, row in existing.items():
        if row.is_lead and not wanted[agency_id].get("is_lead", False):
            row.is_lead = False
            row.save()
    for agency_id, spec in wanted.items():
        role, is_lead, source = _role_values(spec)
        values = {"role": role, "is_lead": is_lead, "source": source}
        row = existing.get(agency_id) or ProjectAgencyRole(project=project, agency=spec["agency"])
        if row.pk and all(getattr(row, k) == v for k, v in values.items()):
            continue
        for k, v in values.items():
            setattr(row, k, v)
        row.full_clean(exclude=["country", "project"])
        row.save()
    agency_roles_check(
        [
            (r.agency, r.is_lead)
            for r in ProjectAgencyRole.objects.filter(project=project).select_related("agency")
        ]
    )


def _set_links(project: Project, links: list[LinkSpec]) -> None:
    wanted = {link["url"]: link for link in links}
    ProjectLink.objects.filter(project=project).exclude(url__in=wanted).delete()
    existing = {link.url: link for link in ProjectLink.objects.filter(project=project)}
    for url, spec in wanted.items():
        row = existing.get(url) or ProjectLink(project=project, url=url)
        row.label_en, row.label_es = spec.get("label_en", ""), spec.get("label_es", "")
        row.full_clean(exclude=["project"])
        row.save()


def project_related_set(project: Project, data: Mapping[str, Any]) -> None:
    """Replace the related rows named in `data` (countries, agency roles, links)."""
    if "countries" in data:
        _set_countries(project, data["countries"])
    if "agency_roles" in data:
        _set_agency_roles(project, data["agency_roles"])
    if "links" in data:
        _set_links(project, data["links"])


RELATED_WRITERS[Project] = RelatedWriter(
    fields=RELATED_FIELDS, check=_participation_errors, write=project_related_set
)


# -- bulk ----------------------------------------------------------------------------------------


@dataclass
class BulkItem:
    index: int
    code: str
    existing: Project | None
    data: ProjectData
    # The project's results to upsert with it (workplan.services.results), if any.
    results: list[dict[str, Any]] | None = None


@dataclass
class BulkTargets:
    """What each code of a bulk write is, for this actor."""

    projects: dict[str, Project] = field(default_factory=dict)  # codes it may update
    refused: dict[str, str] = field(default_factory=dict)  # code -> why not


def project_bulk_targets(*, actor: Actor, codes: Sequence[str]) -> BulkTargets:
    """Sort the codes of a bulk write into projects the actor may update, codes it may
    not touch (with the reason), and new codes (in neither). A project the actor cannot
    see is reported as a taken code, never as existing."""
    targets = BulkTargets()
    existing = Project.objects.filter(code__in=codes)
    visible = set(policy.visible(actor, existing).values_list("code", flat=True))
    editable = {p.code: p for p in policy.editable(actor, existing)}
    for code, archived in existing.values_list("code", "archived_at"):
        if archived is not None:
            targets.refused[code] = "This project is archived; a plan admin can restore it."
        elif code in editable:
            targets.projects[code] = editable[code]
        elif code in visible:
            targets.refused[code] = "Your agency does not take part in this project."
        else:
            targets.refused[code] = "This code is already in use."
    return targets


def project_bulk_upsert(
    *, items: list[BulkItem], actor: Actor, commit: bool = True
) -> list[tuple[str, str]]:
    """Create or update many projects in one transaction: all of them, or none.

    Each item goes through the same rules and audit trail as a single write. Returns
    (code, "created" | "updated" | "unchanged") per item; raises BulkError with every
    failing item's error after rolling everything back. With `commit=False` it only
    checks: everything is rolled back either way (so a caller that already found
    other failing items still learns every item's errors).
    """
    results: list[tuple[str, str]] = []
    errors: list[tuple[int, str, Exception]] = []
    with write_transaction():
        for item in items:
            try:
                with transaction.atomic():
                    if item.existing is None:
                        project = plan_object_create(model=Project, data=item.data, actor=actor)
                        state = "created"
                    else:
                        project = item.existing
                        event = plan_object_change(obj=project, data=item.data, actor=actor)
                        state = "updated" if event else "unchanged"
                    if item.results is not None and project_results_upsert(
                        project=project, results=item.results, actor=actor
                    ):
                        state = "created" if state == "created" else "updated"
                    results.append((item.code, state))
            except (ValidationError, PlanRuleError, NotPermitted) as exc:
                errors.append((item.index, item.code, exc))
        if errors or not commit:
            transaction.set_rollback(True)
    if errors:
        raise BulkError(errors)
    return results
