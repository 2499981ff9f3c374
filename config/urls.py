from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.api.views import TokenObtainView
from annotation.api.lean import lean_urlpatterns
from config.api import router
from core.apidocs import ApiDocsView

api_patterns = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]

# Under /api/, a path no route matches answers in JSON, like the API's own errors.
handler400 = "core.exceptions.bad_request"
handler404 = "core.exceptions.page_not_found"
handler500 = "core.exceptions.server_error"

urlpatterns = [
    # First, so the annotators' work loop is resolved in one step: next and submit without DRF's
    # per-request machinery when they can be; anything else falls back to the router's views.
    path("api/v1/", include(lean_urlpatterns(router))),
    path("", include("accounts.urls")),
    path("projects/", include("workbench.urls")),
    path("annotate/", include("annotation.urls")),
    path("quality/", include("quality.urls")),
    path("deliveries/", include("delivery.urls")),
    path("staff/", include("workbench.staff_urls")),
    path("api/v1/", include(api_patterns)),
    path("admin/", admin.site.urls),
    # The demo's generated images and voice notes (seed_demo writes them to MEDIA_ROOT/demo/).
    path("media/demo/", include("demo.urls")),
]
