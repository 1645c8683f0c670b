"""Export of progress reports: mixed into ProgressReportViewSet."""

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request

from api.exports import EXPORT_NOTES, export_stream, stream_progress_csv
from api.renderers import CSVRenderer
from api.throttling import ExportRateThrottle


class ProgressExportMixin:
    """`GET progress/export/csv/`."""

    @extend_schema(
        operation_id="progress_export_csv",
        summary="Export progress reports as CSV",
        tags=["exports"],
        description=(
            "The progress reports the list would return (same filters, same visibility), "
            "one row each with the goal and pillar it falls under, streamed." + EXPORT_NOTES
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
        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        if not queryset.query.order_by:
            queryset = queryset.order_by("date", "code")
        response = StreamingHttpResponse(
            export_stream(
                stream_progress_csv(queryset.iterator(chunk_size=200), lambda r: f"{url}{r.code}/"),
                "progress CSV",
            ),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="progress.csv"'
        return response
