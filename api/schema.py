"""OpenAPI generation: the parts every operation shares.

Common parameters (`lang`, `fields`, `Accept-Language`) and problem-details error
responses are added here once, so no operation can forget them.
"""

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from api.errors import PROBLEM_CONTENT_TYPE
from api.language import LANG_CHOICES


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True,
        help_text="The field or query parameter at fault (dotted path); null for the whole input.",
    )
    code = serializers.CharField(help_text="Machine-readable error code.")
    message = serializers.CharField(help_text="Human-readable explanation.")


class ProblemSerializer(serializers.Serializer):
    """An RFC 9457 problem document."""

    type = serializers.CharField(help_text="A URI reference identifying the problem type.")
    title = serializers.CharField(help_text="Short summary of the problem type.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="Explanation specific to this occurrence.")
    instance = serializers.CharField(
        required=False, help_text="The request path this problem occurred on."
    )
    code = serializers.CharField(help_text="Machine-readable problem code.")
    errors = FieldErrorSerializer(  # type: ignore[assignment]
        many=True, required=False, help_text="For validation problems: one entry per error."
    )

    class Meta:
        ref_name = "Problem"


ERROR_DESCRIPTIONS = {
    400: "Invalid input: an unknown query parameter, an invalid filter value or a malformed body.",
    404: "No object with this code is visible, or the page does not exist.",
    406: "The Accept header asks for a format this API does not produce.",
}


class AutoSchema(SpectacularAutoSchema):
    def error_statuses(self) -> list[int]:
        return [400, 404, 406]

    def get_override_parameters(self) -> list[Any]:
        params = list(super().get_override_parameters())
        if self.method == "GET" and hasattr(self.view, "common_query_params"):
            params += [
                OpenApiParameter(
                    "lang",
                    str,
                    enum=list(LANG_CHOICES),
                    description=(
                        "Language of the text fields; overrides Accept-Language. `all` keeps "
                        "English in the text fields and adds a `translations` object with "
                        "every language."
                    ),
                ),
                OpenApiParameter(
                    "Accept-Language",
                    str,
                    location=OpenApiParameter.HEADER,
                    description="BCP 47 language preference (en or es); English by default.",
                ),
                OpenApiParameter(
                    "fields",
                    str,
                    description=(
                        "Comma-separated top-level fields to return (e.g. `code,url,title`); "
                        "other fields are left out of the response."
                    ),
                ),
            ]
        return params

    def get_response_serializers(self) -> Any:
        declared = super().get_response_serializers()
        responses: dict[Any, Any] = declared if isinstance(declared, dict) else {200: declared}
        for status in self.error_statuses():
            responses.setdefault((status, PROBLEM_CONTENT_TYPE), ProblemSerializer)
        return responses

    def _get_response_for_code(
        self, serializer: Any, status_code: Any, *args: Any, **kwargs: Any
    ) -> Any:
        response = super()._get_response_for_code(serializer, status_code, *args, **kwargs)
        if str(status_code).isdigit() and int(status_code) in ERROR_DESCRIPTIONS:
            response["description"] = ERROR_DESCRIPTIONS[int(status_code)]
        return response


def list_and_detail(singular: str, plural: str) -> dict[str, Any]:
    """Summaries and descriptions for the list and retrieve operations of a resource."""
    article = "an" if singular[0] in "aeiou" else "a"
    return {
        "list": extend_schema(
            summary=f"List {plural}",
            description=(
                f"Returns a page of {plural}. Filters combine with AND; a filter given "
                "several values (repeated or comma-separated) matches any of them. "
                "Unknown parameters and values are refused with a 400."
            ),
        ),
        "retrieve": extend_schema(
            summary=f"Retrieve {article} {singular}",
            description=f"Returns one {singular} by its public code (case-insensitive).",
        ),
    }


def make_translations_optional(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """`translations` appears only with `lang=all`, so no component may require it."""
    for component in result.get("components", {}).get("schemas", {}).values():
        required = component.get("required")
        if required and "translations" in required:
            required.remove("translations")
    return result


__all__ = ["AutoSchema", "ProblemSerializer", "list_and_detail"]
