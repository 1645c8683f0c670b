"""The parts of the OpenAPI document a reader sees first: the overview, the tags in
reading order, the servers, and the list of problem codes.

`document_overview` is a drf-spectacular postprocessing hook; the problem codes are
listed here, once, and a test checks that every problem example uses one of them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

# Every `code` a problem document can carry: (HTTP status, meaning).
PROBLEM_CODES: dict[str, tuple[int, str]] = {
    "invalid": (400, "The body failed validation; `errors` names each field (dotted path)."),
    "invalid_query": (
        400,
        "An unknown or invalid query parameter, filter value, `fields` name or "
        "Idempotency-Key header; `errors` names each one.",
    ),
    "parse_error": (400, "The body is not valid JSON (or is nested too deeply)."),
    "bad_request": (400, "The request could not be read at all (e.g. a bad Content-Length)."),
    "not_authenticated": (401, "No credentials were sent, and this operation needs them."),
    "authentication_failed": (401, "The bearer token is unknown, expired or revoked."),
    "permission_denied": (
        403,
        "The caller's role, agency or token scope does not allow this (`detail` says why).",
    ),
    "csrf_failed": (403, "A session-authenticated write without its CSRF token."),
    "forbidden": (403, "Refused before reaching the API (Django's own 403)."),
    "not_found": (
        404,
        "No object with this code is visible to the caller, the page does not exist, or "
        "there is nothing at this URL.",
    ),
    "method_not_allowed": (405, "The resource does not support this HTTP method."),
    "not_acceptable": (406, "The Accept header asks for a format this operation cannot produce."),
    "code_taken": (
        409,
        "The code sent for a new object is already taken (perhaps with other unique "
        "values: `errors` names each field); codes are never reused.",
    ),
    "taken": (
        409,
        "A value that must be unique (a pillar's number, an agency's acronym) is already "
        "another object's; `errors` names each field.",
    ),
    "conflict": (
        409,
        "The change conflicts with the plan (archive a pillar that still has goals, "
        "restore a project whose goal is archived), a request with the same "
        "Idempotency-Key is still running, or a concurrent change won the race.",
    ),
    "precondition_failed": (
        412,
        "If-Match names an old version: the object changed since you read it. Read it "
        "again and retry; nothing was written.",
    ),
    "body_too_large": (413, "The body is larger than the limit (1 MiB by default)."),
    "length_required": (
        411,
        "A body was sent without a length the server could read (e.g. chunked through a "
        "server that does not decode it); send Content-Length.",
    ),
    "unsupported_media_type": (415, "The body is not `application/json`."),
    "unprocessable": (422, "The Idempotency-Key was already used with a different request."),
    "precondition_required": (428, "A write to an object without If-Match."),
    "throttled": (429, "Too many requests: wait the seconds given in Retry-After."),
    "internal_server_error": (500, "A bug on our side; it has been logged."),
    "database_unavailable": (
        503,
        "The database cannot be reached; nothing was written. Retry after Retry-After.",
    ),
    "database_contention": (
        503,
        "The database rolled the request back because of concurrent writes (a deadlock or "
        "serialization failure); nothing was written. Retry it.",
    ),
}

# Tags in reading order: the plan's own objects, then what integrations use.
TAGS: list[dict[str, str]] = [
    {
        "name": "pillars",
        "description": "The four pillars of the plan (`P1`…`P4`). A pillar lists its goals. "
        "Plan admins write them.",
    },
    {
        "name": "goals",
        "description": "Goals of each pillar (`P1-G2`). Filter by `pillar`. Plan admins "
        "write them.",
    },
    {
        "name": "agencies",
        "description": "Agencies of both governments (`MX-SE`, `US-USAID`), with their parent "
        "agency. Filter by `country`. Plan admins write them.",
    },
    {
        "name": "projects",
        "description": "Projects that carry the plan out (`HLED-2021-05`): goal, pillar, "
        "countries, participating agencies and roles, dates, budget and links. Agency editors "
        "create and update the projects their agency takes part in; `bulk` writes up to 100 "
        "at once.",
    },
    {
        "name": "meetings",
        "description": "Meetings of the dialogue since its relaunch (`HLED-M-2022-09-12`): "
        "ministerial meetings and progress reviews, with their chairs by agency and country, "
        "their published sources and the published projects they reviewed or launched. "
        "Plan admins write them.",
    },
    {
        "name": "progress",
        "description": "Progress reported on a project or a goal, dated, in both languages, "
        "each with its source (`stated` by a government or `entered` by an agency). A report "
        "is seen as its project is; agency editors report on their agency's projects "
        "(`/projects/{code}/progress/`), plan admins on any project and on goals.",
    },
    {
        "name": "results",
        "description": "A project's results framework, as IATI models it: results "
        "(`/results/`, `/projects/{code}/results/`; output, outcome, impact or other), the "
        "indicators that measure them (`/indicators/`, with their `result`: measure, "
        "direction, optional baseline) and the indicators' periods (`/periods/`, with their "
        "`indicator`: optional dates, target and actual, and where the actual was "
        "published). A result is read with its indicators and their periods. All are seen "
        "as their project is; agency editors write them on their agency's projects, plan "
        "admins on any. Each has an issued code, a version (ETag, If-Match) and its own "
        "changes in the feed.",
    },
    {
        "name": "plan",
        "description": "The whole plan in one document, with an ETag: the simplest way to "
        "mirror it.",
    },
    {
        "name": "summary",
        "description": "The plan in numbers: projects per pillar, goal, agency, country and "
        "status, the latest progress in each pillar, and how many facts the governments "
        "stated. Of what the caller may see, with the project list's filters.",
    },
    {
        "name": "codelists",
        "description": "What every code means: the IATI, ISO and plan codelists the coded "
        "fields use, each entry named in English and Spanish.",
    },
    {
        "name": "changes",
        "description": "The change feed: every create, update, archive and restore after a "
        "cursor, each with the object's whole state. Replay it to keep a copy in sync.",
    },
    {
        "name": "webhooks",
        "description": "Webhook subscriptions and their delivery log (plan admins). Each "
        "change is POSTed as the `planChanged` webhook describes.",
    },
    {
        "name": "exports",
        "description": "The project list as CSV or IATI 2.03 activity XML, and the progress "
        "reports as CSV, with the lists' filters and visibility.",
    },
]
TAG_GROUPS = [
    {
        "name": "The plan",
        "tags": [
            "pillars",
            "goals",
            "agencies",
            "projects",
            "meetings",
            "progress",
            "results",
        ],
    },
    {
        "name": "Integration",
        "tags": ["plan", "summary", "codelists", "changes", "webhooks", "exports"],
    },
]


def _problem_code_table() -> str:
    rows = [
        f"| `{code}` | {status} | {meaning} |"
        for code, (status, meaning) in sorted(PROBLEM_CODES.items(), key=lambda i: i[1][0])
    ]
    return "\n".join(["| code | status | meaning |", "| --- | --- | --- |", *rows])


OVERVIEW = """\
The work plan of the Mexico–United States High-Level Economic Dialogue (Diálogo Económico de
Alto Nivel): its four pillars, their goals, the agencies of both governments and the projects
that carry the plan out, in English and Spanish. Every example in this document is a real
answer of the API with the plan presented on 13 December 2021 loaded.

## Authentication and roles

Reading the published plan needs no credentials. Partner systems send a bearer token,
issued by a plan admin (`manage.py create_api_token NAME --agency SE --role editor`):

```
Authorization: Bearer wpt_1a2b3c4d_...
```

| role | reads | writes |
| --- | --- | --- |
| anonymous | published, active objects | nothing (401) |
| reader | also its agency's unpublished projects | nothing (403) |
| agency editor | as a reader | projects its agency takes part in (not `is_published`) |
| plan admin | everything active | everything; restores archived objects |

An object the caller may not see is a 404, never a 403. `DELETE` archives: the object
leaves lists and details and its code is never reused; a plan admin can restore it.

## Safe updates: ETag and If-Match

Every object read carries an `ETag`. Send it back in `If-Match` with `PUT`, `PATCH` or
`DELETE`: without it the answer is 428, and if someone changed the object since your
read it is 412 and nothing is written (read again, reapply, retry).

```
GET /api/v1/projects/HLED-2021-01/          -> 200, ETag: "1-8e0f..."
PATCH /api/v1/projects/HLED-2021-01/
If-Match: "1-8e0f..."
{"status": "2", "planned_start": "2022-03-01"}   -> 200, ETag: "2-e6ee..."
```

`If-None-Match` with an ETag gives a 304 when nothing changed (objects and `/plan/`).

## Creating exactly once: Idempotency-Key

Send `Idempotency-Key: <a new UUID>` with each `POST` that creates. A retry with the same
key and body within 24 hours returns the first answer (`Idempotent-Replayed: true`) and
creates nothing; the same key with another body is a 422; a retry while the first
request still runs is a 409.

## Query parameters

Unknown parameters are refused with a 400 naming them, and so is an empty (or blank)
value, for every parameter: `updated_since=`, `after=` or `fields=` is a 400
`invalid_query`, never read as "no filter". Leave a parameter out to not use it. Lists
(`fields`, `expand`, filters) take comma-separated values; the schema names the values
`fields` and `expand` accept on each operation.

## Errors

Every error is an RFC 9457 problem document (`application/problem+json`) with `type`,
`title`, `status`, `detail`, `instance` and a machine-readable `code`; invalid input
adds `errors`, one `{field, code, message}` per problem:

```json
{"type": "about:blank", "title": "Bad Request", "status": 400,
 "detail": "Unknown query parameter(s): colour.", "instance": "/api/v1/projects/?colour=red",
 "code": "invalid_query",
 "errors": [{"field": "colour", "code": "invalid", "message": "Unknown query parameter."}]}
```

Each operation lists the statuses it can answer, each with an example. The codes:

{problem_codes}

## Lists and pagination

Lists are pages: `{"count", "next", "previous", "results"}`, with `page` and `page_size`
(default 50, at most 100; more is a 400, never silently clamped). Filters take several
values, repeated or comma-separated (`?pillar=P1,P2`); `q` searches both languages;
`ordering` sorts (`-updated_at`); `fields=code,url,title` returns only those fields.
An unknown parameter or value is a 400 that names it.

## Languages

Text is in English unless you send `Accept-Language: es` or `?lang=es`; the answer says
which in `Content-Language`. `?lang=all` keeps English in the text fields and adds
`"translations": {"en": {...}, "es": {...}}` to every object. Request bodies always name
both: `title_en`, `title_es`.

## Keeping a copy in sync: the change feed and webhooks

`GET /api/v1/changes/?after=<cursor>` lists every change after the cursor, oldest first,
each with the object's whole state; keep the `cursor` of the last change applied, and
follow `next` while `has_more` is true. Upsert `object` by (`object_type`, `code`);
delete it when `visible` is false. The feed shows each caller only what it may see.

A plan admin subscribes a URL (`POST /api/v1/webhooks/`); each change is then POSTed
to it as the `planChanged` webhook shows, signed as Standard Webhooks says
(`webhook-id`, `webhook-timestamp`, `webhook-signature`). Delivery is at least once,
retried for about 27 hours: drop duplicates by `webhook-id`, and run the feed
(not the webhook body) as the source of truth.
"""


def document_overview(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: overview, version, servers and tags."""
    info = result.setdefault("info", {})
    # drf-spectacular appends " (v1)" to the version, which no client accepts as a version.
    info["version"] = settings.SPECTACULAR_SETTINGS["VERSION"]
    info["description"] = OVERVIEW.replace("{problem_codes}", _problem_code_table())
    result["servers"] = [
        {"url": "/", "description": "The server that serves this document (paths start /api/v1/)."}
    ]
    used = {
        tag
        for item in result.get("paths", {}).values()
        for operation in item.values()
        for tag in operation.get("tags", [])
    }
    known = [tag["name"] for tag in TAGS]
    result["tags"] = [tag for tag in TAGS if tag["name"] in used] + [
        {"name": name} for name in sorted(used - set(known))
    ]
    result["x-tagGroups"] = [
        {**group, "tags": [t for t in group["tags"] if t in used]} for group in TAG_GROUPS
    ]
    grouped = {t for group in TAG_GROUPS for t in group["tags"]}
    if used - grouped:  # ReDoc hides tags that belong to no group
        result["x-tagGroups"].append({"name": "Other", "tags": sorted(used - grouped)})
    _document_response_headers(result)
    return result


def _document_response_headers(result: dict[str, Any]) -> None:
    """Headers a client reads on success: Location of what was created, and whether an
    Idempotency-Key replayed the first answer."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            params = {p["name"] for p in operation.get("parameters", [])}
            for status, response in operation.get("responses", {}).items():
                if status == "201":
                    response.setdefault("headers", {})["Location"] = {
                        "schema": {"type": "string", "format": "uri"},
                        "description": "URL of the object created.",
                    }
                if status in ("200", "201") and "Idempotency-Key" in params:
                    response.setdefault("headers", {})["Idempotent-Replayed"] = {
                        "schema": {"type": "string", "enum": ["true"]},
                        "description": "Present when this is the stored answer to an "
                        "earlier request with the same Idempotency-Key.",
                    }
