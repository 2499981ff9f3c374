"""Quorum's WSGI handler: Django's, with a fast lane for the annotators' work loop.

POST /api/v1/assignments/next/ and POST /api/v1/assignments/{id}/submit/ are nearly all of the
traffic (bench/throughput.py). Django's middleware chain and URL resolving cost about a quarter
of the server's Python on each of them (bench/README.md, throughput), yet for these requests the
middleware only check the host, may redirect to HTTPS, and add headers. So the handler answers
them with the lean views' code (annotation.api.lean) and applies exactly that part of the
middleware itself:

- before: every configured middleware with a request-phase check the lane must honour
  (SecurityMiddleware's HTTPS redirect, CommonMiddleware's host validation and redirects): when
  one of them would answer, or raises, the lane declines;
- after: each middleware's process_response, in Django's order (the security headers,
  X-Frame-Options, the Content-Security-Policy, Content-Length, and the session, CSRF and
  messages middleware, which leave these responses alone).

The lane declines, and Django's whole path answers as it always did, for anything else: another
path or method, any request the lean views do not answer themselves (session authentication, a bad
token, an unusual body, every refusal; annotation.api.lean), and any error (both calls may run again
safely: next resumes the lease it took, submit returns the stored annotation). If settings name a
middleware the lane does not know, the lane is off, so a new middleware is never skipped unseen;
QUORUM_FAST_LANE=0 turns it off too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.urls import set_urlconf
from django.utils.module_loading import import_string

# What each middleware does to a fast-lane request: "check" (its process_request may answer or
# raise: the lane then declines), "respond" (its process_response runs on the lane's answer), both,
# or nothing ("" : it reads or adds nothing these requests and answers use).
KNOWN_MIDDLEWARE = {
    "django.middleware.security.SecurityMiddleware": "check respond",
    "whitenoise.middleware.WhiteNoiseMiddleware": "",  # serves STATIC_URL paths only
    "django.contrib.sessions.middleware.SessionMiddleware": "respond",  # no session read: no change
    "django.middleware.common.CommonMiddleware": "check respond",
    "django.middleware.csrf.CsrfViewMiddleware": "respond",  # the views are csrf_exempt
    "django.contrib.auth.middleware.AuthenticationMiddleware": "",  # token authentication instead
    "django.contrib.messages.middleware.MessageMiddleware": "respond",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "respond",
    "django_htmx.middleware.HtmxMiddleware": "",  # sets request.htmx, which the views never read
    "core.middleware.ContentSecurityPolicyMiddleware": "respond",
    "core.middleware.ApiNotFoundMiddleware": "",  # rewrites 404s only; the lane never answers one
    # Acts only on a request that django-axes marked while refusing a password sign-in; the lane's
    # requests authenticate with a token and never sign in.
    "axes.middleware.AxesMiddleware": "",
}


logger = logging.getLogger(__name__)


def _unreachable(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the fast lane's middleware never call on")


class QuorumWSGIHandler(WSGIHandler):
    """Django's WSGIHandler (signals, request, response and their closing as ever), whose
    get_response answers the work loop's requests through the fast lane when it can."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from annotation.api.lean import FAST_LANE

        self.lanes = FAST_LANE
        self.checks: list[Callable] = []
        self.responders: list[Callable] = []
        unknown = [path for path in settings.MIDDLEWARE if path not in KNOWN_MIDDLEWARE]
        self.enabled = settings.QUORUM_FAST_LANE and not unknown and not settings.STATIC_URL.startswith("/api/")
        if not self.enabled:
            return
        for path in settings.MIDDLEWARE:
            roles = KNOWN_MIDDLEWARE[path].split()
            if not roles:
                continue
            middleware = import_string(path)(_unreachable)
            if "check" in roles:
                self.checks.append(middleware.process_request)
            if "respond" in roles:
                self.responders.insert(0, middleware.process_response)  # Django's order: last first

    def get_response(self, request: HttpRequest) -> HttpResponse:
        if self.enabled and request.method == "POST":
            for pattern, answer in self.lanes:
                match = pattern.match(request.path_info)
                if match is not None:
                    response = self._lane(request, answer, match.groupdict())
                    if response is not None:
                        return response
                    request.fast_lane_declined = True  # the lean view hands it to the action at once
                    break
        return super().get_response(request)

    def _lane(self, request: HttpRequest, answer: Callable, kwargs: dict[str, str]) -> HttpResponse | None:
        try:
            for check in self.checks:
                if check(request) is not None:
                    return None
            set_urlconf(settings.ROOT_URLCONF)
            response = answer(request, **kwargs)
            if response is None:
                return None
            for respond in self.responders:
                response = respond(request, response)
        except DisallowedHost:
            return None  # Django's path answers 400 and logs it
        except Exception:  # Django's path runs it again and answers as it would
            logger.warning("fast lane: %s %s declined after an error", request.method, request.path, exc_info=True)
            return None
        response._resource_closers.append(request.close)
        return response
