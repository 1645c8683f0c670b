from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from api.errors import not_found_view

from . import views
from .changes import ChangeFeedView
from .plan import PlanView
from .root import APIRootView
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
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="v1:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="v1:schema"), name="redoc"),
    path("changes/", ChangeFeedView.as_view(), name="changes"),
    path("plan/", PlanView.as_view(), name="plan"),
    *router.urls,
    re_path(r"^.*$", not_found_view),
]
