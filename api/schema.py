"""OpenAPI generation: the parts every operation shares.

Common parameters (`lang`, `fields`, `Accept-Language`) and problem-details error
responses are added here once, so no operation can forget them.
"""

from http import HTTPStatus
from typing import Any

from django.conf import settings
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from api.base import EMPTY_BY_DESIGN
from api.errors import PROBLEM_CONTENT_TYPE
from api.fields import PlainDecimalField, UniqueListField
from api.idempotency import KEY_PATTERN as IDEMPOTENCY_KEY_PATTERN
from api.language import LANG_CHOICES


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True,
        help_text="The field or query parameter at fault (dotted path); null for the whole input.",
    )
    code = serializers.CharField(
        help_text="Machine-readable error code: the field's own (`required`, `invalid`, "
        "`max_length`, `does_not_exist`, `unique`, ...), or `rule` for a refusal by a rule "
        "of the plan that the schema cannot state (a period ends after it starts, a "
        "baseline value needs its year, one lead agency per country)."
    )
    message = serializers.CharField(help_text="Human-readable explanation.")
    index = serializers.IntegerField(
        required=False, help_text="Bulk requests: the position of the failing item (from 0)."
    )
    item_code = serializers.CharField(
        required=False, help_text="Bulk requests: the `code` the failing item was sent with."
    )


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
    400: "Invalid input: an unknown query parameter or field, an invalid value or malformed JSON. "
    "`errors` names each field or parameter.",
    401: "No credentials, or an invalid, expired or revoked token (see WWW-Authenticate).",
    403: "The caller's role or token scope does not allow this.",
    404: "No object with this code is visible to the caller, or the page does not exist.",
    406: "The Accept header asks for a format this API does not produce.",
    409: "The request conflicts with the plan's state: the code or another unique value is "
    "already taken (`code_taken`, `taken`), other objects still depend on this one "
    "(archiving a pillar that still has goals), or a request with the same Idempotency-Key "
    "is still running.",
    412: "If-Match does not match the current ETag: the object changed since it was read.",
    411: "The body was sent without a Content-Length (Transfer-Encoding) and the server "
    "could not measure it.",
    413: "The body is larger than the configured limit (1 MiB by default).",
    415: "The body is not `application/json`.",
    422: "The Idempotency-Key was already used with a different request.",
    428: "If-Match is required: send the ETag from your last read.",
    429: "Too many requests: wait for the seconds given in Retry-After.",
    503: "The database is unavailable (`database_unavailable`) or rolled the request back "
    "because of concurrent writes (`database_contention`); retry after Retry-After seconds.",
}

# The body limit (411, 413) and a database outage (503) are checked for every request
# under /api/ (api/middleware.py), whatever the operation.
EVERY_OPERATION = {411, 413, 503}
READ_ERRORS = {400, 401, 404, 406, 429} | EVERY_OPERATION
CREATE_ERRORS = {400, 401, 403, 406, 409, 413, 415, 422, 429} | EVERY_OPERATION
ACTION_ERRORS = {400, 401, 403, 404, 406, 409, 429} | EVERY_OPERATION
UPDATE_ERRORS = {400, 401, 403, 404, 406, 409, 412, 413, 415, 428, 429} | EVERY_OPERATION
DELETE_ERRORS = {400, 401, 403, 404, 406, 409, 412, 428, 429} | EVERY_OPERATION
# Without ETags (webhook subscriptions) there is no If-Match to require or compare.
CONDITIONAL = {412, 428}


# An If-Match the server understands: `*`, or ETags it handed out (api/base.py ETAG_PATTERN).
ETAG = r'"[0-9]{1,18}(-[A-Za-z0-9]*)?"'
IF_MATCH_PATTERN = rf"^(\*|{ETAG}(, ?{ETAG})*)$"


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer_field(
        self, field: Any, direction: Any, bypass_extensions: bool = False
    ) -> Any:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, UniqueListField):
            schema["uniqueItems"] = True
        if isinstance(field, PlainDecimalField) and "pattern" in schema:
            schema["pattern"] = field.schema_pattern()
        return schema

    def error_statuses(self) -> list[int]:
        action = getattr(self.view, "action", None)
        if self.method == "GET":
            statuses = set(READ_ERRORS)
            if getattr(self.view, "reads_need_admin", False):
                statuses.add(403)
        elif self.method == "POST":
            statuses = CREATE_ERRORS if action in ("create", "bulk") else ACTION_ERRORS
        elif self.method in ("PUT", "PATCH"):
            statuses = UPDATE_ERRORS
        else:
            statuses = DELETE_ERRORS
        if not hasattr(self.view, "etag_for"):
            statuses = statuses - CONDITIONAL
        # Views under another object's URL (a project's progress) answer 404 when it is
        # not there, whatever the method.
        statuses = statuses | set(getattr(self.view, "path_error_statuses", ()))
        return sorted(statuses)

    def selectable_fields(self) -> list[str]:
        """The names `fields=` accepts: those of the serializer the operation answers with
        (what PlanViewSet.selected_fields checks against)."""
        get_serializer_class = getattr(self.view, "get_serializer_class", None)
        if get_serializer_class is None:
            return []
        try:
            serializer_class = get_serializer_class()
        except Exception:  # views without a serializer take no `fields`
            return []
        return list(serializer_class().fields) if serializer_class is not None else []

    def get_request_serializer(self) -> Any:
        write_class = getattr(self.view, "write_serializer_class", None)
        if write_class is not None and getattr(self.view, "action", None) in (
            "create",
            "update",
            "partial_update",
        ):
            return write_class
        return super().get_request_serializer()

    def get_auth(self) -> list[dict[str, list[str]]]:
        auths = super().get_auth()
        if (
            self.method in ("GET", "HEAD")
            and settings.API_ANONYMOUS_READ
            and not getattr(self.view, "reads_need_admin", False)
            and {} not in auths
        ):
            auths.insert(0, {})  # reading needs no credentials; a token is optional
        return auths

    def get_override_parameters(self) -> list[Any]:
        params = list(super().get_override_parameters())
        action = getattr(self.view, "action", None)
        if not hasattr(self.view, "common_query_params") or action in getattr(
            self.view, "export_actions", ()
        ):
            return params
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
        ]
        field_names = self.selectable_fields()
        if field_names:
            params.append(
                OpenApiParameter(
                    "fields",
                    {"type": "array", "items": {"type": "string", "enum": field_names}},
                    style="form",
                    explode=False,
                    description=(
                        "Comma-separated top-level fields to return (e.g. `code,url,title`); "
                        "other fields are left out of the response."
                    ),
                )
            )
        expand_choices = sorted(getattr(self.view, "expand_choices", ()))
        if expand_choices and self.method == "GET":
            params.append(
                OpenApiParameter(
                    "expand",
                    {"type": "array", "items": {"type": "string", "enum": expand_choices}},
                    style="form",
                    explode=False,
                    description=expand_description(self.view),
                )
            )
        brief_fields = getattr(self.view, "brief_fields", ())
        if brief_fields and action in ("list", "retrieve"):
            # Registers the brief component; `document_brief_representations` lets the
            # response be either representation.
            brief = self.resolve_serializer(self.view.brief_serializer_class, "response")  # type: ignore[attr-defined]
            params.append(
                OpenApiParameter(
                    "brief",
                    bool,
                    extensions={BRIEF_EXTENSION: brief.name},
                    description=(
                        "`true` gives the minimal representation: only "
                        f"`{'`, `'.join(brief_fields)}`, as references to it "
                        "elsewhere carry them. `fields` then picks among these, and "
                        "`expand` may ask only for `labels`."
                    ),
                )
            )
        if action == "retrieve":
            params.append(
                OpenApiParameter(
                    "If-None-Match",
                    str,
                    location=OpenApiParameter.HEADER,
                    description="An ETag from an earlier read: 304 if the object is unchanged.",
                )
            )
        if action in ("update", "partial_update", "destroy"):
            params.append(
                OpenApiParameter(
                    "If-Match",
                    str,
                    location=OpenApiParameter.HEADER,
                    required=True,
                    pattern=IF_MATCH_PATTERN,
                    description=(
                        "The ETag of your last read of this object (or `*`). Missing: 428; "
                        "stale: 412, and nothing is changed."
                    ),
                )
            )
        if action == "create":
            params.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    location=OpenApiParameter.HEADER,
                    description=(
                        "A unique key (e.g. a UUID) per intended creation. A retry with the "
                        "same key and body within 24 hours returns the first response and "
                        "creates nothing (`Idempotent-Replayed: true`)."
                    ),
                )
            )
        return params

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        """Every operation's own responses, plus its problem responses and a 304 for reads
        that take If-None-Match; added here so that `@extend_schema(responses=...)` keeps them."""
        responses = super()._get_response_bodies(direction)
        if getattr(self.view, "action", None) == "retrieve" and "304" not in responses:
            responses["304"] = {"description": "Not modified (If-None-Match matched)."}
        for status in self.error_statuses():
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(
                    ProblemSerializer, str(status), [PROBLEM_CONTENT_TYPE], direction
                )
        return responses

    def _get_response_for_code(
        self, serializer: Any, status_code: Any, *args: Any, **kwargs: Any
    ) -> Any:
        response = super()._get_response_for_code(serializer, status_code, *args, **kwargs)
        code = int(status_code) if str(status_code).isdigit() else None
        if code is not None and not response.get("description"):
            response["description"] = HTTPStatus(code).phrase
        if code in ERROR_DESCRIPTIONS:
            response["description"] = ERROR_DESCRIPTIONS[code]
        action = getattr(self.view, "action", None)
        no_etag = ("list", *getattr(self.view, "export_actions", ()))
        if code in (200, 201, 304) and action not in no_etag and hasattr(self.view, "etag_for"):
            response.setdefault("headers", {})["ETag"] = {
                "schema": {"type": "string"},
                "description": "Strong validator of this representation; send it back "
                "in If-Match to update or archive the object.",
            }
        if code in (429, 503):
            response.setdefault("headers", {})["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds to wait before retrying.",
            }
        return response


def resource_docs(singular: str, plural: str, *, writers: str) -> dict[str, Any]:
    """Summaries and descriptions for every operation of a resource (its examples come from
    api/v1/examples.json: see api/examples.py)."""
    article = "an" if singular[0] in "aeiou" else "a"
    return {
        "list": extend_schema(
            summary=f"List {plural}",
            description=(
                f"Returns a page of {plural} visible to the caller. Filters combine with "
                "AND; a filter given several values (repeated or comma-separated) matches "
                "any of them. Unknown parameters and values are refused with a 400. "
                "Open to everyone unless anonymous reading is turned off."
            ),
        ),
        "retrieve": extend_schema(
            summary=f"Retrieve {article} {singular}",
            description=(
                f"Returns one {singular} by its public code (case-insensitive), with an "
                "ETag. Objects the caller may not see are a 404."
            ),
        ),
        "create": extend_schema(
            summary=f"Create {article} {singular}",
            description=(
                f"Creates {article} {singular}. Allowed for: {writers}. Send an "
                "Idempotency-Key so a retry never creates a duplicate. Unknown and read-only "
                "fields are refused with a 400 naming them."
            ),
        ),
        "update": extend_schema(
            summary=f"Replace {article} {singular}",
            description=(
                f"Replaces the {singular}'s writable fields. Allowed for: {writers}. "
                "Requires If-Match with the ETag of your last read. The code cannot change."
            ),
        ),
        "partial_update": extend_schema(
            summary=f"Update {article} {singular}",
            description=(
                f"Changes the fields sent. Allowed for: {writers}. Requires If-Match with "
                "the ETag of your last read; lists sent replace the current ones."
            ),
        ),
        "destroy": extend_schema(
            summary=f"Archive {article} {singular}",
            description=(
                f"Archives the {singular}: it leaves lists and details (404), its code is "
                f"never reused, and a plan admin can restore it. Allowed for: {writers}. "
                "Requires If-Match."
            ),
        ),
        "restore": extend_schema(
            operation_id=f"{plural}_restore",
            summary=f"Restore an archived {singular}",
            description=f"Brings an archived {singular} back. Plan admins only.",
        ),
    }


BRIEF_EXTENSION = "x-brief-component"


def document_brief_representations(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Where `brief=true` is offered, a 200 carries the full or the brief representation
    (of each item, on a list)."""
    schemas = result.get("components", {}).get("schemas", {})
    for item in result.get("paths", {}).values():
        for operation in item.values():
            names = [
                p.pop(BRIEF_EXTENSION)
                for p in operation.get("parameters", [])
                if BRIEF_EXTENSION in p
            ]
            if not names:
                continue
            brief = {"$ref": f"#/components/schemas/{names[0]}"}
            # A brief object carries its fields and no others (references elsewhere too).
            schemas[names[0]]["additionalProperties"] = False
            for content in operation["responses"].get("200", {}).get("content", {}).values():
                schema = content["schema"]
                paginated = schema.get("$ref", "").rsplit("/", 1)[-1]
                if paginated.startswith("Paginated"):
                    results = schemas[paginated]["properties"]["results"]
                    if "anyOf" not in results["items"]:
                        results["items"] = {"anyOf": [results["items"], brief]}
                elif "anyOf" not in schema:
                    content["schema"] = {"anyOf": [schema, brief]}
    return result


def expand_description(view: Any) -> str:
    """What each `expand` value does, from the serializer's `expansions`."""
    expansions = getattr(getattr(view, "serializer_class", None), "expansions", {})
    parts = [f"`{value}` {expansions[value].description}" for value in sorted(expansions)]
    return (
        "Comma-separated. "
        + "; ".join(parts)
        + ". Codes stay as they are (`/codelists/` names them all); related objects are "
        "brief references unless expanded."
    )


def make_translations_optional(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """`translations` appears only with `lang=all`, and the `*_label` fields only with
    `expand=labels`, so no component may require them."""
    for component in result.get("components", {}).get("schemas", {}).values():
        required = component.get("required")
        if required:
            component["required"] = [
                name
                for name in required
                if name != "translations" and not name.endswith(("_label", "_labels"))
            ]
            if not component["required"]:
                del component["required"]
    return result


def _component(result: dict[str, Any], ref: str) -> dict[str, Any] | None:
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        return None
    return result.get("components", {}).get("schemas", {}).get(ref[len(prefix) :])


def _close_objects(result: dict[str, Any], schema: dict[str, Any], seen: set[int]) -> None:
    """`additionalProperties: false` on every object of a request body, nested ones too,
    and a pattern without NUL on its free text."""
    if id(schema) in seen:
        return
    seen.add(id(schema))
    if "$ref" in schema:
        target = _component(result, schema["$ref"])
        if target is not None:
            _close_objects(result, target, seen)
        return
    if schema.get("type") == "object" and "properties" in schema:
        schema.setdefault("additionalProperties", False)
    if schema.get("type") == "string" and not {"enum", "pattern", "format"} & set(schema):
        schema["pattern"] = NOT_BLANK_PATTERN if schema.get("minLength") else TEXT_PATTERN
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _close_objects(result, schema[key], seen)
    for sub in schema.get("properties", {}).values():
        _close_objects(result, sub, seen)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            _close_objects(result, sub, seen)


# The characters Python's str.strip() removes (what DRF's CharField and api/base.py trim),
# spelled out: a regex's `\s` differs from them (it lacks U+001C-U+001F and U+0085, and
# has U+FEFF).
BLANKS = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Something besides blanks, and no NUL (PostgreSQL cannot store or compare one): what
# api/base.py check_query_params asks of a query value, and DRF of text that may not
# be blank.
QUERY_VALUE_PATTERN = NOT_BLANK_PATTERN = rf"^[^\x00]*[^{BLANKS}\x00][^\x00]*$"
# Text that may be blank: no NUL, for the same reason.
TEXT_PATTERN = r"^[^\x00]*$"


def _fields_optional(result: dict[str, Any], schema: dict[str, Any]) -> None:
    """`fields=` may leave out any top-level field of the object (or of each item of a
    page), so none is required there."""
    target = _component(result, schema.get("$ref", "")) or schema
    results = target.get("properties", {}).get("results")
    if results is not None and "items" in results:
        target = _component(result, results["items"].get("$ref", "")) or results["items"]
    target.pop("required", None)


def declare_enforced_rules(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """What the server enforces on input, said in the schema, so clients and fuzzers know it:

    - an empty or blank query value, or one with a NUL byte, is refused (api/base.py
      check_query_params; but the first page's empty `cursor=`): strings have
      `minLength: 1` and a pattern, lists `minItems: 1`;
    - request bodies take no property that is not declared (api/fields.py StrictInputMixin),
      and no NUL character in text;
    - a bulk request carries 1 to API_BULK_MAX_ITEMS items (api/v1/projects_extra.py).
    """
    seen: set[int] = set()
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("name") == "Idempotency-Key":
                    # api/idempotency.py refuses any other key with a 400.
                    schema.update(pattern=IDEMPOTENCY_KEY_PATTERN.pattern, maxLength=255)
                if parameter.get("in") != "query" or parameter.get("name") in EMPTY_BY_DESIGN:
                    continue
                if schema.get("type") == "array":
                    schema.setdefault("minItems", 1)
                    schema = schema.get("items", {})
                if schema.get("type") == "string":
                    schema.setdefault("minLength", 1)
                    if not {"enum", "pattern", "format"} & set(schema):
                        schema["pattern"] = QUERY_VALUE_PATTERN
            if any(p.get("name") == "fields" for p in operation.get("parameters", [])):
                for status, response in operation.get("responses", {}).items():
                    if status.startswith("2"):
                        for media in response.get("content", {}).values():
                            _fields_optional(result, media.get("schema", {}))
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                if "schema" in media:
                    _close_objects(result, media["schema"], seen)
    bulk = result.get("components", {}).get("schemas", {}).get("ProjectBulkRequest")
    if bulk is not None:
        bulk["properties"]["projects"].update(minItems=1, maxItems=settings.API_BULK_MAX_ITEMS)
    return result


LINK_NAMES = {
    "patch": ("update", "Change this object: send its ETag back in If-Match."),
    "put": ("replace", "Replace this object: send its ETag back in If-Match."),
    "delete": ("archive", "Archive this object: send its ETag back in If-Match."),
}


def add_links(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """OpenAPI links: a read's ETag goes to the If-Match of the object's writes, and a
    created object's code to its detail operations, so clients (and stateful testers)
    know how the operations chain."""
    paths = result.get("paths", {})
    for path, path_item in paths.items():
        read = path_item.get("get")
        path_params = [
            p["name"] for p in (read or {}).get("parameters", []) if p.get("in") == "path"
        ]
        if read is None or not path_params or not path.endswith("}/"):
            continue
        key = path_params[-1]
        links: dict[str, Any] = {}
        for method, (name, description) in LINK_NAMES.items():
            write = path_item.get(method)
            if write is None:
                continue
            params = {f"path.{p}": f"$request.path.{p}" for p in path_params}
            if any(p.get("name") == "If-Match" for p in write.get("parameters", [])):
                params["header.If-Match"] = "$response.header.ETag"
            links[name] = {
                "operationId": write["operationId"],
                "parameters": params,
                "description": description,
            }
        if links and "200" in read.get("responses", {}):
            read["responses"]["200"]["links"] = links
        # The list this object is created on: `POST` there gives its key in the body.
        collection = path.rsplit("{", 1)[0]
        create = paths.get(collection, {}).get("post")
        if create is None or len(path_params) != 1 or "201" not in create.get("responses", {}):
            continue
        created: dict[str, Any] = {
            "read": {
                "operationId": read["operationId"],
                "parameters": {f"path.{key}": f"$response.body#/{key}"},
                "description": "Read the object just created.",
            }
        }
        for method, (name, description) in LINK_NAMES.items():
            write = path_item.get(method)
            if write is None:
                continue
            params = {f"path.{key}": f"$response.body#/{key}"}
            if any(p.get("name") == "If-Match" for p in write.get("parameters", [])):
                params["header.If-Match"] = "$response.header.ETag"
            created[name] = {
                "operationId": write["operationId"],
                "parameters": params,
                "description": description,
            }
        create["responses"]["201"]["links"] = created
    return result


STANDARD_WEBHOOK_HEADERS = [
    ("webhook-id", "Message id, the same on every retry: drop duplicates by it."),
    ("webhook-timestamp", "Unix time of this attempt; reject stale messages."),
    (
        "webhook-signature",
        "Space-separated `v1,<base64 HMAC-SHA256>` signatures of "
        "`webhook-id.webhook-timestamp.body` with the subscription's secret.",
    ),
]


def document_webhook_headers(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular leaves webhook parameters out; add the Standard Webhooks headers."""
    for path_item in result.get("webhooks", {}).values():
        for operation in path_item.values():
            operation["parameters"] = [
                {
                    "in": "header",
                    "name": name,
                    "required": True,
                    "schema": {"type": "string"},
                    "description": description,
                }
                for name, description in STANDARD_WEBHOOK_HEADERS
            ]
    return result


__all__ = ["AutoSchema", "ProblemSerializer", "resource_docs"]
