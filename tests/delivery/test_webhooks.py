from __future__ import annotations

import socket

import orjson
import pytest

from core.errors import NotAllowed, QuorumError
from delivery.models import WebhookAttempt
from delivery.services import webhooks
from delivery.services.build import delivery_build, delivery_create
from delivery.services.webhooks import webhook_endpoint_create, webhook_send
from tests.delivery.receiver import Receiver, signature_valid

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def fast_retries(settings):
    settings.QUORUM_WEBHOOK_BACKOFF_SECONDS = 0
    settings.QUORUM_WEBHOOK_MAX_ATTEMPTS = 4


def test_webhook_signed_event_reaches_the_team(
    labelled, lead, requester, fast_retries, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        webhook_endpoint_create(actor=requester, url=receiver.url, secret=SECRET)
        with django_capture_on_commit_callbacks(execute=True):
            delivery = delivery_create(project=labelled.project, actor=lead, formats=["jsonl"])
        assert receiver.event.wait(5)
    (call,) = receiver.received
    assert signature_valid(SECRET, call["headers"], call["body"])
    assert not signature_valid("another-secret-entirely", call["headers"], call["body"])
    body = orjson.loads(call["body"])
    assert body["event"] == "delivery.done"
    assert body["delivery"]["id"] == delivery.pk
    assert body["delivery"]["version"] == 1
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code == 200
    assert attempt.delivered_at is not None
    assert attempt.attempt == 1


def test_webhook_retries_with_backoff_and_records_every_attempt(
    labelled, lead, requester, fast_retries, django_capture_on_commit_callbacks
):
    with Receiver(statuses=[500, 503]) as receiver:
        webhook_endpoint_create(actor=requester, url=receiver.url, secret=SECRET)
        with django_capture_on_commit_callbacks(execute=True):
            delivery_create(project=labelled.project, actor=lead, formats=["jsonl"])
        assert receiver.event.wait(5)
    attempts = list(WebhookAttempt.objects.order_by("attempt").values_list("attempt", "status_code", "delivered_at"))
    assert [(a, s) for a, s, _ in attempts] == [(1, 500), (2, 503), (3, 200)]
    assert [d is not None for _, _, d in attempts] == [False, False, True]
    # The same event id on every attempt, so the receiver can drop duplicates.
    assert len({orjson.loads(call["body"])["id"] for call in receiver.received}) == 1


def test_webhook_gives_up_after_the_last_attempt(
    labelled, lead, requester, fast_retries, django_capture_on_commit_callbacks
):
    endpoint = webhook_endpoint_create(actor=requester, url="http://127.0.0.1:9/nothing-listens", secret=SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_create(project=labelled.project, actor=lead, formats=["jsonl"])
    attempts = list(endpoint.attempts.order_by("attempt"))
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    assert all(a.status_code is None and a.error and a.delivered_at is None for a in attempts)


def test_webhook_countdown_doubles(labelled, lead, requester, settings, monkeypatch):
    from delivery import tasks

    settings.QUORUM_WEBHOOK_BACKOFF_SECONDS = 30
    countdowns = []

    def fake_retry(*, countdown):
        countdowns.append(countdown)
        return RuntimeError("retry")

    monkeypatch.setattr(tasks.webhook_send, "retry", fake_retry)
    endpoint = webhook_endpoint_create(actor=requester, url="http://127.0.0.1:9/x", secret=SECRET)
    delivery = delivery_build(delivery_id=delivery_create(project=labelled.project, actor=lead).pk)
    for retries in range(3):
        tasks.webhook_send.push_request(retries=retries)
        try:
            with pytest.raises(RuntimeError):
                tasks.webhook_send.run(endpoint.pk, delivery.pk, "event-1")
        finally:
            tasks.webhook_send.pop_request()
    assert countdowns == [30, 60, 120]


def test_webhook_endpoint_rules(requester, lead, annotator):
    with pytest.raises(QuorumError, match="http"):
        webhook_endpoint_create(actor=requester, url="ftp://example.com/x", secret=SECRET)
    with pytest.raises(QuorumError, match="secret"):
        webhook_endpoint_create(actor=requester, url="https://example.com/x", secret="short")
    with pytest.raises(NotAllowed):
        webhook_endpoint_create(actor=annotator, url="https://example.com/x", secret=SECRET)


# --- Where webhooks may go ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.20/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_webhook_to_a_non_public_address_is_refused(requester, settings, url):
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(QuorumError, match="is not a public address") as refused:
        webhook_endpoint_create(actor=requester, url=url, secret=SECRET)
    assert refused.value.field == "url"


def test_webhook_to_a_public_host_is_registered_and_a_bad_port_is_refused(requester, settings):
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False
    for url in ("https://hooks.example.com/quorum", "http://93.184.216.34:8080/hook", "https://[2606:4700::1111]/h"):
        assert webhook_endpoint_create(actor=requester, url=url, secret=SECRET).url == url
    with pytest.raises(QuorumError, match="invalid port"):
        webhook_endpoint_create(actor=requester, url="http://example.com:99999/x", secret=SECRET)


def test_a_host_resolving_to_a_private_address_is_refused_at_send(labelled, lead, requester, settings, monkeypatch):
    """DNS can point a registered name inside the network later: the send checks again."""
    endpoint = webhook_endpoint_create(actor=requester, url="https://hooks.example.com/q", secret=SECRET)
    delivery = delivery_build(delivery_id=delivery_create(project=labelled.project, actor=lead).pk)
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False
    asked = []

    def resolve(host, port, *args, **kwargs):
        asked.append((host, port))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", resolve)
    monkeypatch.setattr(webhooks._OPENER, "open", lambda *a, **k: pytest.fail("the POST must not go out"))
    attempt = webhook_send(endpoint_id=endpoint.pk, delivery_id=delivery.pk, event_id="e1", attempt=1)
    assert asked == [("hooks.example.com", 443)]
    assert attempt.status_code is None and attempt.delivered_at is None
    assert attempt.error == "refused: hooks.example.com resolves to 10.1.2.3, not a public address"


def test_an_endpoint_registered_while_allowed_is_refused_once_not(labelled, lead, requester, settings):
    with Receiver() as receiver:
        endpoint = webhook_endpoint_create(actor=requester, url=receiver.url, secret=SECRET)
        delivery = delivery_build(delivery_id=delivery_create(project=labelled.project, actor=lead).pk)
        settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False
        attempt = webhook_send(endpoint_id=endpoint.pk, delivery_id=delivery.pk, event_id="e2", attempt=1)
    assert receiver.received == []
    assert attempt.error == "refused: url: 127.0.0.1 is not a public address; webhooks go to hosts on the internet"


def test_webhook_redirects_are_not_followed(labelled, lead, requester):
    with Receiver() as target, Receiver(statuses=[302], location="") as first:
        first.location = target.url
        endpoint = webhook_endpoint_create(actor=requester, url=first.url, secret=SECRET)
        delivery = delivery_build(delivery_id=delivery_create(project=labelled.project, actor=lead).pk)
        attempt = webhook_send(endpoint_id=endpoint.pk, delivery_id=delivery.pk, event_id="e3", attempt=1)
    assert len(first.received) == 1 and target.received == []
    assert attempt.status_code == 302 and attempt.delivered_at is None
