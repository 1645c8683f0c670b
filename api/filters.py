"""FilterSets shared by every API version.

Every value a client sends is checked: an unknown code, acronym, country or status
is a 400 that names the parameter, never an empty result that looks like "nothing".
"""

from datetime import UTC
from typing import Any

import django_filters
from django import forms
from django.db.models import Model, Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from api.errors import QueryParameterError
from workplan.choices import (
    ActivityStatus,
    IndicatorMeasure,
    MeetingKind,
    ResultType,
    SourceKind,
    country_choices,
)
from workplan.models import (
    Agency,
    Goal,
    Indicator,
    IndicatorPeriod,
    Meeting,
    MeetingChair,
    MeetingProject,
    Pillar,
    ProgressReport,
    Project,
    ProjectAgencyRole,
    ProjectCountry,
    Result,
)
from workplan.search import SearchFields, search


def _split(values: list[str]) -> list[str]:
    """Accept both repeated parameters and comma-separated lists; codes are upper case."""
    # Only ASCII is upper-cased: "ß".upper() is "SS", which would match South Sudan.
    return [
        part.strip().upper() if part.isascii() else part.strip()
        for value in values
        for part in value.split(",")
        if part.strip()
    ]


class UpperMultipleChoiceField(forms.MultipleChoiceField):
    def to_python(self, value: Any) -> list[str]:
        return _split(super().to_python(value))


class ListFilter(django_filters.MultipleChoiceFilter):
    """Codes from a codelist, in any case, repeated or comma-separated (ISO countries
    by default)."""

    field_class = UpperMultipleChoiceField

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", country_choices)
        super().__init__(**kwargs)
        choices = kwargs["choices"]() if callable(kwargs["choices"]) else kwargs["choices"]
        # The codes the filter accepts, listed in the schema (drf-spectacular cannot read
        # choices given as a callable).
        extend_schema_field(
            {
                "type": "string",
                "enum": [code for code, _ in choices],
                "description": kwargs.get("label") or "",
            },
            component_name=None,
        )(self)


class LowerMultipleChoiceField(forms.MultipleChoiceField):
    def to_python(self, value: Any) -> list[str]:
        return [part.lower() for part in _split(super().to_python(value))]


class LowerListFilter(django_filters.MultipleChoiceFilter):
    """Values of a lower-case codelist (`ministerial`, `stated`), in any case, repeated or
    comma-separated."""

    field_class = LowerMultipleChoiceField


class AnyValuesField(forms.MultipleChoiceField):
    """Takes any values; the filter checks them against the database in one query."""

    def to_python(self, value: Any) -> list[str]:
        return _split(super().to_python(value))

    def valid_value(self, value: Any) -> bool:
        return True


class CodeFilter(django_filters.MultipleChoiceFilter):
    """Filter by the public codes (or other unique keys) of a related model.

    One query resolves every value; any value that matches nothing is refused.
    `through` names a path used as a subquery, so filtering across a many-valued
    relation needs no DISTINCT.
    """

    field_class = AnyValuesField

    def __init__(
        self,
        *,
        model: type[Model],
        keys: tuple[str, ...] = ("code",),
        through: tuple[type[Model], str, str] | None = None,
        also: tuple[str, ...] = (),
        owner_lookup: str = "pk",
        visible_only: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("distinct", False)
        super().__init__(**kwargs)
        label = kwargs.get("label") or ""
        self.target_model = model
        # Documents each value as a string; the label becomes the parameter's description.
        extend_schema_field({"type": "string", "description": label})(self)
        self.keys = keys
        self.through = through
        # Further paths that match too (a report's own goal, or its project's goal).
        self.also = also
        # What the `through` rows point at (`project` when filtering reports by the
        # agencies of their project).
        self.owner_lookup = owner_lookup
        # Codes of objects the caller may not see filter like unknown ones, so the answer
        # never tells that an unpublished project exists.
        self.visible_only = visible_only

    def candidates(self) -> QuerySet:
        rows = self.target_model._default_manager.filter(archived_at__isnull=True)
        if self.visible_only:
            from api.permissions import actor_for
            from workplan.policy import visible

            rows = visible(actor_for(self.parent.request), rows)
        return rows

    def filter(self, qs: QuerySet, value: list[str]) -> QuerySet:
        if not value:
            return qs
        condition = Q()
        for key in self.keys:
            condition |= Q(**{f"{key}__in": value})
        # Archived objects are not offered: their codes filter like unknown ones.
        rows = list(self.candidates().filter(condition).values_list("pk", *self.keys))
        known = {str(v).upper() for row in rows for v in row[1:] if v}
        unknown = [v for v in value if v not in known]
        if unknown:
            raise QueryParameterError(
                {self.param_name: [f"Unknown value(s): {', '.join(unknown)}."]}
            )
        pks = [row[0] for row in rows]
        if self.through is not None:
            through_model, owner, target = self.through
            rows_of = through_model._default_manager.filter(**{f"{target}__in": pks}).values(owner)
            return qs.filter(**{f"{self.owner_lookup}__in": rows_of})
        condition = Q()
        for path in (self.field_name, *self.also):
            condition |= Q(**{f"{path}__in": pks})
        return qs.filter(condition)


class SafeIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time that also fits in UTC (9999-12-31T23:59-23:00 does not)."""

    def clean(self, value: Any) -> Any:
        result = super().clean(value)
        if result is not None:
            try:
                result.astimezone(UTC)
            except OverflowError as exc:
                raise forms.ValidationError("The date-time is out of range.") from exc
        return result


class SafeIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = SafeIsoDateTimeField


class PlanFilterSet(django_filters.FilterSet):
    """Base FilterSet: `updated_since` on every list."""

    updated_since = SafeIsoDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        label="Objects changed at or after this ISO 8601 date-time, e.g. 2021-12-13T00:00Z.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, flt in self.filters.items():
            flt.param_name = name

    # What `q` searches; subclasses that offer `q` name the fields.
    search_fields: SearchFields

    def filter_q(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        # Ranked by relevance unless the client chose an order.
        ranked = not self.form.cleaned_data.get("ordering")
        return search(qs, value, self.search_fields, ranked=ranked)


def search_parameter(searched: str, first: str = "") -> django_filters.CharFilter:
    """`q`, documented; `first` says which matches rank first."""
    order = f"best match first ({first})" if first else "best match first"
    return django_filters.CharFilter(
        method="filter_q",
        max_length=200,
        label=(
            f"Search {searched}, in English and Spanish. Every word must match, in either "
            "language, whatever its accents and case (`energia` finds `energía`); words are "
            "stemmed in each field's language (`cadenas` finds `cadena`) and match word "
            f"beginnings (`semicond` finds `semiconductores`). Results come {order} unless "
            "`ordering` is given."
        ),
    )


def text_fields(*bases: str) -> tuple[str, ...]:
    return tuple(f"{base}_{lang}" for base in bases for lang in ("en", "es"))


class PillarFilterSet(PlanFilterSet):
    q = search_parameter(
        "names and descriptions", "a match in a name before one only in a description"
    )
    search_fields = SearchFields(titles=text_fields("name"), texts=text_fields("description"))
    ordering = django_filters.OrderingFilter(
        fields=(("number", "number"), ("code", "code"), ("updated_at", "updated_at"))
    )

    class Meta:
        model = Pillar
        fields: list[str] = []


class GoalFilterSet(PlanFilterSet):
    pillar = CodeFilter(model=Pillar, field_name="pillar", label="Pillar code(s), e.g. P1.")
    q = search_parameter(
        "titles and descriptions", "a match in a title before one only in a description"
    )
    search_fields = SearchFields(titles=text_fields("title"), texts=text_fields("description"))
    ordering = django_filters.OrderingFilter(
        fields=(
            ("pillar__number", "pillar"),
            ("number", "number"),
            ("code", "code"),
            ("updated_at", "updated_at"),
        )
    )

    class Meta:
        model = Goal
        fields: list[str] = []


class AgencyFilterSet(PlanFilterSet):
    country = ListFilter(label="ISO 3166-1 alpha-2 country code(s), e.g. MX.")
    q = search_parameter("acronyms, codes and names")
    search_fields = SearchFields(titles=("acronym", "code", *text_fields("name")))
    ordering = django_filters.OrderingFilter(
        fields=(
            ("code", "code"),
            ("acronym", "acronym"),
            ("country", "country"),
            ("updated_at", "updated_at"),
        )
    )

    class Meta:
        model = Agency
        fields: list[str] = []


class ProjectFilterSet(PlanFilterSet):
    pillar = CodeFilter(model=Pillar, field_name="goal__pillar", label="Pillar code(s), e.g. P1.")
    goal = CodeFilter(model=Goal, field_name="goal", label="Goal code(s), e.g. P1-G1.")
    agency = CodeFilter(
        model=Agency,
        keys=("acronym", "code"),
        through=(ProjectAgencyRole, "project", "agency"),
        label="Participating agency: acronym (e.g. SE) or code (e.g. MX-SE).",
    )
    country = ListFilter(
        field_name="countries__country",
        method="filter_country",
        label="ISO 3166-1 alpha-2 code(s) of a country the project takes place in.",
    )
    status = ListFilter(choices=ActivityStatus.choices, label="IATI ActivityStatus code(s).")

    def filter_country(self, qs: QuerySet, name: str, value: list[str]) -> QuerySet:
        # A subquery, not a join: a join needs DISTINCT over every column of the page,
        # which at scale is a sort of the whole filtered list.
        if not value:
            return qs
        return qs.filter(
            pk__in=ProjectCountry.objects.filter(country__in=value).values("project_id")
        )

    q = search_parameter(
        "titles and descriptions", "a match in a title before one only in a description"
    )
    search_fields = SearchFields(titles=text_fields("title"), texts=text_fields("description"))
    ordering = django_filters.OrderingFilter(
        fields=(
            ("code", "code"),
            ("status", "status"),
            ("planned_start", "planned_start"),
            ("created_at", "created_at"),
            ("updated_at", "updated_at"),
        )
    )

    class Meta:
        model = Project
        fields: list[str] = []


def date_range(noun: str) -> tuple[django_filters.DateFilter, django_filters.DateFilter]:
    return (
        django_filters.DateFilter(
            field_name="date",
            lookup_expr="gte",
            label=f"{noun} on or after this ISO 8601 date, e.g. 2022-01-01.",
        ),
        django_filters.DateFilter(
            field_name="date",
            lookup_expr="lte",
            label=f"{noun} on or before this ISO 8601 date, e.g. 2023-12-31.",
        ),
    )


def dated_ordering() -> django_filters.OrderingFilter:
    """`ordering` of dated records (meetings, progress reports)."""
    return django_filters.OrderingFilter(
        fields=tuple((name, name) for name in ("date", "code", "created_at", "updated_at"))
    )


class MeetingFilterSet(PlanFilterSet):
    date_from, date_to = date_range("Meetings held")
    kind = LowerListFilter(choices=MeetingKind.choices, label="Kind(s) of meeting.")
    country = ListFilter(
        field_name="chairs__country",
        distinct=True,
        label="ISO 3166-1 alpha-2 code(s) of a country that chaired the meeting.",
    )
    agency = CodeFilter(
        model=Agency,
        keys=("acronym", "code"),
        through=(MeetingChair, "meeting", "agency"),
        label="Chairing agency: acronym (e.g. SE) or code (e.g. MX-SE).",
    )
    project = CodeFilter(
        model=Project,
        through=(MeetingProject, "meeting", "project"),
        visible_only=True,
        label="Code(s) of a project the meeting reviewed or launched, e.g. HLED-2021-01.",
    )
    q = search_parameter(
        "places and summaries", "a match in the place before one only in the summary"
    )
    search_fields = SearchFields(titles=text_fields("place"), texts=text_fields("summary"))
    ordering = dated_ordering()

    class Meta:
        model = Meeting
        fields: list[str] = []


class ProjectProgressFilterSet(PlanFilterSet):
    """Filters of a project's progress reports."""

    date_from, date_to = date_range("Progress reported")
    meeting = CodeFilter(
        model=Meeting,
        field_name="meeting",
        label="Code(s) of the meeting the progress was reported at, e.g. HLED-M-2022-09-12.",
    )
    source_kind = LowerListFilter(
        choices=SourceKind.choices,
        label="`stated`: published by a government; `entered`: entered by an agency.",
    )
    q = search_parameter(
        "narratives and indicators", "a match in the indicator before one only in the narrative"
    )
    search_fields = SearchFields(titles=text_fields("indicator"), texts=text_fields("narrative"))
    ordering = dated_ordering()

    class Meta:
        model = ProgressReport
        fields: list[str] = []


class ProgressReportFilterSet(ProjectProgressFilterSet):
    """Filters of every progress report: also by where in the plan it is."""

    project = CodeFilter(
        model=Project,
        field_name="project",
        visible_only=True,
        label="Code(s) of the project reported on, e.g. HLED-2021-01.",
    )
    goal = CodeFilter(
        model=Goal,
        field_name="goal",
        also=("project__goal",),
        label="Goal code(s): reports on the goal and on its projects, e.g. P1-G1.",
    )
    pillar = CodeFilter(
        model=Pillar,
        field_name="goal__pillar",
        also=("project__goal__pillar",),
        label="Pillar code(s): reports on its goals and their projects, e.g. P1.",
    )
    agency = CodeFilter(
        model=Agency,
        keys=("acronym", "code"),
        through=(ProjectAgencyRole, "project", "agency"),
        owner_lookup="project",
        label="Agency taking part in the project reported on: acronym (e.g. SE) or code.",
    )

    class Meta(ProjectProgressFilterSet.Meta):
        pass


def _placement_filters(prefix: str) -> dict[str, CodeFilter]:
    """`project`, `goal`, `pillar` and `agency` of an object under a project (`prefix`
    is the path to the project: `project`, `result__project`, ...)."""
    return {
        "project": CodeFilter(
            model=Project,
            field_name=prefix,
            visible_only=True,
            label="Code(s) of the project, e.g. HLED-2021-10.",
        ),
        "goal": CodeFilter(
            model=Goal,
            field_name=f"{prefix}__goal",
            label="Goal code(s) of the project, e.g. P4-G2.",
        ),
        "pillar": CodeFilter(
            model=Pillar,
            field_name=f"{prefix}__goal__pillar",
            label="Pillar code(s) of the project, e.g. P4.",
        ),
        "agency": CodeFilter(
            model=Agency,
            keys=("acronym", "code"),
            through=(ProjectAgencyRole, "project", "agency"),
            owner_lookup=prefix,
            label="Agency taking part in the project: acronym (e.g. SE) or code.",
        ),
    }


RESULT_ORDERING = django_filters.OrderingFilter(
    fields=(("code", "code"), ("created_at", "created_at"), ("updated_at", "updated_at"))
)


class ProjectResultFilterSet(PlanFilterSet):
    """Filters of a project's results."""

    type = ListFilter(choices=ResultType.choices, label="IATI ResultType code(s), e.g. 1.")
    ordering = RESULT_ORDERING

    class Meta:
        model = Result
        fields: list[str] = []


class ResultFilterSet(ProjectResultFilterSet):
    """Filters of every result: also by where in the plan its project is."""

    # The same four filters on every kind of object under a project; declared once.
    locals().update(_placement_filters("project"))

    class Meta(ProjectResultFilterSet.Meta):
        pass


class IndicatorFilterSet(PlanFilterSet):
    """Filters of indicators: by result, measure and where in the plan the project is."""

    result = CodeFilter(model=Result, field_name="result", label="Code(s) of the result.")
    measure = ListFilter(
        choices=IndicatorMeasure.choices, label="IATI IndicatorMeasure code(s), e.g. 1."
    )
    ordering = django_filters.OrderingFilter(
        fields=(("code", "code"), ("created_at", "created_at"), ("updated_at", "updated_at"))
    )
    locals().update(_placement_filters("result__project"))

    class Meta:
        model = Indicator
        fields: list[str] = []


class IndicatorPeriodFilterSet(PlanFilterSet):
    """Filters of indicator periods: by indicator and where in the plan the project is."""

    indicator = CodeFilter(
        model=Indicator, field_name="indicator", label="Code(s) of the indicator."
    )
    ordering = django_filters.OrderingFilter(
        fields=(
            ("period_end", "period_end"),
            ("code", "code"),
            ("created_at", "created_at"),
            ("updated_at", "updated_at"),
        )
    )
    locals().update(_placement_filters("indicator__result__project"))

    class Meta:
        model = IndicatorPeriod
        fields: list[str] = []
