"""Response headers that defend the pages against hostile item content; the API's JSON 404."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class ContentSecurityPolicyMiddleware:
    """Adds the Content-Security-Policy header unless the response already set one.

    Item content is the harmful material we moderate; escaping is the first line of defence,
    and this policy (no inline script, scripts only from our origin) is the second.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.process_response(request, self.get_response(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if settings.QUORUM_CSP and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.QUORUM_CSP
        return response


class ApiNotFoundMiddleware:
    """A 404 under /api/ that is not the API's own JSON (no route matched: `/api/v1/requests/1.5/accept/`)
    answers in the API's error shape. settings.handler404 does that when DEBUG is off; with DEBUG
    on (the embedded default) Django answers its HTML debug page instead, which no client can read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
        return response
