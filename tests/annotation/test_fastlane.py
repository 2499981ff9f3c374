"""The WSGI handler's fast lane (config/fastlane.py): the work loop's next and submit answered
before Django's middleware chain, with the answer Django's whole path gives (status, every header,
body), and Django's path for everything the lane does not take."""

from __future__ import annotations

import io
import json
import sys

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import resolve
from rest_framework.authtoken.models import Token

from annotation.api import lean
from annotation.models import Annotation
from config.fastlane import KNOWN_MIDDLEWARE, QuorumWSGIHandler
from tests.annotation.factories import BatchFactory, ItemFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_token_memory")]

NEXT = "/api/v1/assignments/next/"


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: the handler's request signals must not close the test's
    connection (and with it the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def chain_calls() -> list[str]:
    """The paths of the requests that went through Django's middleware chain (see _pair)."""
    return []


def _call(handler, path: str, body: bytes, *, token: str | None = None, **extra) -> tuple[int, dict, bytes]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "testserver",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **({"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}),
        **extra,
    }
    answer: list = []
    result = handler(environ, lambda status, headers, exc_info=None: answer.extend([status, headers]))
    try:
        content = b"".join(result)
    finally:
        result.close()
    status, headers = answer
    return int(status.split(" ", 1)[0]), dict(headers), content


def _json(data) -> bytes:
    return json.dumps(data).encode()


def _items(project, count, **fields):
    batch = BatchFactory(project=project)
    return [ItemFactory(batch=batch, **fields) for _ in range(count)]


def _pair(settings, chain_calls: list[str]):
    """The handler with its lane, and the same handler with the lane off (Django's whole path),
    each noting in `chain_calls` the requests that reach its middleware chain."""
    lane = QuorumWSGIHandler()
    settings.QUORUM_FAST_LANE = False
    plain = QuorumWSGIHandler()
    settings.QUORUM_FAST_LANE = True
    assert lane.enabled and not plain.enabled
    for handler in (lane, plain):

        def counted(request, _chain=handler._middleware_chain):
            chain_calls.append(request.path)
            return _chain(request)

        handler._middleware_chain = counted
    return lane, plain


def test_the_lane_answers_next_and_submit_as_djangos_whole_path(live, annotator, settings, chain_calls):
    _items(live, 1, required_annotations=1, text="<script>alert(1)</script> \u2028")
    token = Token.objects.create(user=annotator).key
    lane, plain = _pair(settings, chain_calls)

    laned = _call(lane, NEXT, _json({"project": live.pk}), token=token)
    assert chain_calls == []  # answered before the middleware chain
    whole = _call(plain, NEXT, _json({"project": live.pk}), token=token)  # resumes the same lease
    assert chain_calls == [NEXT]
    assert laned == whole
    status, headers, content = laned
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(content)["item"]["text"] == "<script>alert(1)</script> \u2028"  # data, never markup here
    for header in ("X-Frame-Options", "Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"):
        assert header in headers, header  # what the middleware add, the lane adds
    assert headers["Content-Length"] == str(len(content))

    work = json.loads(content)
    submit = f"/api/v1/assignments/{work['id']}/submit/"
    laned = _call(lane, submit, _json({"labels": ["spam"], "time_spent_ms": 800}), token=token)
    whole = _call(plain, submit, _json({"labels": ["spam"], "time_spent_ms": 800}), token=token)  # the stored one
    assert laned == whole and laned[0] == 200
    assert Annotation.objects.get(assignment_id=work["id"]).labels == ["spam"]
    assert chain_calls == [NEXT, submit]

    no_work = _call(lane, NEXT, _json({"project": live.pk}), token=token)
    assert no_work == _call(plain, NEXT, _json({"project": live.pk}), token=token)
    assert no_work[0] == 204 and no_work[2] == b""


def test_https_and_its_strict_transport_header_as_django(live, annotator, settings, chain_calls):
    _items(live, 1, required_annotations=1)
    token = Token.objects.create(user=annotator).key
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    lane, plain = _pair(settings, chain_calls)

    # Plain HTTP: Django's redirect to HTTPS, from Django's path.
    redirected = _call(lane, NEXT, _json({"project": live.pk}), token=token)
    assert redirected[0] == 301 and redirected[1]["Location"].startswith("https://testserver/")
    assert chain_calls == [NEXT]
    # HTTPS: the lane answers, with the HSTS header as Django adds it.
    laned = _call(lane, NEXT, _json({"project": live.pk}), token=token, **{"wsgi.url_scheme": "https"})
    assert chain_calls == [NEXT]
    whole = _call(plain, NEXT, _json({"project": live.pk}), token=token, **{"wsgi.url_scheme": "https"})
    assert laned == whole and laned[1]["Strict-Transport-Security"] == "max-age=3600"


def test_a_host_not_allowed_is_djangos_400(live, annotator, settings, chain_calls):
    token = Token.objects.create(user=annotator).key
    lane, _ = _pair(settings, chain_calls)
    status, _, _ = _call(lane, NEXT, _json({"project": live.pk}), token=token, HTTP_HOST="evil.example")
    assert status == 400 and chain_calls == [NEXT]


def test_what_the_lean_views_do_not_answer_takes_djangos_path_once(live, annotator, reviewer, settings, chain_calls):
    _items(live, 1, required_annotations=1)
    token = Token.objects.create(user=annotator).key
    lane, plain = _pair(settings, chain_calls)
    # No token (401), a bad token (401), a refusal (a reviewer is no annotator: 403): DRF's answers.
    for who in (None, "0" * 40, Token.objects.create(user=reviewer).key):
        laned = _call(lane, NEXT, _json({"project": live.pk}), token=who)
        assert laned[0] in (401, 403) and laned == _call(plain, NEXT, _json({"project": live.pk}), token=who)
    # Another path and another method are Django's too.
    assert _call(lane, "/api/v1/assignments/", b"{}", token=token)[0] == 405
    assert len(chain_calls) == 7


def test_an_error_in_the_lane_is_answered_by_djangos_path(live, annotator, settings, chain_calls, monkeypatch):
    _items(live, 1, required_annotations=1)
    token = Token.objects.create(user=annotator).key
    lane, _ = _pair(settings, chain_calls)
    failures = []

    def broken(*args, **kwargs):
        failures.append(1)
        raise RuntimeError("a bug in the lane")

    monkeypatch.setattr(lean, "work_data", broken)  # after the lease is taken: the action resumes it
    status, _, content = _call(lane, NEXT, _json({"project": live.pk}), token=token)
    assert status == 200 and json.loads(content)["item"]["id"] and failures == [1]
    assert chain_calls == [NEXT]  # the lean URL view did not try again: straight to the action


def test_an_unknown_middleware_turns_the_lane_off(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    assert not QuorumWSGIHandler().enabled
    assert set(KNOWN_MIDDLEWARE) >= set(settings.MIDDLEWARE[:-1])


def test_the_lanes_paths_are_the_lean_views_urls():
    assert resolve(NEXT).func.__name__ == "assignment_next"
    assert resolve("/api/v1/assignments/12/submit/").func.__name__ == "assignment_submit"
    paths = [NEXT, "/api/v1/assignments/12/submit/"]
    assert [bool(pattern.match(path)) for (pattern, _), path in zip(lean.FAST_LANE, paths, strict=True)] == [True, True]


def test_the_wsgi_application_is_the_laned_handler():
    from config.wsgi import application

    assert isinstance(application, QuorumWSGIHandler) and application.enabled
