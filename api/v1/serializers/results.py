"""Results, indicators and periods: read with what they contain, written one object at a time.

A result is read with its indicators, and each indicator with its periods (active ones,
by code), so one call gives a project's whole results framework. Writes go to each
object's own resource: `/results/` (or `/projects/{code}/results/`), `/indicators/` (with
the `result` it measures) and `/periods/` (with its `indicator`). Codes are issued.
"""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.errors import RULE
from api.fields import (
    LABELS,
    CodedValueField,
    CodeLabelField,
    PlainDecimalField,
    PlanSerializer,
    StrictCharField,
    StrictSerializer,
    TranslatedField,
    TranslationsField,
    WriteSerializer,
)
from api.permissions import actor_for
from workplan.choices import IndicatorMeasure, ResultType, SourceKind
from workplan.models import Indicator, IndicatorPeriod, Project, Result
from workplan.models.base import code_validator

from .progress import ProgressSourceSerializer, ProgressSourceWriteSerializer, value_write_field
from .projects import ProjectBriefSerializer


def _value(source: str, help_text: str) -> PlainDecimalField:
    return PlainDecimalField(
        source=source,
        max_digits=17,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text=help_text,
    )


class _Present(serializers.Field):
    """A nested object read from the object's own fields, or null when it has none."""

    nested: type[serializers.Serializer]
    present: tuple[str, ...]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> dict[str, Any] | None:
        if not any(getattr(value, name) not in (None, "") for name in self.present):
            return None
        return self.nested(value, context=self.context).data


class BaselineSerializer(serializers.Serializer):
    year = serializers.IntegerField(source="baseline_year", read_only=True, allow_null=True)
    value = _value("baseline_value", "Null for qualitative indicators or where not known.")
    comment = TranslatedField("baseline_comment")


@extend_schema_field(BaselineSerializer(allow_null=True))
class BaselineField(_Present):
    """The indicator's baseline, or null where none is given."""

    nested = BaselineSerializer
    present = ("baseline_year", "baseline_value", "baseline_comment_en")


class TargetSerializer(serializers.Serializer):
    value = _value("target_value", "Null where the target is only described.")
    comment = TranslatedField("target_comment")


@extend_schema_field(TargetSerializer(allow_null=True))
class TargetField(_Present):
    """The period's target, or null where none was set."""

    nested = TargetSerializer
    present = ("target_value", "target_comment_en")


class ActualSerializer(serializers.Serializer):
    value = _value("actual_value", "Null where the actual is only described.")
    comment = TranslatedField("actual_comment")


@extend_schema_field(ActualSerializer(allow_null=True))
class ActualField(_Present):
    """The period's actual value, or null where none is known yet."""

    nested = ActualSerializer
    present = ("actual_value", "actual_comment_en")


@extend_schema_field(ProgressSourceSerializer(allow_null=True))
class SourceField(_Present):
    """Where the actual value was published, or null where no source is given."""

    nested = ProgressSourceSerializer
    present = ("source_title",)


class IndicatorPeriodSerializer(PlanSerializer):
    """An indicator's target and actual over a period (IATI `period`)."""

    url = serializers.HyperlinkedIdentityField(view_name="period-detail", lookup_field="code")
    indicator: serializers.SlugRelatedField[Indicator] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="The code of the indicator."
    )
    start = serializers.DateField(
        source="period_start", read_only=True, allow_null=True, help_text="Null where not given."
    )
    end = serializers.DateField(
        source="period_end", read_only=True, allow_null=True, help_text="Null where not given."
    )
    target = TargetField()
    actual = ActualField()
    source = SourceField()  # type: ignore[assignment]
    translations = TranslationsField(
        "target_comment", "actual_comment", help_text="Comments in every language (`lang=all`)."
    )

    class Meta:
        model = IndicatorPeriod
        fields = [
            "code",
            "url",
            "indicator",
            "start",
            "end",
            "target",
            "actual",
            "source",
            "translations",
            "created_at",
            "updated_at",
        ]


class IndicatorSerializer(PlanSerializer):
    """What measures a result (IATI `indicator`), with its baseline and periods."""

    url = serializers.HyperlinkedIdentityField(view_name="indicator-detail", lookup_field="code")
    result: serializers.SlugRelatedField[Result] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="The code of the result."
    )
    measure = CodedValueField(IndicatorMeasure.choices, "IATI IndicatorMeasure", read_only=True)
    measure_label = CodeLabelField("measure", "indicator-measure")
    ascending = serializers.BooleanField(
        read_only=True, help_text="Whether a higher value is better."
    )
    title = TranslatedField("title")
    description = TranslatedField("description")
    translations = TranslationsField("title", "description", "baseline_comment")
    baseline = BaselineField()
    periods = IndicatorPeriodSerializer(
        source="active_periods", many=True, read_only=True, help_text="Oldest code first."
    )

    expansions = {"labels": LABELS}

    class Meta:
        model = Indicator
        fields = [
            "code",
            "url",
            "result",
            "measure",
            "measure_label",
            "ascending",
            "title",
            "description",
            "translations",
            "baseline",
            "periods",
            "created_at",
            "updated_at",
        ]


class ResultSerializer(PlanSerializer):
    """A result a project means to achieve (IATI `result`), with its indicators."""

    url = serializers.HyperlinkedIdentityField(view_name="result-detail", lookup_field="code")
    project = ProjectBriefSerializer(read_only=True)
    type = CodedValueField(ResultType.choices, "IATI ResultType", read_only=True)
    type_label = CodeLabelField("type", "result-type")
    aggregation_status = serializers.BooleanField(
        read_only=True,
        allow_null=True,
        help_text="Whether the result's data suit aggregation; null where not said.",
    )
    title = TranslatedField("title")
    description = TranslatedField("description")
    translations = TranslationsField("title", "description")
    indicators = IndicatorSerializer(
        source="active_indicators", many=True, read_only=True, help_text="By code."
    )

    expansions = {"labels": LABELS}

    class Meta:
        model = Result
        fields = [
            "code",
            "url",
            "project",
            "type",
            "type_label",
            "aggregation_status",
            "title",
            "description",
            "translations",
            "indicators",
            "created_at",
            "updated_at",
        ]


# -- writes ----------------------------------------------------------------------------


def _visible_parent(serializer: WriteSerializer, name: str, model: type) -> None:
    """A parent the caller cannot see is unknown to it, not forbidden."""
    request = serializer.context.get("request")
    if name in serializer.fields and request is not None:
        field = serializer.fields[name]
        field.queryset = model.objects.visible_to(actor_for(request))  # type: ignore[attr-defined]


class ResultWriteSerializer(WriteSerializer):
    """A result as a partner sends it, on a `project` (agency editors: only on projects
    their agency takes part in). The code is issued."""

    read_only_names = WriteSerializer.read_only_names | {
        "code",
        "title",
        "description",
        "indicators",
        "type_label",
    }
    project = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Project.objects.active(),
        help_text="The code of the project the result belongs to.",
    )

    class Meta:
        model = Result
        fields = [
            "project",
            "type",
            "aggregation_status",
            "title_en",
            "title_es",
            "description_en",
            "description_es",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _visible_parent(self, "project", Project)


class ProjectResultWriteSerializer(ResultWriteSerializer):
    """A result on the project named in the URL."""

    read_only_names = ResultWriteSerializer.read_only_names | {"project"}
    project = None  # type: ignore[assignment]

    class Meta(ResultWriteSerializer.Meta):
        fields = [f for f in ResultWriteSerializer.Meta.fields if f != "project"]

    def service_data(self) -> dict[str, Any]:
        return {**super().service_data(), "project": self.context["project"]}


class BaselineWriteSerializer(StrictSerializer):
    year = serializers.IntegerField(min_value=1900, max_value=2100, required=False, allow_null=True)
    value = value_write_field()
    comment_en = StrictCharField(required=False, allow_blank=True, max_length=5000)
    comment_es = StrictCharField(required=False, allow_blank=True, max_length=5000)


class IndicatorWriteSerializer(WriteSerializer):
    """An indicator of a `result`. `baseline` replaces the current one when given (null
    clears it). The code is issued."""

    read_only_names = WriteSerializer.read_only_names | {
        "code",
        "title",
        "description",
        "periods",
        "measure_label",
    }
    result = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Result.objects.active(),
        help_text="The code of the result the indicator measures.",
    )
    baseline = BaselineWriteSerializer(allow_null=True, required=False)

    class Meta:
        model = Indicator
        fields = [
            "result",
            "measure",
            "ascending",
            "title_en",
            "title_es",
            "description_en",
            "description_es",
            "baseline",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _visible_parent(self, "result", Result)

    def service_data(self) -> dict[str, Any]:
        return indicator_service_data(self.validated_data)


def indicator_service_data(validated: Any) -> dict[str, Any]:
    """An indicator's validated input as the services take it."""
    data = dict(validated)
    if "baseline" in data:
        baseline = data.pop("baseline") or {}
        data |= {
            "baseline_year": baseline.get("year"),
            "baseline_value": baseline.get("value"),
            "baseline_comment_en": baseline.get("comment_en", ""),
            "baseline_comment_es": baseline.get("comment_es", ""),
        }
    return data


class CommentedValueWriteSerializer(StrictSerializer):
    value = value_write_field()
    comment_en = StrictCharField(required=False, allow_blank=True, max_length=5000)
    comment_es = StrictCharField(required=False, allow_blank=True, max_length=5000)


class IndicatorPeriodWriteSerializer(WriteSerializer):
    """A period of an `indicator`: `start` and `end` (optional), `target` and `actual`
    (each replaced as a whole when given; null clears it), and the `source` where the
    actual was published (null clears it). The code is issued."""

    read_only_names = WriteSerializer.read_only_names | {"code"}
    indicator = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Indicator.objects.active(),
        help_text="The code of the indicator measured.",
    )
    start = serializers.DateField(required=False, allow_null=True)
    end = serializers.DateField(required=False, allow_null=True)
    target = CommentedValueWriteSerializer(allow_null=True, required=False)
    actual = CommentedValueWriteSerializer(allow_null=True, required=False)
    source = ProgressSourceWriteSerializer(allow_null=True, required=False)  # type: ignore[assignment]

    class Meta:
        model = IndicatorPeriod
        fields = ["indicator", "start", "end", "target", "actual", "source"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _visible_parent(self, "indicator", Indicator)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and end < start:
            raise serializers.ValidationError(
                {"end": "The period ends before it starts."}, code=RULE
            )
        return attrs

    def service_data(self) -> dict[str, Any]:
        return period_service_data(self.validated_data)


def period_service_data(validated: Any) -> dict[str, Any]:
    """A period's validated input as the services take it."""
    data = dict(validated)
    for name in ("start", "end"):
        if name in data:
            data[f"period_{name}"] = data.pop(name)
    for name in ("target", "actual"):
        if name in data:
            given = data.pop(name) or {}
            data |= {
                f"{name}_value": given.get("value"),
                f"{name}_comment_en": given.get("comment_en", ""),
                f"{name}_comment_es": given.get("comment_es", ""),
            }
    if "source" in data:
        source = data.pop("source") or {"title": ""}
        source = {"kind": SourceKind.STATED, "publisher": "", "date": None, "url": ""} | source
        data |= {f"source_{key}": value for key, value in source.items()}
    return data


# -- results sent with a project (bulk upsert) ------------------------------------------------


def _bulk_code() -> StrictCharField:
    return StrictCharField(
        max_length=32,
        required=False,
        validators=[code_validator],
        help_text="The code of an existing object to change, or of a new one; without a "
        "code one is issued.",
    )


class BulkPeriodSerializer(IndicatorPeriodWriteSerializer):
    """A period sent within its indicator: upserted by `code`."""

    read_only_names = IndicatorPeriodWriteSerializer.read_only_names - {"code"}
    indicator = None  # type: ignore[assignment]
    code = _bulk_code()

    class Meta(IndicatorPeriodWriteSerializer.Meta):
        fields = ["code", "start", "end", "target", "actual", "source"]


class BulkIndicatorSerializer(IndicatorWriteSerializer):
    """An indicator sent within its result, with its `periods`: upserted by `code`."""

    read_only_names = IndicatorWriteSerializer.read_only_names - {"code", "periods"}
    result = None  # type: ignore[assignment]
    code = _bulk_code()
    periods = BulkPeriodSerializer(many=True, required=False)

    class Meta(IndicatorWriteSerializer.Meta):
        fields = ["code", *(f for f in IndicatorWriteSerializer.Meta.fields if f != "result")]
        fields.append("periods")


class BulkResultSerializer(ResultWriteSerializer):
    """A result sent with its project (`results` of a bulk item), with its `indicators`
    and their `periods`: each upserted by `code`; what is not sent is left as it is."""

    read_only_names = ResultWriteSerializer.read_only_names - {"code", "indicators"}
    project = None  # type: ignore[assignment]
    code = _bulk_code()
    indicators = BulkIndicatorSerializer(many=True, required=False)

    class Meta(ResultWriteSerializer.Meta):
        fields = ["code", *(f for f in ResultWriteSerializer.Meta.fields if f != "project")]
        fields.append("indicators")

    def service_data(self) -> dict[str, Any]:
        return bulk_result_data(self.validated_data)


def bulk_result_data(validated: Any) -> dict[str, Any]:
    """A result with its indicators and periods, as `project_results_upsert` takes it."""
    data = dict(validated)
    if "indicators" in data:
        indicators = []
        for indicator in data.pop("indicators"):
            item = indicator_service_data(indicator)
            if "periods" in item:
                item["periods"] = [period_service_data(p) for p in item.pop("periods")]
            indicators.append(item)
        data["indicators"] = indicators
    return data


__all__ = [
    "BulkResultSerializer",
    "bulk_result_data",
    "IndicatorPeriodSerializer",
    "IndicatorPeriodWriteSerializer",
    "IndicatorSerializer",
    "IndicatorWriteSerializer",
    "ProjectResultWriteSerializer",
    "ResultSerializer",
    "ResultWriteSerializer",
]
