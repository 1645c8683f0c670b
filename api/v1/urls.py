from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from api.docs import RedocView, SwaggerView
from api.errors import not_found_view
from workplan.models.base import CODE_URL_PATTERN

from . import views
from .changes import ChangeFeedView
from .codelists import CodelistDetailView, CodelistIndexView
from .plan import PlanView
from .root import APIRootView
from .summary import SummaryView
from .webhooks import WebhookSubscriptionViewSet


class Router(DefaultRouter):
    """No `.json` format suffixes: one URL per resource (`?format=` still works)."""

    include_format_suffixes = False


router = Router()
router.APIRootView = APIRootView
router.register("pillars", views.PillarViewSet, basename="pillar")
router.register("goals", views.GoalViewSet, basename="goal")
router.register("agencies", views.AgencyViewSet, basename="agency")
router.register("projects", views.ProjectViewSet, basename="project")
router.register("meetings", views.MeetingViewSet, basename="meeting")
router.register("progress", views.ProgressReportViewSet, basename="progress")
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")

# The documentation pages answer GET and HEAD only (OPTIONS has no template to render).
DOCS_METHODS = ["get", "head"]

urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(api_version="v1", http_method_names=DOCS_METHODS),
        name="schema",
    ),
    path(
        "docs/",
        SwaggerView.as_view(url_name="v1:schema", http_method_names=DOCS_METHODS),
        name="docs",
    ),
    path(
        "redoc/",
        RedocView.as_view(url_name="v1:schema", http_method_names=DOCS_METHODS),
        name="redoc",
    ),
    path("changes/", ChangeFeedView.as_view(), name="changes"),
    path("plan/", PlanView.as_view(), name="plan"),
    path("summary/", SummaryView.as_view(), name="summary"),
    path("codelists/", CodelistIndexView.as_view(), name="codelists"),
    re_path(
        r"^codelists/(?P<name>[a-z0-9-]{1,40})/$",
        CodelistDetailView.as_view(),
        name="codelist-detail",
    ),
    # A project's progress reports. Basename `progress`: the reports it creates are
    # located, and reversed, at /progress/{code}/.
    re_path(
        rf"^projects/(?P<project_code>{CODE_URL_PATTERN})/progress/$",
        views.ProjectProgressViewSet.as_view(
            {"get": "list", "post": "create"}, basename="progress", detail=False
        ),
        name="project-progress-list",
    ),
    *router.urls,
    re_path(r"^.*$", not_found_view),
]
