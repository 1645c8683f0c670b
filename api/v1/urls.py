from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from api.errors import not_found_view

from . import views
from .root import APIRootView

router = DefaultRouter(trailing_slash="/?")  # type: ignore[arg-type]  # optional slash
router.APIRootView = APIRootView
router.register("pillars", views.PillarViewSet, basename="pillar")
router.register("goals", views.GoalViewSet, basename="goal")
router.register("agencies", views.AgencyViewSet, basename="agency")
router.register("projects", views.ProjectViewSet, basename="project")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="v1:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="v1:schema"), name="redoc"),
    *router.urls,
    re_path(r"^.*$", not_found_view),
]
