"""The app's own URLs plus the baselines the bench compares the project list with."""

from django.urls import path

from config import urls as app_urls

from . import baselines

urlpatterns = [
    path("bench/raw/projects/", baselines.raw_project_list, name="bench-raw-project-list"),
    path(
        "bench/raw/projects/<str:code>/",
        baselines.raw_project_detail,
        name="bench-raw-project-detail",
    ),
    path(
        "bench/drf/projects/",
        baselines.UntunedProjectViewSet.as_view({"get": "list"}),
        name="bench-drf-project-list",
    ),
    *app_urls.urlpatterns,
]

handler400 = app_urls.handler400
handler403 = app_urls.handler403
handler404 = app_urls.handler404
handler500 = app_urls.handler500
