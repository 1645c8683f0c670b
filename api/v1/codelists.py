"""GET /api/v1/codelists/ and /api/v1/codelists/{name}/: what every code means.

Read-only and public; answered from memory (no database query for an anonymous caller).
"""

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from api.base import ETAG_PARAMETERS, ProblemResponseMixin, check_query_params, etag_response
from api.fields import TRANSLATIONS_SCHEMA
from api.language import ALL_LANGUAGES, negotiate_language
from api.permissions import PlanPermission
from workplan.codelists import REGISTRY, Codelist, Entry
from workplan.models.base import SUPPORTED_LANGUAGES

LANG_PARAMETER = OpenApiParameter(
    "lang",
    str,
    enum=["en", "es", "all"],
    description="Language of the names; `all` adds a `translations` object with both.",
)


@extend_schema_field(TRANSLATIONS_SCHEMA)
class TranslationsObject(serializers.DictField):
    """Both languages' text, as the other resources give it with `lang=all`."""


class CodelistEntrySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The code, as the API's coded fields carry it.")
    name = serializers.CharField(help_text="Its name in the negotiated language.")
    translations = TranslationsObject(required=False)


class CodelistSummarySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The codelist's name, as in its URL.")
    description = serializers.CharField(help_text="What it codes, in the negotiated language.")
    url = serializers.URLField()
    translations = TranslationsObject(required=False)


class CodelistSerializer(CodelistSummarySerializer):
    entries = CodelistEntrySerializer(many=True)


class CodelistIndexSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = CodelistSummarySerializer(many=True)


def _pick(language: str, en: str, es: str) -> str:
    return es if language == "es" else en


def _entry(entry: Entry, language: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": entry.code,
        "name": _pick(language, entry.name_en, entry.name_es),
    }
    if language == ALL_LANGUAGES:
        data["translations"] = {"en": {"name": entry.name_en}, "es": {"name": entry.name_es}}
    return data


def _summary(codelist: Codelist, language: str, request: Request) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": codelist.name,
        "description": _pick(language, codelist.description_en, codelist.description_es),
        "url": reverse(
            f"{request.version}:codelist-detail", kwargs={"name": codelist.name}, request=request
        ),
    }
    if language == ALL_LANGUAGES:
        data["translations"] = {
            lang: {"description": getattr(codelist, f"description_{lang}")}
            for lang in SUPPORTED_LANGUAGES
        }
    return data


class CodelistBaseView(ProblemResponseMixin, generics.GenericAPIView):
    permission_classes = [PlanPermission]
    pagination_class = None

    def answer(self, request: Request, language: str, data: Any) -> Response:
        return etag_response(request, language, data)


class CodelistIndexView(CodelistBaseView):
    """Every codelist."""

    serializer_class = CodelistIndexSerializer

    @extend_schema(
        operation_id="codelists_list",
        summary="List the codelists",
        description=(
            "Every codelist whose codes the API's coded fields carry (IATI, ISO 3166-1, "
            "ISO 4217 and the plan's own), each with a description and the URL of its "
            "entries. Public, never paginated; carries an ETag."
        ),
        tags=["codelists"],
        parameters=[LANG_PARAMETER, *ETAG_PARAMETERS],
        responses={200: CodelistIndexSerializer, 304: OpenApiResponse(description="Not modified.")},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check_query_params(request, {"lang", "format"})
        language = negotiate_language(request)
        results = [_summary(codelist, language, request) for codelist in REGISTRY.values()]
        return self.answer(request, language, {"count": len(results), "results": results})


class CodelistDetailView(CodelistBaseView):
    """One codelist with its entries."""

    serializer_class = CodelistSerializer

    @extend_schema(
        operation_id="codelists_retrieve",
        summary="Retrieve a codelist",
        description=(
            "The codelist's entries in code order: each code with its name in the "
            "negotiated language (`lang=all` adds both names in `translations`). An unknown "
            "codelist is a 404. Public; carries an ETag."
        ),
        tags=["codelists"],
        parameters=[
            OpenApiParameter("name", str, location=OpenApiParameter.PATH, enum=list(REGISTRY)),
            LANG_PARAMETER,
            *ETAG_PARAMETERS,
        ],
        responses={200: CodelistSerializer, 304: OpenApiResponse(description="Not modified.")},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check_query_params(request, {"lang", "format"})
        language = negotiate_language(request)
        codelist = REGISTRY.get(kwargs["name"])
        if codelist is None:
            raise NotFound(f"No codelist is named {kwargs['name']!r}.")
        data = {
            **_summary(codelist, language, request),
            "entries": [_entry(entry, language) for entry in codelist.entries],
        }
        return self.answer(request, language, data)
