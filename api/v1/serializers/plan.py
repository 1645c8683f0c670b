from django.db.models import Prefetch
from rest_framework import serializers

from api.fields import (
    CodeURLField,
    Expansion,
    PlanSerializer,
    TranslatedField,
    TranslationsField,
    WriteSerializer,
    expandable,
)
from workplan.models import Goal, Pillar


class PillarBriefSerializer(PlanSerializer):
    """A reference to a pillar: its code, URL and name."""

    url = CodeURLField("pillar-detail")
    name = TranslatedField("name")
    translations = TranslationsField("name")

    class Meta:
        model = Pillar
        fields = ["code", "url", "number", "name", "translations"]


class GoalBriefSerializer(PlanSerializer):
    """A reference to a goal: its code, URL and name."""

    url = CodeURLField("goal-detail")
    title = TranslatedField("title")
    translations = TranslationsField("title")

    class Meta:
        model = Goal
        fields = ["code", "url", "title", "translations"]


class PillarSerializer(PlanSerializer):
    """A pillar of the plan with its goals."""

    url = CodeURLField("pillar-detail")
    name = TranslatedField("name")
    description = TranslatedField("description")
    translations = TranslationsField("name", "description")
    goals = GoalBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Pillar
        fields = [
            "code",
            "url",
            "number",
            "name",
            "description",
            "translations",
            "goals",
            "created_at",
            "updated_at",
        ]


class GoalSerializer(PlanSerializer):
    """A goal, with its pillar."""

    url = CodeURLField("goal-detail")
    title = TranslatedField("title")
    description = TranslatedField("description")
    translations = TranslationsField("title", "description")
    pillar = expandable(PillarBriefSerializer, "Pillar", "pillar")

    expansions = {
        "pillar": Expansion(
            "gives the whole pillar, with its goals, instead of its brief reference",
            "pillar",
            lambda: PillarSerializer(read_only=True),
            (Prefetch("pillar__goals", queryset=Goal.objects.active().order_by("number")),),
        ),
    }

    class Meta:
        model = Goal
        fields = [
            "code",
            "url",
            "number",
            "title",
            "description",
            "translations",
            "pillar",
            "created_at",
            "updated_at",
        ]


class PillarWriteSerializer(WriteSerializer):
    """A pillar as a plan admin sends it."""

    read_only_names = WriteSerializer.read_only_names | {"name", "description", "goals"}

    class Meta:
        model = Pillar
        fields = ["code", "number", "name_en", "name_es", "description_en", "description_es"]


class GoalWriteSerializer(WriteSerializer):
    """A goal as a plan admin sends it; `pillar` is the pillar's code."""

    read_only_names = WriteSerializer.read_only_names | {"title", "description"}
    pillar = serializers.SlugRelatedField(slug_field="code", queryset=Pillar.objects.active())

    class Meta:
        model = Goal
        fields = [
            "code",
            "pillar",
            "number",
            "title_en",
            "title_es",
            "description_en",
            "description_es",
        ]
