from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import routers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from api.base import check_query_params


class APIRootView(routers.APIRootView):
    """The entry point of API v1: a link to every resource."""

    @extend_schema(
        operation_id="api_root",
        summary="List the resources of this API version",
        description="Returns an object that maps each resource name to the URL of its list.",
        tags=["root"],
        responses={
            200: OpenApiResponse(
                response={
                    "type": "object",
                    "additionalProperties": {"type": "string", "format": "uri"},
                },
                description="Resource name to list URL.",
            )
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check_query_params(request, {"format"})
        response = super().get(request, *args, **kwargs)
        for name in ("changes", "plan", "summary", "codelists"):
            response.data[name] = reverse(f"{request.version}:{name}", request=request)
        return response
