"""Language negotiation: `?lang=` first, then `Accept-Language`, English by default."""

from typing import Any

from django.utils.translation.trans_real import parse_accept_lang_header

from api.errors import QueryParameterError
from workplan.models.base import SUPPORTED_LANGUAGES

DEFAULT_LANGUAGE = "en"
ALL_LANGUAGES = "all"
LANG_CHOICES = (*SUPPORTED_LANGUAGES, ALL_LANGUAGES)


def negotiate_language(request: Any) -> str:
    """Return "en", "es" or "all" for this request."""
    explicit = request.query_params.get("lang")
    if explicit is not None:
        value = explicit.strip().lower()
        if value not in LANG_CHOICES:
            raise QueryParameterError(
                {"lang": [f"Must be one of {', '.join(LANG_CHOICES)}; got {explicit!r}."]}
            )
        return value
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    for tag, _quality in parse_accept_lang_header(header[:255]):
        primary = tag.split("-")[0].lower()
        if primary in SUPPORTED_LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def content_language(language: str) -> str:
    return ", ".join(SUPPORTED_LANGUAGES) if language == ALL_LANGUAGES else language
