"""The API's documentation page (Swagger UI, served from our own static files)."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView

from core.middleware import content_security_policy


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI under our Content-Security-Policy, with one relaxation: Swagger UI's own code
    sets inline styles (its layout), so this page, and only it, allows inline styles. Scripts stay
    locked to our origin, and the page shows no item content, only our schema."""

    @extend_schema(exclude=True)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().get(request, *args, **kwargs)
        if settings.QUORUM_CSP:
            response["Content-Security-Policy"] = re.sub(
                r"style-src ([^;]*)", r"style-src \1 'unsafe-inline'", content_security_policy(), count=1
            )
        return response
