"""Response headers that defend the pages against hostile item content."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


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
