from django.contrib import admin
from django.urls import include, path, re_path

from api.docs import favicon
from api.health import health, live, ready

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("favicon.ico", favicon, name="favicon"),
    # With or without the trailing slash: probes are configured by hand.
    re_path(r"^health/live/?$", live, name="health-live"),
    re_path(r"^health/ready/?$", ready, name="health-ready"),
    path("api/v1/", include(("api.v1.urls", "v1"), namespace="v1")),
    path("api-auth/", include("rest_framework.urls", namespace="rest_framework")),
]

handler400 = "api.errors.handler400"
handler403 = "api.errors.handler403"
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
