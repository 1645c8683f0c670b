"""The Django admin for staff. Writes go through the same rules and audit trail as the API."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils import timezone

from workplan import services
from workplan.access import is_plan_admin
from workplan.models import (
    Agency,
    AgencyMembership,
    ApiToken,
    AuditEvent,
    Goal,
    Pillar,
    PlanObject,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from workplan.webhooks import check_webhook_target, webhook_redeliver

TIMESTAMPS = ("version", "created_at", "updated_at", "archived_at")


def admin_actor(request: HttpRequest) -> services.Actor:
    return services.Actor(
        user=request.user, via="admin", request_id=getattr(request, "request_id", "")
    )


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


class PlanObjectAdmin(admin.ModelAdmin):
    """Saves bump the version and are audited; objects are archived and restored, never deleted."""

    readonly_fields = TIMESTAMPS
    actions = ["archive_selected", "restore_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # A code is never changed once it is issued.
        return (*TIMESTAMPS, "code") if obj is not None else TIMESTAMPS

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

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

    def save_model(self, request: HttpRequest, obj: PlanObject, form: Any, change: bool) -> None:
        state: Any = request  # the before-snapshot travels with the request to save_related
        state._audit_bumped = False
        if not change:
            state._audit_before = {}
            obj.save()
            return
        state._audit_before = services.snapshot(type(obj)._default_manager.get(pk=obj.pk))
        if form.has_changed():
            services.version_bump(obj)
            obj.save()
            state._audit_bumped = True

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        state: Any = request
        event = services.audit_record(
            action="update" if change else "create",
            obj=obj,
            actor=admin_actor(request),
            before=getattr(state, "_audit_before", {}),
        )
        if change and event is not None and not state._audit_bumped:
            # Only inlines changed (countries, agencies, links): still a new version.
            services.version_bump(obj)
            type(obj)._default_manager.filter(pk=obj.pk).update(updated_at=timezone.now())

    def _run(self, request: HttpRequest, queryset: QuerySet, service: Any, verb: str) -> None:
        done = 0
        for obj in queryset:
            try:
                service(obj=obj, actor=admin_actor(request))
                done += 1
            except services.PlanRuleError as exc:
                self.message_user(request, f"{obj.code}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} object(s).", messages.SUCCESS)

    @admin.action(description="Archive selected (codes stay reserved)")
    def archive_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.plan_object_archive, "Archived")

    @admin.action(description="Restore selected")
    def restore_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(request, queryset, services.plan_object_restore, "Restored")


class GoalInline(admin.TabularInline):
    """The pillar's goals, read-only: goals are edited (and audited) on their own page."""

    model = Goal
    extra = 0
    fields = readonly_fields = ("code", "number", "title_en", "title_es", "archived_at")
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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


class ProjectAgencyRoleInline(admin.TabularInline):
    model = ProjectAgencyRole

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "agency":
            kwargs["queryset"] = Agency.objects.active()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    formset = AgencyRoleFormSet
    extra = 0
    fields = ("agency", "role", "is_lead", "source")
    autocomplete_fields = ("agency",)


class ProjectCountryInline(admin.TabularInline):
    model = ProjectCountry
    extra = 0


class ProjectLinkInline(admin.TabularInline):
    model = ProjectLink
    extra = 0


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

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is ProjectAgencyRole:
            # Clear leads being given up before saving the new ones, so moving the lead
            # between two agencies of one country never meets the one-lead constraint.
            giving_up = [
                f.instance.pk
                for f in formset.forms
                if f.instance.pk
                and f.has_changed()
                and (f.cleaned_data.get("DELETE") or not f.cleaned_data.get("is_lead"))
            ]
            ProjectAgencyRole.objects.filter(pk__in=giving_up).update(is_lead=False)
        super().save_formset(request, form, formset, change)

    fieldsets = (
        (None, {"fields": ("code", "goal", "status", "is_published")}),
        ("English", {"fields": ("title_en", "description_en")}),
        ("Spanish", {"fields": ("title_es", "description_es")}),
        ("Dates", {"fields": (("planned_start", "planned_end"), ("actual_start", "actual_end"))}),
        ("Budget", {"fields": (("budget_amount", "budget_currency"),)}),
        ("Record", {"fields": TIMESTAMPS}),
    )


# -- access -------------------------------------------------------------------------------


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token carries its user's powers: only plan admins may issue them.
        return is_plan_admin(request.user) and super().has_add_permission(request)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        plaintext = services.api_token_issue(token=obj)
        self.message_user(
            request,
            f"The new token is {plaintext} — copy it now: it is stored hashed and "
            "will not be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for token in queryset:
            services.api_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)


class MembershipInline(admin.StackedInline):
    model = AgencyMembership
    can_delete = True
    autocomplete_fields = ("agency",)
    verbose_name_plural = "API role"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class PartnerUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, MembershipInline]
    list_display = (*UserAdmin.list_display, "membership")  # type: ignore[misc]
    list_select_related = ("membership__agency",)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# -- webhooks -----------------------------------------------------------------------------


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
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

    def save_model(
        self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(
                request,
                f"The signing secret is {obj.secret} — copy it now: it will not be shown again.",
                messages.WARNING,
            )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)

        class CheckedForm(form):  # type: ignore[misc,valid-type]
            def clean_url(self) -> str:
                url = self.cleaned_data["url"]
                try:
                    check_webhook_target(url)
                except ValidationError as exc:
                    raise ValidationError(exc.message_dict["url"]) from exc
                return url

        return CheckedForm


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
class WebhookDeliveryAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Send again now (same webhook-id)", permissions=["view"])
    def redeliver_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for delivery in queryset:
            webhook_redeliver(delivery=delivery)
        self.message_user(request, f"Queued {queryset.count()} delivery(ies).", messages.SUCCESS)
