"""Bulk upsert and exports of projects: mixed into ProjectViewSet."""

import re
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ItemErrors, django_validation_detail, flatten_errors
from api.exports import EXPORT_NOTES, export_stream, stream_csv, stream_iati
from api.idempotency import idempotent
from api.parsers import NulCharacters
from api.renderers import CSVRenderer, IATIXMLRenderer
from api.throttling import ExportRateThrottle
from workplan import services
from workplan.models.base import CODE_PATTERN, code_validator

from .serializers.projects import ProjectWriteSerializer
from .serializers.results import BulkResultSerializer, bulk_result_data

CODE_RE = re.compile(CODE_PATTERN)


class ProjectBulkItemSerializer(ProjectWriteSerializer):
    """One project of a bulk request: `code` always; for a new code also what creating a
    project needs (`goal`, `title_en`, `title_es`, ...), for an existing one only the fields
    to change. `results` (optional) upserts the project's results by code, each with its
    `indicators` and their `periods` (also by code; without a code one is issued);
    results, indicators and periods not sent are left as they are."""

    results = BulkResultSerializer(many=True, required=False)

    class Meta(ProjectWriteSerializer.Meta):
        fields = [*ProjectWriteSerializer.Meta.fields, "results"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.required = name == "code"


class ProjectBulkSerializer(serializers.Serializer):
    projects = ProjectBulkItemSerializer(many=True, help_text="Projects keyed by `code`.")


class ProjectBulkItemResultSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.ChoiceField(["created", "updated", "unchanged"])
    url = serializers.URLField()


class ProjectBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    results = ProjectBulkItemResultSerializer(many=True)


def _item_errors(index: int, code: str, detail: Any) -> list[dict[str, Any]]:
    return [
        {
            **error,
            "field": f"projects.{index}" + (f".{error['field']}" if error["field"] else ""),
            "index": index,
            "item_code": code,
        }
        for error in flatten_errors(detail)
    ]


def _nul_item_errors(exc: NulCharacters) -> list[dict[str, Any]]:
    """The parser's NUL errors, those inside an item naming it as every item error does."""
    items = exc.data.get("projects") if isinstance(exc.data, dict) else None
    errors: list[dict[str, Any]] = []
    for path, error in zip(exc.paths, exc.problem_errors, strict=True):
        entry: dict[str, Any] = dict(error)
        if len(path) > 1 and path[0] == "projects" and isinstance(path[1], int) and items:
            item = items[path[1]]
            code = str(item.get("code", "")).upper() if isinstance(item, dict) else ""
            entry.update(index=path[1], item_code=code)
        errors.append(entry)
    return errors


def _detail(error: Exception) -> Any:
    """A service's refusal of one item, as field errors."""
    if isinstance(error, services.NotPermitted):
        return {"code": [error.message]}
    if isinstance(error, DjangoValidationError):
        return django_validation_detail(error)
    return [str(error)]


class ProjectBulkAndExportMixin:
    """`POST projects/bulk/`, `GET projects/export/csv/` and `GET projects/export/iati/`."""

    @extend_schema(
        operation_id="projects_bulk_upsert",
        summary="Create or update many projects",
        description=(
            "Creates or updates up to `API_BULK_MAX_ITEMS` (default 100) projects keyed by "
            "code, all or nothing, in one transaction. Existing projects are updated with "
            "the fields sent (as PATCH); new codes are created. The same permissions, "
            "audit entries and webhooks apply as for single writes. On any failure nothing "
            "is written and the 400 problem lists each failing item's `index`, "
            "`item_code` and field errors. Accepts Idempotency-Key. An item's `results` "
            "upserts the project's results by code (with their `indicators` and `periods`, "
            "also by code; new ones without a code get one issued); those not sent are "
            "left as they are."
        ),
        request=ProjectBulkSerializer,
        responses={200: ProjectBulkResultSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                location=OpenApiParameter.HEADER,
                description=(
                    "A unique key (e.g. a UUID) per intended request. A retry with the same "
                    "key and body within 24 hours returns the first response and writes "
                    "nothing (`Idempotent-Replayed: true`)."
                ),
            )
        ],
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return idempotent(request, lambda: self._bulk(request))

    def _bulk(self, request: Request) -> Response:
        try:
            body = request.data
        except NulCharacters as exc:
            raise ItemErrors(_nul_item_errors(exc), exc.problem_detail) from None
        limit = settings.API_BULK_MAX_ITEMS
        if not isinstance(body, dict) or not isinstance(body.get("projects"), list):
            raise serializers.ValidationError({"projects": ['Send {"projects": [...]}.']})
        unknown = sorted(set(body) - {"projects"})
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        raw_items = body["projects"]
        if not 1 <= len(raw_items) <= limit:
            raise serializers.ValidationError(
                {"projects": [f"Send from 1 to {limit} projects; got {len(raw_items)}."]}
            )
        # Only well-formed codes are looked up (PostgreSQL refuses NUL bytes, for one).
        codes = [
            code
            for item in raw_items
            if isinstance(item, dict) and CODE_RE.match(code := str(item.get("code", "")).upper())
        ]
        # Which codes the caller may update, may not touch, or would create: the policy's call.
        targets = services.project_bulk_targets(actor=self.actor(), codes=codes)  # type: ignore[attr-defined]
        context = self.get_serializer_context()  # type: ignore[attr-defined]
        errors: list[dict[str, Any]] = []
        items: list[services.BulkItem] = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_items):
            code = str(raw.get("code", "")).upper() if isinstance(raw, dict) else ""
            problem = None
            if not isinstance(raw, dict):
                problem = {"non_field_errors": ["Each item must be an object."]}
            elif not code:
                problem = {"code": ["This field is required."]}
            elif not CODE_RE.match(code):
                problem = {"code": [str(code_validator.message)]}
            elif code in seen:
                problem = {"code": ["This code appears twice in the request."]}
            elif code in targets.refused:
                problem = {"code": [targets.refused[code]]}
            seen.add(code)
            if problem:
                errors += _item_errors(index, code, problem)
                continue
            obj = targets.projects.get(code)
            fields = {name: value for name, value in raw.items() if name != "results"}
            serializer = ProjectWriteSerializer(
                obj, data=fields, partial=obj is not None, context=context
            )
            framework: Any = None  # the project's results, when the item sends them
            if "results" in raw:
                framework = BulkResultSerializer(data=raw["results"], many=True, context=context)
            valid = serializer.is_valid()
            if framework is not None and not framework.is_valid():
                errors += _item_errors(index, code, {"results": framework.errors})
                valid = False
            if not valid:
                if serializer.errors:
                    errors += _item_errors(index, code, serializer.errors)
                continue
            items.append(
                services.BulkItem(
                    index,
                    code,
                    obj,
                    cast(services.ProjectData, serializer.service_data()),
                    None
                    if framework is None
                    else [bulk_result_data(r) for r in framework.validated_data],
                )
            )
        try:
            # With items already refused, the rest are still checked (and rolled back),
            # so the answer lists every failing item at once.
            results = services.project_bulk_upsert(
                items=items,
                actor=self.actor(),  # type: ignore[attr-defined]
                commit=not errors,
            )
        except services.BulkError as exc:
            for index, code, error in exc.errors:
                errors += _item_errors(index, code, _detail(error))
        if errors:
            errors.sort(key=lambda e: e["index"])
            failing = sorted({e["index"] for e in errors})
            raise ItemErrors(
                errors,
                f"{len(failing)} of {len(raw_items)} item(s) failed; nothing was written. "
                f"Failing items: {', '.join(map(str, failing))}.",
            )
        counts = {
            state: sum(1 for _, s in results if s == state)
            for state in ("created", "updated", "unchanged")
        }
        return Response(
            {
                **counts,
                "results": [
                    {
                        "code": code,
                        "status": state,
                        "url": self.reverse_action("detail", kwargs={"code": code}),  # type: ignore[attr-defined]
                    }
                    for code, state in results
                ],
            }
        )

    def _export_queryset(self) -> Any:
        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        if not queryset.query.order_by:
            queryset = queryset.order_by("code")
        return queryset

    @extend_schema(
        operation_id="projects_export_csv",
        tags=["exports"],
        summary="Export projects as CSV",
        description=(
            "The projects the list would return (same filters, same visibility), one row "
            "each, streamed. Lists are joined with `;`; agencies as `CODE:ROLE`." + EXPORT_NOTES
        ),
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, UTF-8."),
        },
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export/csv",
        renderer_classes=[CSVRenderer],
        throttle_classes=[ExportRateThrottle],
    )
    def export_csv(self, request: Request, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        url = self.reverse_action("list")  # type: ignore[attr-defined]
        response = StreamingHttpResponse(
            export_stream(stream_csv(self._export_queryset(), url), "CSV"),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="projects.csv"'
        return response

    @extend_schema(
        operation_id="projects_export_iati",
        tags=["exports"],
        summary="Export projects as IATI activity XML",
        description=(
            "The projects the list would return, as an IATI 2.03 `iati-activities` "
            "document: one `iati-activity` per project with identifier, reporting "
            "organisation, English and Spanish narratives, participating organisations and "
            "roles, status, dates, recipient countries, and the project's results "
            "(`result` with its indicators, baselines and periods; results without "
            "indicators, baselines without a year and periods without both dates are left "
            "out, as IATI requires them). Streamed; a complete document ends with "
            "`</iati-activities>`." + EXPORT_NOTES
        ),
        responses={
            (200, "application/xml"): OpenApiResponse(OpenApiTypes.STR, description="IATI XML."),
        },
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export/iati",
        renderer_classes=[IATIXMLRenderer],
        throttle_classes=[ExportRateThrottle],
    )
    def export_iati(self, request: Request, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        response = StreamingHttpResponse(
            export_stream(stream_iati(self._export_queryset()), "IATI"),
            content_type="application/xml; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="iati-activities.xml"'
        return response
