from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from workplan.models import (
    Agency,
    Goal,
    Pillar,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    ProjectLink,
)

TIMESTAMPS = ("created_at", "updated_at")


class GoalInline(admin.TabularInline):
    model = Goal
    extra = 0
    fields = ("code", "number", "title_en", "title_es")
    show_change_link = True


@admin.register(Pillar)
class PillarAdmin(admin.ModelAdmin):
    list_display = ("code", "number", "name_en", "name_es", "goal_count", "updated_at")
    search_fields = ("code", "name_en", "name_es", "description_en", "description_es")
    readonly_fields = TIMESTAMPS
    inlines = [GoalInline]
    ordering = ("number",)

    @admin.display(description="goals")
    def goal_count(self, obj: Pillar) -> int:
        return obj.goals.count()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Pillar]:
        return super().get_queryset(request).prefetch_related("goals")


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    list_display = ("code", "pillar", "number", "title_en", "title_es", "updated_at")
    list_filter = ("pillar",)
    list_select_related = ("pillar",)
    search_fields = ("code", "title_en", "title_es", "description_en", "description_es")
    autocomplete_fields = ("pillar",)
    readonly_fields = TIMESTAMPS


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "acronym",
        "name_en",
        "name_es",
        "country",
        "organisation_type",
        "parent",
    )
    list_filter = ("country", "organisation_type")
    list_select_related = ("parent",)
    search_fields = ("code", "acronym", "name_en", "name_es")
    autocomplete_fields = ("parent",)
    readonly_fields = TIMESTAMPS


class ProjectAgencyRoleInline(admin.TabularInline):
    model = ProjectAgencyRole
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
class ProjectAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "title_en",
        "goal",
        "status",
        "planned_start",
        "planned_end",
        "updated_at",
    )
    list_filter = ("status", "goal__pillar", "countries__country", "agency_roles__agency")
    list_select_related = ("goal",)
    search_fields = ("code", "title_en", "title_es", "description_en", "description_es")
    autocomplete_fields = ("goal",)
    readonly_fields = TIMESTAMPS
    inlines = [ProjectAgencyRoleInline, ProjectCountryInline, ProjectLinkInline]
    fieldsets = (
        (None, {"fields": ("code", "goal", "status")}),
        ("English", {"fields": ("title_en", "description_en")}),
        ("Spanish", {"fields": ("title_es", "description_es")}),
        ("Dates", {"fields": (("planned_start", "planned_end"), ("actual_start", "actual_end"))}),
        ("Budget", {"fields": (("budget_amount", "budget_currency"),)}),
        ("Record", {"fields": TIMESTAMPS}),
    )
