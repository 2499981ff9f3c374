"""The annotators' work loop over HTTP: next and submit, without DRF's per-request machinery.

This module owns the loop's HTTP handling, for all three ways in: the plain input parsers
(plain_next, plain_submit) and the work once parsed (work_next, work_assignment_id, work_submit),
which the viewset's actions (annotation.api.views) call too; and the lean answers (next_answer,
submit_answer), which the WSGI handler's fast lane (config/fastlane.py, through FAST_LANE) and
the lean URL views (lean_urlpatterns) give.

POST /api/v1/assignments/next/ and POST /api/v1/assignments/{id}/submit/ are nearly all of the
API's traffic, and for each of them DRF's request wrapping, content negotiation, authenticator
and permission objects and response rendering cost about as much Python as the work itself
(bench/README.md, throughput). These plain Django views are routed in front of the viewset's
two actions (config/urls.py) and answer the usual request themselves: authenticated by an API
token that is good, a JSON body of the usual shape, nothing to negotiate. They run the same code
as the actions (work_next / work_submit, the services, the direct response builders) and answer
the same status, headers and body, through the same middleware.

Everything else goes to the viewset's action itself, which answers as it always did: another
method, no token (session authentication and its CSRF check stay DRF's), a token that fails,
another content type, an Accept header or query string that asks for something, a body the plain
parsers do not take, and every refusal of the work (a domain error, not found, not allowed). A
refused next or submit changed nothing (the service refuses before it writes, or its transaction
rolls back), so the action runs it again and answers the refusal in DRF's words. An unexpected
error (the database's) propagates to Django's 500 handler, as it does through DRF.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework import HTTP_HEADER_ENCODING, exceptions
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.routers import BaseRouter

from annotation import selectors, services
from annotation.api.serializers import annotation_data, work_data
from annotation.models import LABEL_KEY_RE, Annotation, Assignment
from core.authentication import CachedTokenAuthentication
from core.errors import NotAllowed, QuorumError
from projects import access  # an interface may read projects (annotation's models and services may not)

# The Accept headers for which DRF's negotiation picks the JSON renderer with no parameters.
_ACCEPTS_JSON = frozenset(["*/*", "application/json"])
_MAX_BODY = 16_384  # bytes: the work loop's bodies are far smaller; larger ones take DRF's way
# What makes the work refuse: the action answers these (after running the work again).
_REFUSALS = (exceptions.APIException, QuorumError, DjangoValidationError, ObjectDoesNotExist, Http404, PermissionDenied)
_authentication = CachedTokenAuthentication()
_renderer = JSONRenderer()


def _user(request: HttpRequest) -> Any | None:
    """The user of a request that authenticates with a good API token, as DRF's first
    authenticator finds it; None for anything else (DRF's way then decides)."""
    # TokenAuthentication.authenticate's parsing, from META (its request.headers builds a
    # mapping of every header, a tenth of a lean request's Python); any doubt is DRF's to answer.
    raw = request.META.get("HTTP_AUTHORIZATION")
    if not raw:
        return None
    try:
        keyword, key = raw.encode(HTTP_HEADER_ENCODING).split()
        if keyword.lower() != b"token":
            return None
        found = _authentication.authenticate_credentials(key.decode())
    except (ValueError, UnicodeError, exceptions.APIException):
        return None
    request.user, request.auth = found  # as DRF sets them on the request it wraps
    return found[0]


def _body(request: HttpRequest) -> Any | None:
    """The JSON body, parsed as DRF's JSONParser parses it, of a plain POST whose answer is JSON
    (no query string, an Accept header that DRF answers with JSON as is); else None."""
    meta = request.META
    if (
        meta.get("CONTENT_TYPE") != "application/json"
        or meta.get("QUERY_STRING")
        or meta.get("HTTP_ACCEPT", "*/*") not in _ACCEPTS_JSON
    ):
        return None
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= _MAX_BODY:
        return None
    try:
        # From request.body, which keeps the bytes: DRF reads them again if it must answer. orjson
        # takes what JSONParser takes or less (no NaN, no lone surrogates, 64-bit integers), to
        # the same values; what it refuses, DRF's parser answers.
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return None


def _json(data: Any, code: int = 200) -> HttpResponse:
    """The response DRF's Response would be after rendering with the JSON renderer."""
    response = HttpResponse(_renderer.render(data), status=code, content_type="application/json")
    _headers(response)
    return response


def _headers(response: HttpResponse) -> None:
    # APIView.default_response_headers of the actions: allowed methods, and Vary on Accept (the
    # view has more than one renderer).
    response["Allow"] = "POST, OPTIONS"
    response["Vary"] = "Accept"


def _no_content() -> HttpResponse:
    response = HttpResponse(status=204)
    del response["Content-Type"]  # as DRF's Response drops it for an empty body
    _headers(response)
    return response


def _plain_int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


# The usual bodies of next and submit, parsed directly (a DRF serializer costs about 1 ms per call);
# anything else, including every body with an error, is the input serializer's to answer (None here).


def plain_next(data: Any) -> dict[str, Any] | None:
    """AssignmentNextSerializer's validated data for {"project": <positive int>}; else None."""
    if isinstance(data, dict) and data.keys() == {"project"} and _plain_int(data["project"], 1, 2**63 - 1):
        return {"project": data["project"]}
    return None


def plain_submit(data: Any) -> dict[str, Any] | None:
    """AnnotationSubmitSerializer's validated data for a body of label keys (as label keys are
    written: lowercase, digits, '_' and '-'), an optional whole time and no comment; else None."""
    if not isinstance(data, dict) or not data.keys() <= {"labels", "time_spent_ms"}:
        return None
    labels, time_spent_ms = data.get("labels"), data.get("time_spent_ms", 0)
    if type(labels) is not list or not all(type(key) is str and _LABEL_KEY.match(key) for key in labels):
        return None
    if not _plain_int(time_spent_ms, 0, 2**31 - 1):
        return None
    return {"labels": list(labels), "time_spent_ms": time_spent_ms, "comment": ""}


_LABEL_KEY = re.compile(LABEL_KEY_RE.replace("$", r"\Z"))


# What next and submit do once their input is parsed: shared by the lean answers below (the fast
# lane's and the lean URL views') and the viewset's actions behind them, so all three answer alike.


def work_next(*, user: Any, project_id: int) -> Assignment | None:
    """`user`'s next assignment in the project `project_id` (None: no work left for them)."""
    # The project by its id alone, and the service's role check decides; only a refusal pays
    # for the visibility check, which makes a project you may not see a 404, not a 403.
    project, context = services.work_start(project_id=project_id, annotator=user)
    if project is None:
        raise NotFound("No such project among yours.")
    try:
        return services.assignment_next(project=project, annotator=user, context=context)
    except NotAllowed:
        if not access.can_view_project(user, project):
            raise NotFound("No such project among yours.") from None
        raise


def work_assignment_id(pk: str | None) -> int:
    """The assignment id of a submit URL; NotFound for one that no row can have."""
    assignment_id = int(pk) if pk and pk.isascii() and pk.isdigit() else 0
    if not 0 < assignment_id < 2**63:  # beyond a bigint: no such row (as the ORM's lookup has it)
        raise NotFound("No such assignment among yours.")
    return assignment_id


def work_submit(*, user: Any, assignment_id: int, fields: dict[str, Any]) -> Annotation:
    """Submit `fields` (labels, time_spent_ms, comment) for `user`'s assignment; the annotation,
    with the item's external id and batch as the annotation list annotates them."""
    # No get_object(): the service locks and reads the assignment itself, and refuses anybody
    # else's; a refusal is a 404 here, as get_object would answer (your own assignments only).
    try:
        annotation = services.annotation_submit(
            assignment=selectors.row_instance(Assignment, {"id": assignment_id}), actor=user, **fields
        )
    except (Assignment.DoesNotExist, NotAllowed):
        raise NotFound("No such assignment among yours.") from None
    # What annotation_list annotates, from the item the service loaded (no query on this hot path).
    annotation.external_id, annotation.batch_id = annotation.item.external_id, annotation.item.batch_id
    return annotation


def next_answer(request: HttpRequest) -> HttpResponse | None:
    """The lean answer to POST /api/v1/assignments/next/, or None: the action must answer."""
    if request.method == "POST" and (user := _user(request)) is not None:
        fields = plain_next(_body(request))
        if fields is not None:
            try:
                assignment = work_next(user=user, project_id=fields["project"])
            except _REFUSALS:
                return None
            if assignment is None:
                return _no_content()
            return _json(work_data(selectors.assignment_work_get(assignment=assignment)))
    return None


def submit_answer(request: HttpRequest, pk: str) -> HttpResponse | None:
    """The lean answer to POST /api/v1/assignments/{pk}/submit/, or None: the action must answer."""
    if request.method == "POST" and (user := _user(request)) is not None:
        fields = plain_submit(_body(request))
        if fields is not None:
            try:
                annotation = work_submit(user=user, assignment_id=work_assignment_id(pk), fields=fields)
            except _REFUSALS:
                return None
            return _json(annotation_data(annotation))
    return None


# The two paths as config/urls.py mounts the views below (a test holds them equal), for the WSGI
# handler's fast lane (config/fastlane.py), which answers them before Django's middleware chain.
FAST_LANE = (
    (re.compile(r"^/api/v1/assignments/next/$"), next_answer),
    (re.compile(r"^/api/v1/assignments/(?P<pk>[0-9]+)/submit/$"), submit_answer),
)


def lean_urlpatterns(router: BaseRouter) -> list[URLPattern]:
    """URL patterns for next and submit (to include under /api/v1/ ahead of the router's), each
    falling back to the router's own view for that action. A request the fast lane tried already
    goes to the action at once."""
    fallback = {
        pattern.name: pattern.callback
        for pattern in router.urls
        if pattern.name in ("assignment-next", "assignment-submit") and "format" not in pattern.pattern.regex.groupindex
    }
    next_fallback, submit_fallback = fallback["assignment-next"], fallback["assignment-submit"]

    @csrf_exempt  # as the viewset (DRF checks CSRF for session authentication, which falls back)
    def assignment_next(request: HttpRequest) -> HttpResponse:
        if not getattr(request, "fast_lane_declined", False) and (response := next_answer(request)) is not None:
            return response
        return next_fallback(request)

    @csrf_exempt
    def assignment_submit(request: HttpRequest, pk: str) -> HttpResponse:
        if not getattr(request, "fast_lane_declined", False) and (response := submit_answer(request, pk)) is not None:
            return response
        return submit_fallback(request, pk=pk)

    return [
        re_path(r"^assignments/next/$", assignment_next),
        re_path(r"^assignments/(?P<pk>[0-9]+)/submit/$", assignment_submit),
    ]
