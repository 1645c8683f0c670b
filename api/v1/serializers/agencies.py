from rest_framework import serializers

from api.fields import (
    LABELS,
    CodedValueField,
    CodeLabelField,
    CodeURLField,
    Expansion,
    PlanSerializer,
    TranslatedField,
    TranslationsField,
    WriteSerializer,
    expandable,
)
from workplan.choices import OrganisationType, country_choices
from workplan.models import Agency


class AgencyBriefSerializer(PlanSerializer):
    """A reference to an agency: its code, URL and name."""

    url = CodeURLField("agency-detail")
    name = TranslatedField("name")
    translations = TranslationsField("name")

    class Meta:
        model = Agency
        fields = ["code", "url", "acronym", "name", "country", "translations"]


class AgencySerializer(PlanSerializer):
    """A government agency of either country."""

    url = CodeURLField("agency-detail")
    name = TranslatedField("name")
    translations = TranslationsField("name")
    country = CodedValueField(country_choices(), "ISO 3166-1 alpha-2", read_only=True)
    organisation_type = CodedValueField(
        OrganisationType.choices, "IATI OrganisationType", read_only=True
    )
    country_label = CodeLabelField("country", "country")
    organisation_type_label = CodeLabelField("organisation_type", "organisation-type")
    parent = expandable(AgencyBriefSerializer, "Agency", "parent", allow_null=True)
    website = serializers.CharField(
        read_only=True, help_text="Home page URL; an empty string when none is known."
    )

    expansions = {
        "labels": LABELS,
        "parent": Expansion(
            "gives the parent agency whole instead of its brief reference",
            "parent",
            lambda: AgencySerializer(read_only=True, allow_null=True),
            ("parent__parent",),
        ),
    }

    class Meta:
        model = Agency
        fields = [
            "code",
            "url",
            "acronym",
            "name",
            "translations",
            "country",
            "country_label",
            "organisation_type",
            "organisation_type_label",
            "parent",
            "website",
            "created_at",
            "updated_at",
        ]


class AgencyWriteSerializer(WriteSerializer):
    """An agency as a plan admin sends it; `parent` is the parent agency's code."""

    read_only_names = WriteSerializer.read_only_names | {"name"}
    parent = serializers.SlugRelatedField(  # type: ignore[assignment]
        slug_field="code",
        queryset=Agency.objects.active(),
        allow_null=True,
        required=False,
    )

    class Meta:
        model = Agency
        fields = [
            "code",
            "acronym",
            "name_en",
            "name_es",
            "country",
            "organisation_type",
            "parent",
            "website",
        ]
