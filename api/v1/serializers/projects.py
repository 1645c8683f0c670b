from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import CodedValueField, PlanSerializer, TranslatedField, TranslationsField
from workplan.choices import ActivityStatus, AssignmentSource, OrganisationRole
from workplan.models import Project, ProjectAgencyRole, ProjectLink

from .agencies import AgencyBriefSerializer
from .plan import GoalBriefSerializer, PillarBriefSerializer


class ProjectBriefSerializer(PlanSerializer):
    """A reference to a project: its code, URL and name."""

    url = serializers.HyperlinkedIdentityField(view_name="project-detail", lookup_field="code")
    title = TranslatedField("title")
    translations = TranslationsField("title")

    class Meta:
        model = Project
        fields = ["code", "url", "title", "translations"]


class ParticipatingAgencySerializer(serializers.ModelSerializer):
    agency = AgencyBriefSerializer(read_only=True)
    role = CodedValueField(OrganisationRole.choices, "IATI OrganisationRole", read_only=True)
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

    class Meta:
        model = ProjectAgencyRole
        fields = ["agency", "role", "is_lead", "source"]


class BudgetSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        source="budget_amount", max_digits=16, decimal_places=2, read_only=True
    )
    currency = serializers.CharField(
        source="budget_currency", read_only=True, help_text="ISO 4217 code."
    )


class LinkSerializer(serializers.ModelSerializer):
    label = TranslatedField("label")  # type: ignore[assignment]

    class Meta:
        model = ProjectLink
        fields = ["url", "label"]


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

    url = serializers.HyperlinkedIdentityField(view_name="project-detail", lookup_field="code")
    title = TranslatedField("title")
    description = TranslatedField("description")
    translations = TranslationsField("title", "description")
    status = CodedValueField(ActivityStatus.choices, "IATI ActivityStatus", read_only=True)
    goal = GoalBriefSerializer(read_only=True)
    pillar = PillarBriefSerializer(source="goal.pillar", read_only=True)
    countries = serializers.SerializerMethodField(
        help_text="ISO 3166-1 alpha-2 codes of the countries the project takes place in."
    )
    participating_agencies = ParticipatingAgencySerializer(
        source="agency_roles", many=True, read_only=True
    )
    budget = BudgetField()
    links = LinkSerializer(many=True, read_only=True)

    class Meta:
        model = Project
        fields = [
            "code",
            "url",
            "title",
            "description",
            "translations",
            "status",
            "goal",
            "pillar",
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
