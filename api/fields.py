"""Serializer fields and the base serializer shared by every API version."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.fields import SkipField, get_attribute

from api.language import ALL_LANGUAGES, DEFAULT_LANGUAGE
from workplan.models.base import SUPPORTED_LANGUAGES, translated


def request_language(context: Mapping[str, Any]) -> str:
    return context.get("language", DEFAULT_LANGUAGE)


@extend_schema_field(OpenApiTypes.STR)
class TranslatedField(serializers.Field):
    """Text in the negotiated language (English with `?lang=all`), from `<base>_en`/`<base>_es`."""

    def __init__(self, base: str, **kwargs: Any) -> None:
        self.base = base
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        language = request_language(self.context)
        return translated(
            value, self.base, DEFAULT_LANGUAGE if language == ALL_LANGUAGES else language
        )


TRANSLATIONS_SCHEMA = {
    "type": "object",
    "description": (
        "The object's text in every language, keyed by BCP 47 language tag. "
        "Present only when the request asks for `lang=all`."
    ),
    "properties": {
        lang: {"type": "object", "additionalProperties": {"type": "string"}}
        for lang in SUPPORTED_LANGUAGES
    },
    "required": list(SUPPORTED_LANGUAGES),
}


@extend_schema_field(TRANSLATIONS_SCHEMA)
class TranslationsField(serializers.Field):
    """`{"en": {...}, "es": {...}}` with every translated field; only with `?lang=all`."""

    def __init__(self, *bases: str, **kwargs: Any) -> None:
        self.bases = bases
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> Any:
        if request_language(self.context) != ALL_LANGUAGES:
            raise SkipField
        return super().get_attribute(instance)

    def to_representation(self, value: Any) -> dict[str, dict[str, str]]:
        return {
            lang: {base: getattr(value, f"{base}_{lang}") for base in self.bases}
            for lang in SUPPORTED_LANGUAGES
        }


@extend_schema_field(
    {
        "anyOf": [
            {"type": "string", "format": "uri", "maxLength": 500},
            {"type": "string", "maxLength": 0},
        ],
        "description": "An http(s) address, or an empty string where none is known.",
    }
)
class OptionalURLField(serializers.URLField):
    """An address, or "" for none. (A `oneOf` would refuse "", which matches both.)"""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 500)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)


class CodedValueField(serializers.ChoiceField):
    """A codelist value as its code; the schema lists the codes and their names."""

    def __init__(self, choices: Any, codelist: str, **kwargs: Any) -> None:
        names = "; ".join(f"`{code}` {label}" for code, label in choices)
        kwargs.setdefault("help_text", f"{codelist} code: {names}.")
        super().__init__(choices=choices, **kwargs)


EXPAND_LABELS = "labels"


@dataclass(frozen=True)
class Expansion:
    """One `expand=` value of a representation.

    `path` names the field it replaces (dotted through nested serializers, e.g.
    `participating_agencies.agency`) and `field` builds the replacement: a related object
    whole instead of its brief reference. `prefetch` is what the queryset needs for it,
    so a page costs the same number of queries whatever its size. `labels` replaces
    nothing: the `*_label` fields read the expansion from the context.
    """

    description: str
    path: str = ""
    field: Callable[[], serializers.Field] | None = None
    prefetch: tuple[Any, ...] = ()


LABELS = Expansion(
    "adds, beside each coded field, its name in the negotiated language (`status` `2` "
    "gains `status_label` `Implementation`; English with `lang=all`)"
)


def expandable(
    brief: type[serializers.Serializer], whole: str, value: str, **kwargs: Any
) -> serializers.Serializer:
    """A brief reference that `expand=<value>` turns into the whole object; the schema
    says it is one or the other (components `<X>Brief` and `<whole>`). A subclass
    carries the schema, as DRF copies fields by re-instantiating their class."""
    name = brief.__name__.removesuffix("Serializer")
    schema: dict[str, Any] = {
        "anyOf": [
            {"$ref": f"#/components/schemas/{name}"},
            {"$ref": f"#/components/schemas/{whole}"},
            *([{"type": "null"}] if kwargs.get("allow_null") else []),
        ],
        "description": kwargs.pop("help_text", "")
        + f" The brief reference; the whole object with `expand={value}`.",
    }
    schema["description"] = schema["description"].strip()
    annotated = extend_schema_field(schema)(type(f"Expandable{name}", (brief,), {}))
    return annotated(read_only=True, **kwargs)


def expands_labels(context: Mapping[str, Any]) -> bool:
    return EXPAND_LABELS in context.get("expand", ())


@extend_schema_field(OpenApiTypes.STR)
class CodeLabelField(serializers.Field):
    """The name of a sibling coded field's code (`status` -> `status_label`), from its
    codelist, in the negotiated language (English with `lang=all`); only with
    `?expand=labels`. Null when the code is null."""

    def __init__(
        self, coded_field: str, codelist: str, attribute: str | None = None, **kwargs: Any
    ) -> None:
        self.codelist = codelist
        # The code's own attribute (the sibling field may be left out by `fields=`).
        self.attribute = (attribute or coded_field).split(".")
        kwargs.update(source="*", read_only=True)
        kwargs.setdefault(
            "help_text",
            f"Name of the `{coded_field}` code in the negotiated language (the "
            f"`{codelist}` codelist). Present only with `expand=labels`.",
        )
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> Any:
        if not expands_labels(self.context):
            raise SkipField
        return get_attribute(instance, self.attribute)

    def to_representation(self, value: Any) -> str | None:
        from workplan.codelists import REGISTRY

        if value is None or value == "":
            return None
        language = request_language(self.context)
        return REGISTRY[self.codelist].label(str(value), language)


class PlanSerializer(serializers.ModelSerializer):
    """Base read serializer: every field is read-only; supports `fields=` selection and
    the `expand=` values it declares in `expansions` (the one list of them: the views
    accept and document exactly these)."""

    expansions: ClassVar[dict[str, Expansion]] = {}

    def __init__(self, *args: Any, fields: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if fields:
            for name in set(self.fields) - set(fields):
                self.fields.pop(name)
        for value in sorted(getattr(self, "_context", {}).get("expand", ())):
            expansion = self.expansions.get(value)
            if expansion is not None and expansion.field is not None:
                self._expand(expansion.path.split("."), expansion.field)

    def _expand(self, path: list[str], build: Callable[[], serializers.Field]) -> None:
        """Replace the field at `path` (unless `fields=` left it out)."""
        owner: Any = self
        for name in path[:-1]:
            if name not in owner.fields:
                return
            owner = owner.fields[name]
            owner = getattr(owner, "child", owner)  # through a list of objects
        if path[-1] in owner.fields:
            owner.fields[path[-1]] = build()

    def get_extra_kwargs(self) -> dict[str, Any]:
        extra = super().get_extra_kwargs()
        for name in self.Meta.fields:
            extra.setdefault(name, {})["read_only"] = True
        return extra


class StrictCharField(serializers.CharField):
    """Text must be sent as a JSON string: DRF would turn 12345 into "12345"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictInputMixin:
    """Refuse fields the caller may not send instead of silently ignoring them.

    A read-only field (`url`, timestamps, ...) or an unknown one is a 400 naming it,
    so a partner never believes it changed something that it did not.
    """

    read_only_names: frozenset[str] = frozenset()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, f in self.fields.items() if not f.read_only}  # type: ignore[attr-defined]
            errors = {}
            for name in data:
                if name in writable:
                    continue
                if name in self.read_only_names:
                    errors[name] = [ErrorDetail("This field is read-only.", code="read_only")]
                else:
                    errors[name] = [ErrorDetail("Unknown field.", code="unknown_field")]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


class PlainDecimalField(serializers.DecimalField):
    """A decimal sent as a string in plain notation (`-12.5`, `.5`), as `schema_pattern`
    says (api/schema.py puts it in the document); DRF alone would also take `1e2`, which
    a pattern cannot bound, and drf-spectacular's own pattern also matches "", "-", "."."""

    PLAIN = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and not self.PLAIN.fullmatch(data.strip()):
            self.fail("invalid")
        return super().to_internal_value(data)

    def schema_pattern(self) -> str:
        """Plain notation within the field's digits, without a sign where the value may
        not be negative."""
        whole, places = self.max_whole_digits, self.decimal_places
        sign = "" if self.min_value is not None and self.min_value >= 0 else "-?"
        if not places:
            return rf"^{sign}\d{{1,{whole}}}$"
        return rf"^{sign}(?:\d{{1,{whole}}}(?:\.\d{{0,{places}}})?|\.\d{{1,{places}}})$"


class UniqueListField(serializers.ListField):
    """A list that names each item once; the schema says so (`uniqueItems`, api/schema.py)."""

    default_error_messages = {"not_unique": "List each item once."}

    def to_internal_value(self, data: Any) -> list[Any]:
        value = super().to_internal_value(data)
        if len(value) != len(set(value)):
            self.fail("not_unique")
        return value


class StrictSerializer(StrictInputMixin, serializers.Serializer):
    pass


class WriteSerializer(StrictInputMixin, serializers.ModelSerializer):
    """Base input serializer: strict about fields; hands plain data to the services.

    `code` is required on creation only; changing it afterwards is refused by the service.
    """

    read_only_names = frozenset({"url", "created_at", "updated_at", "translations"})
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.DecimalField: PlainDecimalField,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "code" in self.fields and "code" not in self._declared_fields:
            self.fields["code"].help_text = (
                "Stable public code used in URLs; never reused, and never changed: an "
                "update may leave it out or send it as it is (another code is a 400)."
            )
        if self.instance is not None and "code" in self.fields:
            self.fields["code"].required = False
            # The service refuses a different code; the same code is not a change.
            self.fields["code"].validators = []

    def service_data(self) -> dict[str, Any]:
        return dict(self.validated_data)


class CodeURLField(serializers.HyperlinkedIdentityField):
    """An object's URL by its code: `reverse()` runs once per field (a list's rows share
    one), and every row's URL is the prefix it gives plus the code."""

    def __init__(self, view_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("lookup_field", "code")
        super().__init__(view_name=view_name, **kwargs)
        self._prefixes: dict[tuple[Any, ...], tuple[str, str]] = {}

    def get_url(self, obj: Any, view_name: str, request: Any, format: Any) -> Any:
        code = getattr(obj, self.lookup_field, None)
        if code in (None, ""):
            return None
        key = (view_name, format, id(request))
        if key not in self._prefixes:
            url = self.reverse(
                view_name, kwargs={self.lookup_url_kwarg: "CODE"}, request=request, format=format
            )
            head, _, tail = url.rpartition("CODE")
            self._prefixes[key] = (head, tail)
        head, tail = self._prefixes[key]
        return f"{head}{code}{tail}"
