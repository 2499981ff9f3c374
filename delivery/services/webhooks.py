"""Webhooks: a team's endpoints, the `delivery.done` event sent to them, and the record of every
attempt. The caller (the `delivery.webhook_send` task) retries an attempt that did not arrive.

Sending is SSRF-safe: an endpoint's URL may not name a non-public address, every address its host
resolves to (socket.getaddrinfo, just before sending) must be public, and redirects are not
followed (_OPENER).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import NotAllowed, QuorumError
from delivery.models import Delivery, WebhookAttempt, WebhookEndpoint
from projects import access

if TYPE_CHECKING:
    from accounts.models import User


def _url_clean(url: str) -> str:
    """An http(s) URL whose host is not a non-public address written out (nor "localhost")."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
        raise QuorumError(f"url: {url[:80]!r} is not an http(s) URL", field="url")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise QuorumError(f"url: {url[:80]!r} has an invalid port", field="url") from None
    if not settings.QUORUM_WEBHOOK_ALLOW_PRIVATE:
        host = parts.hostname
        literal = _ip_literal(host)
        if host == "localhost" or host.endswith(".localhost") or (literal is not None and not _public(literal)):
            raise QuorumError(f"url: {host} is not a public address; webhooks go to hosts on the internet", field="url")
    return parts.geturl()


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address (an IPv4-mapped IPv6 address is judged as its IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _destination_refusal(url: str) -> str:
    """Why a POST to `url` may not go out now ("" when it may): every address its host resolves
    to must be public, checked just before sending, since DNS can change after registration."""
    from urllib.parse import urlsplit

    if settings.QUORUM_WEBHOOK_ALLOW_PRIVATE:
        return ""
    parts = urlsplit(url)
    try:
        _url_clean(url)
        found = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except QuorumError as exc:
        return f"refused: {exc.message}"
    except OSError as exc:
        return f"refused: {parts.hostname} does not resolve ({exc})"
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not _public(address):
            return f"refused: {parts.hostname} resolves to {address}, not a public address"
    return ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the failure it is: following it could lead anywhere, internal hosts too."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@transaction.atomic
def webhook_endpoint_create(*, actor: User, url: str, secret: str) -> WebhookEndpoint:
    """Register an endpoint for the actor's team; delivery events of the team's requests go to it."""
    if not actor.team_id:
        raise NotAllowed(f"{actor.username} belongs to no team; webhooks are registered for a team")
    if len(secret or "") < 16:
        raise QuorumError("secret: use at least 16 characters", field="secret")
    endpoint = WebhookEndpoint(team_id=actor.team_id, url=_url_clean(url), secret=secret, created_by=actor)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_deactivate(*, endpoint: WebhookEndpoint, actor: User) -> WebhookEndpoint:
    """Stop sending events to an endpoint (members of its team). Its attempts stay on record."""
    if not access.can_manage_team_resource(actor, endpoint.team_id):
        raise NotAllowed(f"{actor.username} is not in the endpoint's team")
    endpoint.is_active = False
    endpoint.save(update_fields=["is_active"])
    return endpoint


def webhook_event_queue(*, delivery_id: int) -> list[int]:
    """Queue a `delivery.done` event to every active endpoint of the delivery's requesting team."""
    from delivery.tasks import webhook_send as webhook_send_task

    delivery = Delivery.objects.select_related("request").get(pk=delivery_id)
    if delivery.request is None or not delivery.request.team_id:
        return []
    endpoints = list(
        WebhookEndpoint.objects.filter(team_id=delivery.request.team_id, is_active=True).values_list("pk", flat=True)
    )
    event_id = uuid.uuid4().hex
    for endpoint_id in endpoints:
        webhook_send_task.delay(endpoint_id, delivery_id, event_id)
    return endpoints


def webhook_payload(delivery: Delivery, event_id: str) -> bytes:
    """The event's JSON body: what was delivered and where to fetch it."""
    from django.urls import reverse

    body = {
        "id": event_id,
        "event": "delivery.done",
        "created_at": timezone.now(),
        "delivery": {
            "id": delivery.pk,
            "version": delivery.version,
            "project": delivery.project_id,
            "request": delivery.request_id,
            "url": reverse("delivery-detail", args=[delivery.pk]),
            "manifest_sha256": delivery.manifest_sha256,
            "files": delivery.files,
        },
    }
    return orjson.dumps(body)


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body): the timestamp is signed too,
    so a receiver that rejects old timestamps cannot be fed a replayed event."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_send(*, endpoint_id: int, delivery_id: int, event_id: str, attempt: int) -> WebhookAttempt:
    """POST the event once and record the attempt (status code or error, time taken, and
    delivered_at on a 2xx answer). The caller (the task) retries when it did not arrive."""
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    delivery = Delivery.objects.get(pk=delivery_id)
    body = webhook_payload(delivery, event_id)
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Quorum-Webhooks/1",
            "X-Quorum-Event": "delivery.done",
            "X-Quorum-Event-Id": event_id,
            "X-Quorum-Timestamp": timestamp,
            "X-Quorum-Signature": webhook_signature(endpoint.secret, timestamp, body),
        },
    )
    status_code, error = None, ""
    started = time.perf_counter()
    refusal = _destination_refusal(endpoint.url)
    try:
        if refusal:
            error = refusal
        else:
            with _OPENER.open(request, timeout=settings.QUORUM_WEBHOOK_TIMEOUT_SECONDS) as response:
                status_code = response.status
    except urllib.error.HTTPError as exc:
        status_code, error = exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    record = WebhookAttempt.objects.create(
        endpoint=endpoint,
        delivery=delivery,
        event="delivery.done",
        event_id=event_id,
        attempt=attempt,
        status_code=status_code,
        error=error[:2000],
        duration_ms=int((time.perf_counter() - started) * 1000),
        delivered_at=timezone.now() if status_code is not None and 200 <= status_code < 300 else None,
    )
    return record
