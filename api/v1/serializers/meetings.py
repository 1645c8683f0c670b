from typing import Any

from rest_framework import serializers

from api.fields import (
    LABELS,
    CodedValueField,
    CodeLabelField,
    CodeURLField,
    Expansion,
    OptionalURLField,
    PlanSerializer,
    StrictCharField,
    StrictSerializer,
    TranslatedField,
    TranslationsField,
    WriteSerializer,
    expandable,
)
from workplan.choices import MeetingKind, MeetingProjectKind, country_choices
from workplan.models import Agency, Meeting, MeetingChair, MeetingProject, MeetingSource, Project

from .agencies import AgencyBriefSerializer, AgencySerializer
from .projects import ProjectBriefSerializer


class MeetingBriefSerializer(PlanSerializer):
    """A reference to a meeting: its code, URL, date, kind and place."""

    url = CodeURLField("meeting-detail")
    kind = CodedValueField(MeetingKind.choices, "Meeting kind", read_only=True)
    kind_label = CodeLabelField("kind", "meeting-kind")
    place = TranslatedField("place")
    translations = TranslationsField("place")

    class Meta:
        model = Meeting
        fields = ["code", "url", "date", "kind", "kind_label", "place", "translations"]


class MeetingChairSerializer(serializers.ModelSerializer):
    agency = expandable(AgencyBriefSerializer, "Agency", "agencies")
    country = CodedValueField(country_choices(), "ISO 3166-1 alpha-2", read_only=True)
    country_label = CodeLabelField("country", "country")
    person_name = serializers.CharField(read_only=True)
    position = TranslatedField("position")
    translations = TranslationsField("position")

    class Meta:
        model = MeetingChair
        fields = ["agency", "country", "country_label", "person_name", "position", "translations"]


class SourceSerializer(serializers.ModelSerializer):
    title = serializers.CharField(read_only=True, help_text="As published.")
    publisher = serializers.CharField(
        read_only=True, help_text="An empty string where it is not known."
    )
    date = serializers.DateField(read_only=True, allow_null=True, help_text="Publication date.")
    url = serializers.CharField(
        read_only=True, help_text="Address of the document; an empty string where none is known."
    )

    class Meta:
        model = MeetingSource
        fields = ["title", "publisher", "date", "url"]


class MeetingProjectSerializer(serializers.ModelSerializer):
    project = ProjectBriefSerializer(read_only=True)
    kind = CodedValueField(MeetingProjectKind.choices, "What the meeting did", read_only=True)
    kind_label = CodeLabelField("kind", "meeting-project-kind")

    class Meta:
        model = MeetingProject
        fields = ["project", "kind", "kind_label"]


class MeetingSerializer(PlanSerializer):
    """A meeting of the dialogue, with its chairs, sources and projects."""

    url = CodeURLField("meeting-detail")
    kind = CodedValueField(MeetingKind.choices, "Meeting kind", read_only=True)
    kind_label = CodeLabelField("kind", "meeting-kind")
    place = TranslatedField("place")
    summary = TranslatedField("summary")
    translations = TranslationsField("place", "summary")
    chairs = MeetingChairSerializer(many=True, read_only=True)
    sources = SourceSerializer(many=True, read_only=True)
    projects = MeetingProjectSerializer(
        source="public_links",
        many=True,
        read_only=True,
        help_text="Published projects the meeting reviewed or launched.",
    )

    expansions = {
        "labels": LABELS,
        "agencies": Expansion(
            "gives each chairing agency whole (with its parent) instead of its brief reference",
            "chairs.agency",
            lambda: AgencySerializer(read_only=True),
            ("chairs__agency__parent",),
        ),
    }

    class Meta:
        model = Meeting
        fields = [
            "code",
            "url",
            "date",
            "kind",
            "kind_label",
            "place",
            "summary",
            "translations",
            "chairs",
            "sources",
            "projects",
            "created_at",
            "updated_at",
        ]


class ChairWriteSerializer(StrictSerializer):
    agency = serializers.SlugRelatedField(
        slug_field="code", queryset=Agency.objects.active(), help_text="The agency's code."
    )
    person_name = StrictCharField(max_length=200)
    position_en = StrictCharField(max_length=200, required=False, allow_blank=True)
    position_es = StrictCharField(max_length=200, required=False, allow_blank=True)


class SourceWriteSerializer(StrictSerializer):
    title = StrictCharField(max_length=500)
    publisher = StrictCharField(max_length=300, required=False, allow_blank=True)
    date = serializers.DateField(required=False, allow_null=True)
    url = OptionalURLField()


class MeetingProjectWriteSerializer(StrictSerializer):
    project = serializers.SlugRelatedField(
        slug_field="code", queryset=Project.objects.active(), help_text="The project's code."
    )
    kind = serializers.ChoiceField(MeetingProjectKind.choices, default=MeetingProjectKind.REVIEWED)


class MeetingWriteSerializer(WriteSerializer):
    """A meeting as a plan admin sends it. Lists (`chairs`, `sources`, `projects`) replace
    the current ones when given, and list each project once; a meeting shows only its
    published projects."""

    read_only_names = WriteSerializer.read_only_names | {"place", "summary"}
    chairs = ChairWriteSerializer(many=True, required=False)
    sources = SourceWriteSerializer(many=True, required=False)
    projects = MeetingProjectWriteSerializer(many=True, required=False)

    class Meta:
        model = Meeting
        fields = [
            "code",
            "date",
            "kind",
            "place_en",
            "place_es",
            "summary_en",
            "summary_es",
            "chairs",
            "sources",
            "projects",
        ]

    def service_data(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        for name in ("chairs", "sources", "projects"):
            if name in data:
                data[name] = [dict(row) for row in data[name]]
        return data
