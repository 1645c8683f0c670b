"""JSON bodies that cannot hurt the server.

DRF's parser turns only ValueError into a 400: a deeply nested document raises
RecursionError, and escaped lone surrogates ("\\ud800") parse into strings that can
never be encoded again, so echoing them in an error would fail. Both are a 400 here.

PostgreSQL cannot store text with a NUL character ("\\u0000"), and a reference field
looked up with one fails inside the driver. Every string of the body, keys included,
is checked, and each one with a NUL is named in a 400 (`goal`,
`participating_agencies.0.agency`).
"""

from typing import Any

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32

Path = tuple[str | int, ...]


def dotted(path: Path) -> str | None:
    """`participating_agencies.0.agency`, as error fields are named; a key's NUL written out."""
    return ".".join(str(part).replace("\x00", "\\u0000") for part in path) or None


class NulCharacters(ValidationError):
    """A 400 naming every string of the body that holds a NUL character.

    Carries the parsed body and the paths, so a view can name its items its own way.
    """

    code = "null_characters_not_allowed"
    message = "Text may not contain the NUL character (\\u0000)."

    def __init__(self, data: Any, paths: list[Path]) -> None:
        self.data = data
        self.paths = paths
        named = [name for name in map(dotted, paths) if name]
        self.problem_detail = "NUL characters (\\u0000) are not allowed" + (
            f": {', '.join(named)}." if named else "."
        )
        self.problem_errors = [
            {"field": dotted(path), "code": self.code, "message": self.message} for path in paths
        ]
        super().__init__(self.problem_detail, code=self.code)


def _walk(value: Any, path: Path, depth: int, nul_paths: dict[Path, None]) -> None:
    if depth > MAX_DEPTH:
        raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ParseError("JSON string with an unpaired surrogate (not valid Unicode).") from exc
        if "\x00" in value:
            nul_paths[path] = None
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(key, (*path, key), depth + 1, nul_paths)  # a key is named by itself
            _walk(item, (*path, key), depth + 1, nul_paths)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, (*path, index), depth + 1, nul_paths)


def check_body(data: Any) -> None:
    """Refuse a parsed body that is too deep, not valid Unicode, or has NUL characters."""
    nul_paths: dict[Path, None] = {}  # ordered, and a key and its value count once
    _walk(data, (), 0, nul_paths)
    if nul_paths:
        raise NulCharacters(data, list(nul_paths))


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.") from exc
        check_body(data)
        return data
