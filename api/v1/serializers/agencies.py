from rest_framework import serializers

from api.fields import CodedValueField, PlanSerializer, TranslatedField, TranslationsField
from workplan.choices import OrganisationType, country_choices
from workplan.models import Agency


class AgencyBriefSerializer(PlanSerializer):
    """A reference to an agency: its code, URL and name."""

    url = serializers.HyperlinkedIdentityField(view_name="agency-detail", lookup_field="code")
    name = TranslatedField("name")
    translations = TranslationsField("name")

    class Meta:
        model = Agency
        fields = ["code", "url", "acronym", "name", "country", "translations"]


class AgencySerializer(PlanSerializer):
    """A government agency of either country."""

    url = serializers.HyperlinkedIdentityField(view_name="agency-detail", lookup_field="code")
    name = TranslatedField("name")
    translations = TranslationsField("name")
    country = CodedValueField(country_choices(), "ISO 3166-1 alpha-2", read_only=True)
    organisation_type = CodedValueField(
        OrganisationType.choices, "IATI OrganisationType", read_only=True
    )
    parent = AgencyBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Agency
        fields = [
            "code",
            "url",
            "acronym",
            "name",
            "translations",
            "country",
            "organisation_type",
            "parent",
            "website",
            "created_at",
            "updated_at",
        ]
