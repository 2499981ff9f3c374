"""Response headers that defend the pages against hostile item content; the API's JSON 404."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


def csp_host_sources(hosts: list[str] | tuple[str, ...]) -> list[str]:
    """CSP host-sources for media host names (settings.QUORUM_MEDIA_HOSTS): any port, the page's
    scheme (or its https upgrade); ".example.org" is it and its subdomains."""
    sources = []
    for host in hosts:
        if host.startswith("."):
            sources += [f"{host[1:]}:*", f"*{host}:*"]
        elif host and not host.startswith("["):  # CSP has no syntax for IPv6 literals; 'self' covers our own
            sources.append(f"{host}:*")
    return sources


_policies: dict[tuple[str, tuple[str, ...]], str] = {}


def content_security_policy() -> str:
    """settings.QUORUM_CSP with `{media}` replaced by 'self' and the media hosts' sources."""
    key = (settings.QUORUM_CSP, tuple(settings.QUORUM_MEDIA_HOSTS))
    policy = _policies.get(key)
    if policy is None:
        media = " ".join(["'self'", *csp_host_sources(key[1])])
        policy = _policies[key] = key[0].replace("{media}", media)
    return policy


class ContentSecurityPolicyMiddleware:
    """Adds the Content-Security-Policy header unless the response already set one.

    Item content is the harmful material we moderate; escaping is the first line of defence,
    and this policy (no inline script, scripts only from our origin, images and media only from
    the allowed media hosts) is the second.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.process_response(request, self.get_response(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if settings.QUORUM_CSP and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy()
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
