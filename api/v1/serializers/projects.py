from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import (
    LABELS,
    CodedValueField,
    CodeLabelField,
    CodeURLField,
    Expansion,
    PlainDecimalField,
    PlanSerializer,
    StrictCharField,
    StrictSerializer,
    TranslatedField,
    TranslationsField,
    UniqueListField,
    WriteSerializer,
    expandable,
)
from workplan.choices import (
    ActivityStatus,
    AssignmentSource,
    OrganisationRole,
    country_choices,
    currency_choices,
)
from workplan.models import Agency, Goal, Project, ProjectAgencyRole, ProjectLink

from .agencies import AgencyBriefSerializer, AgencySerializer
from .plan import GoalBriefSerializer, GoalSerializer, PillarBriefSerializer, PillarSerializer


class ProjectBriefSerializer(PlanSerializer):
    """A reference to a project: its code, URL and name."""

    url = CodeURLField("project-detail")
    title = TranslatedField("title")
    translations = TranslationsField("title")

    class Meta:
        model = Project
        fields = ["code", "url", "title", "translations"]


class ParticipatingAgencySerializer(serializers.ModelSerializer):
    agency = expandable(AgencyBriefSerializer, "Agency", "agencies")
    role = CodedValueField(OrganisationRole.choices, "IATI OrganisationRole", read_only=True)
    role_label = CodeLabelField("role", "organisation-role")
    is_lead = serializers.BooleanField(
        read_only=True, help_text="This agency leads the project for its country."
    )
    source = serializers.ChoiceField(  # type: ignore[assignment]
        AssignmentSource.choices,
        read_only=True,
        help_text=(
            "`stated`: the published plan names this agency; `inferred`: assigned from the "
            "agency's remit because the plan does not say."
        ),
    )

    source_label = CodeLabelField("source", "assignment-source")

    class Meta:
        model = ProjectAgencyRole
        fields = ["agency", "role", "role_label", "is_lead", "source", "source_label"]


class BudgetSerializer(serializers.Serializer):
    amount = PlainDecimalField(
        source="budget_amount", max_digits=16, decimal_places=2, read_only=True
    )
    currency = serializers.CharField(
        source="budget_currency", read_only=True, help_text="ISO 4217 code."
    )
    currency_label = CodeLabelField("currency", "currency", "budget_currency")


class LinkSerializer(serializers.ModelSerializer):
    label = TranslatedField("label")  # type: ignore[assignment]
    translations = TranslationsField("label")

    class Meta:
        model = ProjectLink
        fields = ["url", "label", "translations"]


@extend_schema_field(BudgetSerializer(allow_null=True))
class BudgetField(serializers.Field):
    """The budget as {amount, currency}, or null where none is known."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, value: Project) -> dict[str, Any] | None:
        if value.budget_amount is None:
            return None
        return BudgetSerializer(value, context=self.context).data


class ProjectSerializer(PlanSerializer):
    """A project that carries out a goal of the plan."""

    url = CodeURLField("project-detail")
    title = TranslatedField("title")
    description = TranslatedField("description")
    translations = TranslationsField("title", "description")
    status = CodedValueField(ActivityStatus.choices, "IATI ActivityStatus", read_only=True)
    status_label = CodeLabelField("status", "activity-status")
    goal = expandable(GoalBriefSerializer, "Goal", "goal")
    pillar = expandable(PillarBriefSerializer, "Pillar", "pillar", source="goal.pillar")
    countries = serializers.SerializerMethodField(
        help_text="ISO 3166-1 alpha-2 codes of the countries the project takes place in."
    )
    participating_agencies = ParticipatingAgencySerializer(
        source="agency_roles", many=True, read_only=True
    )
    budget = BudgetField()
    links = LinkSerializer(many=True, read_only=True)

    expansions = {
        "labels": LABELS,
        "goal": Expansion(
            "gives the whole goal (as `/goals/{code}/` does) instead of its brief reference",
            "goal",
            lambda: GoalSerializer(read_only=True),
        ),
        "pillar": Expansion(
            "gives the whole pillar, with its goals, instead of its brief reference",
            "pillar",
            lambda: PillarSerializer(source="goal.pillar", read_only=True),
            (Prefetch("goal__pillar__goals", queryset=Goal.objects.active().order_by("number")),),
        ),
        "agencies": Expansion(
            "gives each participating agency whole (with its parent) instead of its brief "
            "reference",
            "participating_agencies.agency",
            lambda: AgencySerializer(read_only=True),
            ("agency_roles__agency__parent",),
        ),
    }

    class Meta:
        model = Project
        fields = [
            "code",
            "url",
            "title",
            "description",
            "translations",
            "status",
            "status_label",
            "is_published",
            "goal",
            "pillar",
            "announced_on",
            "planned_start",
            "planned_end",
            "actual_start",
            "actual_end",
            "countries",
            "participating_agencies",
            "budget",
            "links",
            "created_at",
            "updated_at",
        ]

    def get_countries(self, obj: Project) -> list[str]:
        return [c.country for c in obj.countries.all()]


class ParticipationWriteSerializer(StrictSerializer):
    agency = serializers.SlugRelatedField(
        slug_field="code", queryset=Agency.objects.active(), help_text="The agency's code."
    )
    role = serializers.ChoiceField(
        OrganisationRole.choices, help_text="IATI OrganisationRole code."
    )
    is_lead = serializers.BooleanField(
        default=False, help_text="This agency leads the project for its country."
    )
    source = serializers.ChoiceField(  # type: ignore[assignment]
        AssignmentSource.choices, default=AssignmentSource.STATED
    )


class BudgetWriteSerializer(StrictSerializer):
    amount = PlainDecimalField(max_digits=16, decimal_places=2, min_value=Decimal(0))
    currency = serializers.ChoiceField(currency_choices(), help_text="ISO 4217 code.")


class LinkWriteSerializer(StrictSerializer):
    url = serializers.URLField(max_length=500)
    label_en = StrictCharField(max_length=200)
    label_es = StrictCharField(max_length=200)


class ProjectWriteSerializer(WriteSerializer):
    """A project as a partner system sends it.

    Lists (`countries`, `participating_agencies`, `links`) replace the current ones
    when given; each agency takes part once. Agency editors must keep their own agency
    among the participants and may not change other agencies' entries or `is_published`.
    """

    read_only_names = WriteSerializer.read_only_names | {
        "title",
        "description",
        "pillar",
    }
    goal = serializers.SlugRelatedField(
        slug_field="code", queryset=Goal.objects.active(), help_text="The goal's code."
    )
    countries = UniqueListField(
        child=serializers.ChoiceField(country_choices()),
        required=False,
        error_messages={"not_unique": "List each country once."},
        help_text="ISO 3166-1 alpha-2 codes of the countries the project takes place in.",
    )
    participating_agencies = ParticipationWriteSerializer(many=True, required=False)
    budget = BudgetWriteSerializer(allow_null=True, required=False)
    links = LinkWriteSerializer(many=True, required=False)

    class Meta:
        model = Project
        fields = [
            "code",
            "goal",
            "title_en",
            "title_es",
            "description_en",
            "description_es",
            "status",
            "announced_on",
            "planned_start",
            "planned_end",
            "actual_start",
            "actual_end",
            "countries",
            "participating_agencies",
            "budget",
            "links",
            "is_published",
        ]
        extra_kwargs = {"is_published": {"help_text": "Plan admins only."}}

    def service_data(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        if "participating_agencies" in data:
            data["agency_roles"] = [dict(p) for p in data.pop("participating_agencies")]
        if "budget" in data:
            budget = data.pop("budget")
            data["budget_amount"] = budget["amount"] if budget else None
            data["budget_currency"] = budget["currency"] if budget else ""
        if "links" in data:
            data["links"] = [dict(link) for link in data["links"]]
        return data
