"""The Django admin for staff: every save goes through the services, under the policy.

Staff act under the same role as their API tokens (`workplan.policy`): an agency editor
who is staff edits only its agency's projects here too. A change form carries the
version it was read at; saving over a newer version writes nothing and says so.
"""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from workplan import policy, services
from workplan.models import (
    Agency,
    AgencyMembership,
    ApiToken,
    AuditEvent,
    Goal,
    Indicator,
    IndicatorPeriod,
    Meeting,
    MeetingChair,
    MeetingProject,
    MeetingSource,
    Pillar,
    PlanObject,
    ProgressReport,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
    Result,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from workplan.policy import Action

TIMESTAMPS = ("version", "created_at", "updated_at", "archived_at")
REFUSALS = (
    ValidationError,
    policy.NotPermitted,
    services.PlanRuleError,
    services.VersionMismatch,
)


def admin_actor(request: HttpRequest) -> services.Actor:
    return services.Actor(
        user=request.user, via="admin", request_id=getattr(request, "request_id", "")
    )


def refusal_errors(exc: Exception) -> dict[str | None, list[str]]:
    """A service's refusal as form errors: {field or None: [messages]}."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return {
            (None if name == "__all__" else name): list(messages_)
            for name, messages_ in exc.message_dict.items()
        }
    if isinstance(exc, ValidationError):
        return {None: list(exc.messages)}
    if isinstance(exc, policy.NotPermitted):
        return {None: [exc.message]}
    return {None: [str(exc)]}


class Refused(Exception):
    """A service refused the save: the change form is shown again with the reasons."""

    def __init__(self, errors: dict[str | None, list[str]]) -> None:
        super().__init__("refused")
        self.errors = errors


class ReadOnly:
    """Shown here, never written here: no add, change or delete (the audit trail, the
    delivery log, a pillar's goals, which are edited on their own pages)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ServiceAdmin(admin.ModelAdmin):
    """Saves through a service. When the service refuses (rights, rules, a newer
    version), the transaction rolls back and the form comes back with the staff
    member's input and the reasons, so nothing they typed is silently lost."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except Refused as refused:
            if getattr(request, "_service_refusal", None) is not None:
                raise
            # Django's changeform_view ran in a transaction: the refusal rolled it back.
            request._service_refusal = refused.errors  # type: ignore[attr-defined]
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)

        class RefusalForm(form):  # type: ignore[misc,valid-type]
            def clean(self) -> Any:
                cleaned = super().clean()
                for name, messages_ in (getattr(request, "_service_refusal", None) or {}).items():
                    field = name if name in self.fields else None
                    prefix = "" if field or name is None else f"{name}: "
                    self.add_error(field, [prefix + m for m in messages_])
                return cleaned

        return RefusalForm

    def run_service(self, call: Any) -> Any:
        try:
            return call()
        except REFUSALS as exc:
            raise Refused(refusal_errors(exc)) from exc


class ArchivedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("archived", "Archived")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "active":
            return queryset.filter(archived_at__isnull=True)
        if self.value() == "archived":
            return queryset.filter(archived_at__isnull=False)
        return queryset


class PlanObjectForm(forms.ModelForm):
    """Carries the version the object was read at, and refuses to save over a newer one."""

    loaded_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["loaded_version"].initial = self.instance.version

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        instance = self.instance
        if instance.pk:
            current = (
                type(instance)
                ._default_manager.values_list("version", flat=True)
                .get(pk=instance.pk)
            )
            if cleaned.get("loaded_version") != current:
                raise ValidationError(stale_message(instance, current))
        return cleaned


def stale_message(obj: PlanObject, current: int) -> str:
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html(
        "{} {} was changed by someone else since you opened this page (it is now at version "
        '{}): nothing was saved. <a href="{}">Reload it</a> to see the current values, then '
        "make your change again.",
        str(opts.verbose_name).capitalize(),
        obj.code,
        current,
        url,
    )


class PlanObjectAdmin(ServiceAdmin):
    """Plan objects: saved through the services with the version the form was read at,
    audited, archived and restored, never deleted; rights from the policy."""

    form = PlanObjectForm
    readonly_fields = TIMESTAMPS
    actions = ["archive_selected", "restore_selected"]

    # -- rights: the policy's, for staff as for API callers -------------------------------
    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_staff and admin_actor(request).role)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return policy.can(admin_actor(request), Action.CREATE, model=self.model)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        actor = admin_actor(request)
        if obj is None:
            return policy.can(actor, Action.UPDATE, model=self.model)
        if obj.archived_at is not None:
            return False
        return policy.can(actor, Action.UPDATE, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # The actions are offered to those who may archive (restore) some object of the model;
    # the service still decides for each selected object.
    def has_archive_permission(self, request: HttpRequest) -> bool:
        return policy.can(admin_actor(request), Action.ARCHIVE, model=self.model)

    def has_restore_permission(self, request: HttpRequest) -> bool:
        return policy.can(admin_actor(request), Action.RESTORE, model=self.model)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        actor = admin_actor(request)
        return policy.visible(actor, super().get_queryset(request), include_archived=actor.is_admin)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields: tuple[str, ...] = TIMESTAMPS
        if obj is not None:
            fields = (*fields, "code")  # a code is never changed once it is issued
        published = self.model.published_field
        # A flag reached through a parent (`project__is_published`) is the parent's to set.
        if (
            published
            and "__" not in published
            and not policy.can(admin_actor(request), Action.PUBLISH, model=self.model)
        ):
            fields = (*fields, published)
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        name, options = fieldsets[0]
        if "loaded_version" not in options["fields"]:
            options = {**options, "fields": (*options["fields"], "loaded_version")}
            fieldsets[0] = (name, options)
        return fieldsets

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # Autocomplete offers only active objects: nothing new may hang off an archived one.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.path.endswith("/autocomplete/"):
            queryset = queryset.filter(archived_at__isnull=True)
        return queryset, may_have_duplicates

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if issubclass(db_field.related_model, PlanObject):
            kwargs["queryset"] = db_field.related_model._default_manager.filter(
                archived_at__isnull=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # -- saving: one service call with the fields and the inlines --------------------------
    def save_model(self, request: HttpRequest, obj: PlanObject, form: Any, change: bool) -> None:
        """Nothing here: save_related writes the object and its inlines in one service call."""

    def related_data(self, formsets: list[Any]) -> dict[str, Any]:
        """The inlines' rows as the service takes them (kinds with related rows say how)."""
        return {}

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        model_fields = {f.name for f in self.model._meta.get_fields()}
        data = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in model_fields and name in form.cleaned_data
        }
        data |= self.related_data(formsets)
        actor = admin_actor(request)
        obj = form.instance
        if change:
            fresh = self.model._default_manager.get(pk=obj.pk)
            self.run_service(
                lambda: services.plan_object_change(
                    obj=fresh,
                    data=data,
                    actor=actor,
                    expected_version=form.cleaned_data.get("loaded_version"),
                )
            )
            obj.version = fresh.version
        else:
            created = self.run_service(
                lambda: services.plan_object_create(model=self.model, data=data, actor=actor)
            )
            obj.pk, obj.version = created.pk, created.version
            obj._state.adding, obj._state.db = False, created._state.db
        self.save_plan_inlines(actor, obj, formsets)

    def save_plan_inlines(self, actor: services.Actor, parent: PlanObject, formsets: Any) -> None:
        """Save inlines of plan objects of their own (a result's indicators) through the
        services, each with the version its row was read at: created, changed, or archived
        when marked for deletion. In the admin's transaction, so any refusal undoes the
        whole save and the form comes back with the reasons."""
        parent = type(parent)._default_manager.get(pk=parent.pk)
        for formset in formsets or []:
            model = formset.model
            if not issubclass(model, PlanObject):
                continue
            fields = {f.name for f in model._meta.get_fields()}
            for row in formset.forms:
                if not row.has_changed() or not hasattr(row, "cleaned_data"):
                    continue
                instance = row.instance
                if instance.pk is None:
                    if row.cleaned_data.get("DELETE"):
                        continue
                    data = {
                        name: value
                        for name, value in row.cleaned_data.items()
                        if name in fields and name not in ("id", formset.fk.name)
                    }
                    data[formset.fk.name] = parent
                    self.run_service(
                        lambda m=model, d=data: services.plan_object_create(
                            model=m, data=d, actor=actor
                        )
                    )
                    continue
                fresh = model._default_manager.get(pk=instance.pk)
                expected = row.cleaned_data.get("loaded_version")
                if row.cleaned_data.get("DELETE"):
                    self.run_service(
                        lambda o=fresh, v=expected: services.plan_object_archive(
                            obj=o, actor=actor, expected_version=v
                        )
                    )
                    continue
                data = {
                    name: row.cleaned_data[name]
                    for name in row.changed_data
                    if name in fields and name in row.cleaned_data
                }
                self.run_service(
                    lambda o=fresh, d=data, v=expected: services.plan_object_change(
                        obj=o, data=d, actor=actor, expected_version=v
                    )
                )

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> Any:
        # The inlines were not saved by their formsets (the service wrote the rows), so
        # they report nothing of their own; the audit trail holds the details.
        for formset in formsets or []:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return super().construct_change_message(request, form, formsets, add)

    # -- actions -----------------------------------------------------------------------------
    def _run(self, request: HttpRequest, queryset: QuerySet, service: Any, verb: str) -> None:
        done = 0
        for obj in queryset:
            try:
                service(obj=obj, actor=admin_actor(request))
                done += 1
            except (services.PlanRuleError, policy.NotPermitted) as exc:
                self.message_user(request, f"{obj.code}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} object(s).", messages.SUCCESS)

    @admin.action(description="Archive selected (codes stay reserved)", permissions=["archive"])
    def archive_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.plan_object_archive, "Archived")

    @admin.action(description="Restore selected", permissions=["restore"])
    def restore_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.plan_object_restore, "Restored")


class GoalInline(ReadOnly, admin.TabularInline):
    """The pillar's goals, read-only: goals are edited (and audited) on their own page."""

    model = Goal
    extra = 0
    fields = readonly_fields = ("code", "number", "title_en", "title_es", "archived_at")
    show_change_link = True


@admin.register(Pillar)
class PillarAdmin(PlanObjectAdmin):
    list_display = (
        "code",
        "number",
        "name_en",
        "name_es",
        "goal_count",
        "archived_at",
        "updated_at",
    )
    list_filter = (ArchivedFilter,)
    search_fields = ("code", "name_en", "name_es", "description_en", "description_es")
    inlines = [GoalInline]
    ordering = ("number",)

    @admin.display(description="goals")
    def goal_count(self, obj: Pillar) -> int:
        return obj.goals.count()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Pillar]:
        return super().get_queryset(request).prefetch_related("goals")


@admin.register(Goal)
class GoalAdmin(PlanObjectAdmin):
    list_display = ("code", "pillar", "number", "title_en", "title_es", "archived_at", "updated_at")
    list_filter = ("pillar", ArchivedFilter)
    list_select_related = ("pillar",)
    search_fields = ("code", "title_en", "title_es", "description_en", "description_es")
    autocomplete_fields = ("pillar",)


@admin.register(Agency)
class AgencyAdmin(PlanObjectAdmin):
    list_display = (
        "code",
        "acronym",
        "name_en",
        "name_es",
        "country",
        "organisation_type",
        "parent",
        "archived_at",
    )
    list_filter = ("country", "organisation_type", ArchivedFilter)
    list_select_related = ("parent",)
    search_fields = ("code", "acronym", "name_en", "name_es")
    autocomplete_fields = ("parent",)


class AgencyRoleFormSet(BaseInlineFormSet):
    """Checks the roles together, as the API does: each agency once, one lead per country."""

    def clean(self) -> None:
        super().clean()
        roles = [
            (form.cleaned_data["agency"], bool(form.cleaned_data.get("is_lead")))
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("agency")
        ]
        try:
            services.agency_roles_check(roles)
        except ValidationError as exc:
            raise ValidationError(
                [m for messages_ in exc.message_dict.values() for m in messages_]
            ) from exc


class PlanRowInline(admin.TabularInline):
    """Rows that belong to a plan object's state (a project's agencies, a meeting's chairs):
    editable exactly when the object is (the policy's call); written by the object's
    service call, never saved on their own."""

    extra = 0

    def _may(self, request: HttpRequest, obj: Any) -> bool:
        actor = admin_actor(request)
        if obj is None:
            return policy.can(actor, Action.CREATE, model=self.parent_model)
        return obj.archived_at is None and policy.can(actor, Action.UPDATE, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_staff and admin_actor(request).role)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, obj)


class ProjectRowInline(PlanRowInline):
    """A project's related rows."""


class ProjectAgencyRoleInline(ProjectRowInline):
    model = ProjectAgencyRole

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "agency":
            kwargs["queryset"] = Agency.objects.active()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    formset = AgencyRoleFormSet
    fields = ("agency", "role", "is_lead", "source")
    autocomplete_fields = ("agency",)


class ProjectCountryInline(ProjectRowInline):
    model = ProjectCountry


class ProjectLinkInline(ProjectRowInline):
    model = ProjectLink


def _kept_rows(formset: Any) -> list[dict[str, Any]]:
    """The rows an inline formset would keep: not deleted, not left blank."""
    return [
        form.cleaned_data
        for form in formset.forms
        if form.cleaned_data
        and not form.cleaned_data.get("DELETE")
        and (form.instance.pk or form.has_changed())
    ]


@admin.register(Project)
class ProjectAdmin(PlanObjectAdmin):
    list_display = (
        "code",
        "title_en",
        "goal",
        "status",
        "is_published",
        "planned_start",
        "planned_end",
        "archived_at",
        "updated_at",
    )
    list_filter = (
        "status",
        "is_published",
        ArchivedFilter,
        "goal__pillar",
        "countries__country",
        "agency_roles__agency",
    )
    list_select_related = ("goal",)
    search_fields = ("code", "title_en", "title_es", "description_en", "description_es")
    autocomplete_fields = ("goal",)
    inlines = [ProjectAgencyRoleInline, ProjectCountryInline, ProjectLinkInline]

    def related_data(self, formsets: list[Any]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for formset in formsets:
            if not formset.has_changed():
                continue  # untouched inlines are left as they are
            rows = _kept_rows(formset)
            if formset.model is ProjectAgencyRole:
                data["agency_roles"] = [
                    {
                        "agency": row["agency"],
                        "role": row["role"],
                        "is_lead": bool(row.get("is_lead")),
                        "source": row.get("source") or "stated",
                    }
                    for row in rows
                    if row.get("agency")
                ]
            elif formset.model is ProjectCountry:
                data["countries"] = [row["country"] for row in rows if row.get("country")]
            elif formset.model is ProjectLink:
                data["links"] = [
                    {
                        "url": row["url"],
                        "label_en": row.get("label_en", ""),
                        "label_es": row.get("label_es", ""),
                    }
                    for row in rows
                    if row.get("url")
                ]
        return data

    fieldsets = (
        (None, {"fields": ("code", "goal", "status", "is_published")}),
        ("English", {"fields": ("title_en", "description_en")}),
        ("Spanish", {"fields": ("title_es", "description_es")}),
        ("Dates", {"fields": (("planned_start", "planned_end"), ("actual_start", "actual_end"))}),
        ("Budget", {"fields": (("budget_amount", "budget_currency"),)}),
        ("Record", {"fields": TIMESTAMPS}),
    )


# -- meetings and progress ------------------------------------------------------------------


class MeetingChairInline(PlanRowInline):
    model = MeetingChair
    fields = ("agency", "person_name", "position_en", "position_es")
    autocomplete_fields = ("agency",)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "agency":
            kwargs["queryset"] = Agency.objects.active()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MeetingSourceInline(PlanRowInline):
    model = MeetingSource
    fields = ("title", "publisher", "date", "url")


class MeetingProjectInline(PlanRowInline):
    model = MeetingProject
    fields = ("project", "kind")
    autocomplete_fields = ("project",)
    verbose_name = "project reviewed or launched"
    verbose_name_plural = "projects reviewed or launched (meetings show the published ones)"

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "project":
            kwargs["queryset"] = Project.objects.active()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Meeting)
class MeetingAdmin(PlanObjectAdmin):
    list_display = ("code", "date", "kind", "place_en", "archived_at", "updated_at")
    list_filter = ("kind", ArchivedFilter)
    search_fields = ("code", "place_en", "place_es", "summary_en", "summary_es")
    date_hierarchy = "date"
    inlines = [MeetingChairInline, MeetingSourceInline, MeetingProjectInline]
    fieldsets = (
        (None, {"fields": ("code", "date", "kind")}),
        ("English", {"fields": ("place_en", "summary_en")}),
        ("Spanish", {"fields": ("place_es", "summary_es")}),
        ("Record", {"fields": TIMESTAMPS}),
    )

    def related_data(self, formsets: list[Any]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for formset in formsets:
            if not formset.has_changed():
                continue  # untouched inlines are left as they are
            rows = _kept_rows(formset)
            if formset.model is MeetingChair:
                data["chairs"] = [
                    {
                        "agency": row["agency"],
                        "person_name": row.get("person_name", ""),
                        "position_en": row.get("position_en", ""),
                        "position_es": row.get("position_es", ""),
                    }
                    for row in rows
                    if row.get("agency")
                ]
            elif formset.model is MeetingSource:
                data["sources"] = [
                    {
                        "title": row["title"],
                        "publisher": row.get("publisher", ""),
                        "date": row.get("date"),
                        "url": row.get("url", ""),
                    }
                    for row in rows
                    if row.get("title")
                ]
            elif formset.model is MeetingProject:
                data["projects"] = [
                    {"project": row["project"], "kind": row.get("kind") or "reviewed"}
                    for row in rows
                    if row.get("project")
                ]
        return data


@admin.register(ProgressReport)
class ProgressReportAdmin(PlanObjectAdmin):
    list_display = (
        "code",
        "date",
        "project",
        "goal",
        "meeting",
        "source_kind",
        "archived_at",
        "updated_at",
    )
    list_filter = ("source_kind", ArchivedFilter, "meeting")
    list_select_related = ("project", "goal", "meeting")
    search_fields = ("code", "narrative_en", "narrative_es", "source_title")
    autocomplete_fields = ("project", "goal", "meeting")
    date_hierarchy = "date"
    fieldsets = (
        (None, {"fields": ("code", "project", "goal", "meeting", "date")}),
        ("English", {"fields": ("narrative_en",)}),
        ("Spanish", {"fields": ("narrative_es",)}),
        (
            "Source",
            {
                "fields": (
                    "source_kind",
                    "source_title",
                    "source_publisher",
                    "source_date",
                    "source_url",
                )
            },
        ),
        (
            "Measure (optional)",
            {
                "fields": (
                    ("period_start", "period_end"),
                    ("indicator_en", "indicator_es"),
                    "unit",
                    ("baseline_value", "target_value", "actual_value"),
                )
            },
        ),
        ("Record", {"fields": TIMESTAMPS}),
    )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "code" in form.base_fields:
            # Left blank, the service issues the next PR-nnnnnn code.
            form.base_fields["code"].required = False
            form.base_fields["code"].help_text = "Leave blank to have a code issued."
        return form

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        actor = admin_actor(request)
        if db_field.name == "project" and field is not None and not actor.is_admin:
            # Agency editors report on their agency's projects only (the service checks too).
            field.queryset = Project.objects.editable_by(actor)
        return field


# -- results, indicators and periods ---------------------------------------------------------


class PlanObjectInline(admin.StackedInline):
    """Plan objects of their own under a parent (a result's indicators): each row carries
    the version it was read at and is saved through the services by the parent's admin
    (`save_plan_inlines`); "delete" archives. Only active rows are shown."""

    form = PlanObjectForm
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(archived_at__isnull=True)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        code = formset.form.base_fields.get("code")
        if code is not None:
            # Left blank, the service issues the next code.
            code.required = False
            code.help_text = "Leave blank to have a code issued."
        return formset

    def _may(self, request: HttpRequest, obj: Any, action: Action) -> bool:
        actor = admin_actor(request)
        if obj is None:
            return policy.can(actor, Action.CREATE, model=self.parent_model)
        return obj.archived_at is None and policy.can(actor, action, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_staff and admin_actor(request).role)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, obj, Action.UPDATE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, obj, Action.UPDATE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, obj, Action.ARCHIVE)


class IndicatorInline(PlanObjectInline):
    model = Indicator
    fields = (
        "code",
        ("measure", "ascending"),
        ("title_en", "title_es"),
        ("baseline_year", "baseline_value"),
        "loaded_version",
    )


class IndicatorPeriodInline(PlanObjectInline):
    model = IndicatorPeriod
    fields = (
        "code",
        ("period_start", "period_end"),
        ("target_value", "actual_value"),
        ("actual_comment_en", "actual_comment_es"),
        "source_title",
        "loaded_version",
    )


def _editable_parent(field: Any, request: HttpRequest, model: type[PlanObject]) -> Any:
    """Agency editors attach objects only under parents their agency takes part in (the
    service checks too)."""
    actor = admin_actor(request)
    if field is not None and not actor.is_admin:
        field.queryset = model._default_manager.editable_by(actor)  # type: ignore[attr-defined]
    return field


class IssuedCodeAdmin(PlanObjectAdmin):
    """Objects whose code is issued when left blank (results, indicators, periods)."""

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "code" in form.base_fields:
            form.base_fields["code"].required = False
            form.base_fields["code"].help_text = "Leave blank to have a code issued."
        return form


@admin.register(Result)
class ResultAdmin(IssuedCodeAdmin):
    list_display = ("code", "project", "type", "title_en", "archived_at", "updated_at")
    list_filter = ("type", ArchivedFilter)
    list_select_related = ("project",)
    search_fields = ("code", "title_en", "title_es", "project__code")
    autocomplete_fields = ("project",)
    inlines = [IndicatorInline]
    fieldsets = (
        (None, {"fields": ("code", "project", "type", "aggregation_status")}),
        ("English", {"fields": ("title_en", "description_en")}),
        ("Spanish", {"fields": ("title_es", "description_es")}),
        ("Record", {"fields": TIMESTAMPS}),
    )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        return _editable_parent(field, request, Project) if db_field.name == "project" else field


@admin.register(Indicator)
class IndicatorAdmin(IssuedCodeAdmin):
    list_display = ("code", "result", "measure", "ascending", "title_en", "archived_at")
    list_filter = ("measure", ArchivedFilter)
    list_select_related = ("result",)
    search_fields = ("code", "title_en", "title_es", "result__code")
    autocomplete_fields = ("result",)
    inlines = [IndicatorPeriodInline]
    fieldsets = (
        (None, {"fields": ("code", "result", "measure", "ascending")}),
        ("English", {"fields": ("title_en", "description_en", "baseline_comment_en")}),
        ("Spanish", {"fields": ("title_es", "description_es", "baseline_comment_es")}),
        ("Baseline", {"fields": ("baseline_year", "baseline_value")}),
        ("Record", {"fields": TIMESTAMPS}),
    )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        return _editable_parent(field, request, Result) if db_field.name == "result" else field


@admin.register(IndicatorPeriod)
class IndicatorPeriodAdmin(IssuedCodeAdmin):
    list_display = ("code", "indicator", "period_start", "period_end", "target_value")
    list_filter = (ArchivedFilter,)
    list_select_related = ("indicator",)
    search_fields = ("code", "indicator__code", "source_title")
    autocomplete_fields = ("indicator",)
    fieldsets = (
        (None, {"fields": ("code", "indicator", ("period_start", "period_end"))}),
        ("Target", {"fields": ("target_value", "target_comment_en", "target_comment_es")}),
        ("Actual", {"fields": ("actual_value", "actual_comment_en", "actual_comment_es")}),
        (
            "Source of the actual",
            {
                "fields": (
                    "source_kind",
                    "source_title",
                    "source_publisher",
                    "source_date",
                    "source_url",
                )
            },
        ),
        ("Record", {"fields": TIMESTAMPS}),
    )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "indicator":
            return _editable_parent(field, request, Indicator)
        return field


# -- access -------------------------------------------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(ServiceAdmin):
    """Tokens are created here (the secret is shown once), listed and revoked; never edited."""

    list_display = (
        "__str__",
        "user",
        "name",
        "scope",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("scope",)
    list_select_related = ("user",)
    search_fields = ("prefix", "name", "user__username")
    autocomplete_fields = ("user",)
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("prefix", "created_at", "revoked_at", "last_used_at")
        return (
            "user",
            "prefix",
            "scope",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # A token carries its user's powers: only plan admins may issue, see or revoke them.
    def _may(self, request: HttpRequest) -> bool:
        return request.user.is_staff and policy.can(admin_actor(request), Action.ISSUE_TOKENS)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        actor = admin_actor(request)
        if change:
            name = obj.name
            fresh = ApiToken.objects.get(pk=obj.pk)
            self.run_service(lambda: services.api_token_rename(actor=actor, token=fresh, name=name))
            return
        plaintext = self.run_service(lambda: services.api_token_issue(actor=actor, token=obj))
        self.message_user(
            request,
            f"The new token is {plaintext} — copy it now: it is stored hashed and "
            "will not be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for token in queryset:
            services.api_token_revoke(actor=admin_actor(request), token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)


class MembershipInline(admin.StackedInline):
    """A user's agency and role: granted by plan admins, saved through the services."""

    model = AgencyMembership
    can_delete = True
    autocomplete_fields = ("agency",)
    verbose_name_plural = "API role"

    def _may(self, request: HttpRequest) -> bool:
        return policy.can(admin_actor(request), Action.ISSUE_TOKENS)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class PartnerUserAdmin(UserAdmin):
    """Users, with their agency and role. Plan admins (by role, without Django's user
    permissions) may find users (the token form's picker), read them and grant roles;
    the account itself (name, password, staff and superuser flags, permissions) stays
    with those who hold Django's permission to change users, so a role cannot be turned
    into more."""

    inlines = [*UserAdmin.inlines, MembershipInline]
    list_display = (*UserAdmin.list_display, "membership")  # type: ignore[misc]
    list_select_related = ("membership__agency",)

    def _grants_roles(self, request: HttpRequest) -> bool:
        return request.user.is_staff and policy.can(admin_actor(request), Action.ISSUE_TOKENS)

    def _manages_accounts(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or self._grants_roles(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self._grants_roles(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._manages_accounts(request, obj) or self._grants_roles(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None or self._manages_accounts(request, obj):
            return super().get_readonly_fields(request, obj)
        return [
            name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]
        ]

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        if not self._manages_accounts(request):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not AgencyMembership:
            super().save_formset(request, form, formset, change)
            return
        actor = admin_actor(request)
        # Saved by the service, not the formset: it reports no rows of its own.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for row in formset.forms:
            data = row.cleaned_data
            if not data or not (row.has_changed() or data.get("DELETE")):
                continue
            if data.get("DELETE"):
                if row.instance.pk:
                    services.agency_membership_remove(actor=actor, membership=row.instance)
                continue
            services.agency_membership_set(
                actor=actor, user=form.instance, agency=data.get("agency"), role=data["role"]
            )


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly, admin.ModelAdmin):
    """The audit trail: read-only."""

    list_display = (
        "id",
        "occurred_at",
        "action",
        "object_type",
        "object_code",
        "username",
        "token_prefix",
        "agency",
        "via",
        "request_id",
    )
    list_filter = ("action", "object_type", "via")
    list_select_related = ("agency",)
    search_fields = ("object_code", "username", "token_prefix", "request_id")
    date_hierarchy = "occurred_at"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff and policy.can(admin_actor(request), Action.VIEW_AUDIT)


# -- webhooks -----------------------------------------------------------------------------


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ServiceAdmin):
    """Subscriptions; the signing secret is shown once, when the subscription is created."""

    list_display = (
        "id",
        "url",
        "description",
        "event_types",
        "agency",
        "is_active",
        "created_at",
    )
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    autocomplete_fields = ("agency",)
    exclude = ("secret",)
    readonly_fields = ("created_at", "updated_at")

    # The form checks targets and event types through the model's clean(), the same rules
    # the service applies; saving and deleting go through the service (audited).
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff and policy.can(admin_actor(request), Action.VIEW_WEBHOOKS)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def _may_manage(self, request: HttpRequest) -> bool:
        return request.user.is_staff and policy.can(admin_actor(request), Action.MANAGE_WEBHOOKS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_manage(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)

    def save_model(
        self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool
    ) -> None:
        actor = admin_actor(request)
        data = cast(
            services.SubscriptionData, {name: form.cleaned_data[name] for name in form.changed_data}
        )
        if change:
            fresh = WebhookSubscription.objects.get(pk=obj.pk)
            self.run_service(
                lambda: services.webhook_subscription_update(
                    actor=actor, subscription=fresh, data=data
                )
            )
            return
        created = self.run_service(
            lambda: services.webhook_subscription_create(actor=actor, data=data)
        )
        obj.pk, obj.secret, obj._state.adding = created.pk, created.secret, False
        self.message_user(
            request,
            f"The signing secret is {created.secret} — copy it now: it will not be shown again.",
            messages.WARNING,
        )

    def delete_model(self, request: HttpRequest, obj: WebhookSubscription) -> None:
        services.webhook_subscription_delete(actor=admin_actor(request), subscription=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for subscription in queryset:
            self.delete_model(request, subscription)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "attempted_at",
        "status_code",
        "error",
        "duration_ms",
        "succeeded",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnly, admin.ModelAdmin):
    """The delivery log: read-only, with every attempt; deliveries can be sent again."""

    list_display = (
        "webhook_id",
        "subscription",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "event_type", "subscription")
    list_select_related = ("subscription",)
    search_fields = ("webhook_id", "last_error")
    inlines = [WebhookAttemptInline]
    actions = ["redeliver_selected"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff and policy.can(admin_actor(request), Action.VIEW_WEBHOOKS)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    @admin.action(description="Send again now (same webhook-id)", permissions=["view"])
    def redeliver_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for delivery in queryset:
            services.webhook_delivery_redeliver(actor=admin_actor(request), delivery=delivery)
        self.message_user(request, f"Queued {queryset.count()} delivery(ies).", messages.SUCCESS)
