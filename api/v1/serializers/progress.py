from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.errors import RULE
from api.fields import (
    LABELS,
    CodedValueField,
    CodeLabelField,
    CodeURLField,
    Expansion,
    OptionalURLField,
    PlainDecimalField,
    PlanSerializer,
    StrictCharField,
    StrictSerializer,
    TranslatedField,
    TranslationsField,
    WriteSerializer,
    expandable,
)
from api.permissions import actor_for
from workplan.choices import SourceKind
from workplan.models import Goal, Meeting, ProgressReport, Project, ProjectAgencyRole

from .meetings import MeetingBriefSerializer
from .plan import GoalBriefSerializer, PillarBriefSerializer
from .projects import ProjectBriefSerializer, ProjectSerializer

VALUE_BOUND = Decimal(10**15)


class ProgressSourceSerializer(serializers.Serializer):
    kind = CodedValueField(SourceKind.choices, "Source kind", source="source_kind", read_only=True)
    kind_label = CodeLabelField("kind", "source-kind", "source_kind")
    title = serializers.CharField(source="source_title", read_only=True, help_text="As published.")
    publisher = serializers.CharField(
        source="source_publisher",
        read_only=True,
        help_text="An empty string where it is not known.",
    )
    date = serializers.DateField(
        source="source_date", read_only=True, allow_null=True, help_text="Publication date."
    )
    url = serializers.CharField(
        source="source_url",
        read_only=True,
        help_text="Address of the document; an empty string where none is known.",
    )


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField(source="period_start", read_only=True, allow_null=True)
    end = serializers.DateField(source="period_end", read_only=True, allow_null=True)


class MeasureSerializer(serializers.Serializer):
    indicator = TranslatedField("indicator")
    translations = TranslationsField("indicator")
    unit = serializers.CharField(read_only=True)
    baseline = PlainDecimalField(
        source="baseline_value", max_digits=17, decimal_places=2, read_only=True, allow_null=True
    )
    target = PlainDecimalField(
        source="target_value", max_digits=17, decimal_places=2, read_only=True, allow_null=True
    )
    value = PlainDecimalField(
        source="actual_value", max_digits=17, decimal_places=2, read_only=True, allow_null=True
    )


class _WholeObjectField(serializers.Field):
    """A nested object read from the report's own fields, or null when it has none."""

    nested: type[serializers.Serializer]
    present: tuple[str, ...]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, value: ProgressReport) -> dict[str, Any] | None:
        if not any(getattr(value, name) not in (None, "") for name in self.present):
            return None
        return self.nested(value, context=self.context).data


@extend_schema_field(PeriodSerializer(allow_null=True))
class PeriodField(_WholeObjectField):
    """The period the report covers, or null where none is given."""

    nested = PeriodSerializer
    present = ("period_start", "period_end")


@extend_schema_field(MeasureSerializer(allow_null=True))
class MeasureField(_WholeObjectField):
    """What the report measures (indicator, unit, baseline, target, value), or null."""

    nested = MeasureSerializer
    present = ("indicator_en",)


class ProgressReportBriefSerializer(PlanSerializer):
    """A reference to a progress report: its code, URL and date (a report has no name)."""

    url = CodeURLField("progress-detail")

    class Meta:
        model = ProgressReport
        fields = ["code", "url", "date"]


class ProgressReportSerializer(PlanSerializer):
    """Reported progress on a project or a goal, with its source."""

    url = CodeURLField("progress-detail")
    narrative = TranslatedField("narrative")
    translations = TranslationsField("narrative")
    project = expandable(
        ProjectBriefSerializer,
        "Project",
        "project",
        allow_null=True,
        help_text="The project reported on; null for a goal.",
    )
    goal = serializers.SerializerMethodField(
        help_text="The goal reported on, or the goal of the project reported on."
    )
    pillar = serializers.SerializerMethodField(help_text="The pillar of that goal.")
    meeting = MeetingBriefSerializer(
        read_only=True, allow_null=True, help_text="The meeting it was reported at, if any."
    )
    source = ProgressSourceSerializer(source="*", read_only=True)  # type: ignore[assignment]
    period = PeriodField()
    measure = MeasureField()

    expansions = {
        "labels": LABELS,
        "project": Expansion(
            "gives the project reported on whole (as `/projects/{code}/` does) instead of "
            "its brief reference",
            "project",
            lambda: ProjectSerializer(read_only=True, allow_null=True),
            (
                Prefetch(
                    "project__agency_roles",
                    queryset=ProjectAgencyRole.objects.select_related("agency").order_by(
                        "country", "agency__code"
                    ),
                ),
                "project__countries",
                "project__links",
            ),
        ),
    }

    class Meta:
        model = ProgressReport
        fields = [
            "code",
            "url",
            "date",
            "narrative",
            "translations",
            "project",
            "goal",
            "pillar",
            "meeting",
            "source",
            "period",
            "measure",
            "created_at",
            "updated_at",
        ]

    @staticmethod
    def _goal(report: ProgressReport) -> Goal:
        goal = report.goal if report.project is None else report.project.goal
        assert goal is not None  # a report is on a project or a goal (a database check)
        return goal

    @extend_schema_field(GoalBriefSerializer)
    def get_goal(self, report: ProgressReport) -> dict[str, Any]:
        return GoalBriefSerializer(self._goal(report), context=self.context).data

    @extend_schema_field(PillarBriefSerializer)
    def get_pillar(self, report: ProgressReport) -> dict[str, Any]:
        return PillarBriefSerializer(self._goal(report).pillar, context=self.context).data


class ProgressSourceWriteSerializer(StrictSerializer):
    kind = serializers.ChoiceField(
        SourceKind.choices,
        default=SourceKind.STATED,
        help_text="`stated`: published by a government; `entered`: entered by an agency.",
    )
    title = StrictCharField(max_length=500)
    publisher = StrictCharField(max_length=300, required=False, allow_blank=True)
    date = serializers.DateField(required=False, allow_null=True)
    url = OptionalURLField()


class PeriodWriteSerializer(StrictSerializer):
    start = serializers.DateField(required=False, allow_null=True)
    end = serializers.DateField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and end < start:
            raise serializers.ValidationError(
                {"end": "The period ends before it starts."}, code=RULE
            )
        return attrs


def value_write_field() -> PlainDecimalField:
    return PlainDecimalField(
        max_digits=17,
        decimal_places=2,
        required=False,
        allow_null=True,
        min_value=-VALUE_BOUND,
        max_value=VALUE_BOUND,
    )


class MeasureWriteSerializer(StrictSerializer):
    indicator_en = StrictCharField(max_length=300)
    indicator_es = StrictCharField(max_length=300)
    unit = StrictCharField(max_length=40, required=False, allow_blank=True)
    baseline = value_write_field()
    target = value_write_field()
    value = value_write_field()


class ProgressReportWriteSerializer(WriteSerializer):
    """A progress report as a partner system sends it: on a `project` or a `goal` (exactly
    one; agency editors only on their agency's projects). The code is issued by the API.
    `source` is required on creation; `period` and `measure` replace the current ones when
    given (null clears them)."""

    read_only_names = WriteSerializer.read_only_names | {"code", "narrative", "pillar"}
    project = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Project.objects.active(),
        allow_null=True,
        required=False,
        help_text="The code of the project reported on.",
    )
    goal = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Goal.objects.active(),
        allow_null=True,
        required=False,
        help_text="The code of the goal reported on (plan admins).",
    )
    meeting = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Meeting.objects.active(),
        allow_null=True,
        required=False,
        help_text="The code of the meeting it was reported at.",
    )
    source = ProgressSourceWriteSerializer()  # type: ignore[assignment]
    period = PeriodWriteSerializer(allow_null=True, required=False)
    measure = MeasureWriteSerializer(allow_null=True, required=False)

    class Meta:
        model = ProgressReport
        fields = [
            "project",
            "goal",
            "date",
            "narrative_en",
            "narrative_es",
            "meeting",
            "source",
            "period",
            "measure",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if "project" in self.fields and request is not None:
            # A project the caller cannot see is unknown to it, not forbidden.
            field = self.fields["project"]
            field.queryset = Project.objects.visible_to(actor_for(request))  # type: ignore[attr-defined]
        if self.instance is not None:
            self.fields["source"].required = False

    def service_data(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        if "source" in data:
            source = data.pop("source")
            if not self.partial:  # a whole source: what is left out is reset
                source = {"kind": SourceKind.STATED, "publisher": "", "date": None, "url": ""} | (
                    source
                )
            data |= {f"source_{key}": value for key, value in source.items()}
        # A period or a measure is replaced as a whole (null clears it).
        if "period" in data:
            period = data.pop("period") or {}
            data["period_start"] = period.get("start")
            data["period_end"] = period.get("end")
        if "measure" in data:
            measure = data.pop("measure") or {}
            data |= {
                "indicator_en": measure.get("indicator_en", ""),
                "indicator_es": measure.get("indicator_es", ""),
                "unit": measure.get("unit", ""),
                "baseline_value": measure.get("baseline"),
                "target_value": measure.get("target"),
                "actual_value": measure.get("value"),
            }
        return data


class ProjectProgressWriteSerializer(ProgressReportWriteSerializer):
    """A progress report on the project named in the URL."""

    read_only_names = ProgressReportWriteSerializer.read_only_names | {"project", "goal"}
    project = None  # type: ignore[assignment]
    goal = None  # type: ignore[assignment]

    class Meta(ProgressReportWriteSerializer.Meta):
        fields = [
            f for f in ProgressReportWriteSerializer.Meta.fields if f not in ("project", "goal")
        ]

    def service_data(self) -> dict[str, Any]:
        return {**super().service_data(), "project": self.context["project"]}
