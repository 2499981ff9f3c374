"""Quorum serves the demo's generated media itself (MEDIA_ROOT/demo/, written by seed_demo), so
the demo needs no other host. Only that folder: deliveries also live under MEDIA_ROOT and are
downloaded through the API, with its access checks, never from here."""

from __future__ import annotations

from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from django.views.static import serve

from demo.media import media_root


@require_safe
def demo_media(request: HttpRequest, path: str) -> HttpResponse:
    """A demo file by its path under MEDIA_ROOT/demo/ (404 outside it or when it is missing).
    Django's static view refuses paths that leave the folder and answers If-Modified-Since."""
    try:
        response = serve(request, path, document_root=str(media_root()))
    except SuspiciousFileOperation:
        raise Http404("no such demo file") from None
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
