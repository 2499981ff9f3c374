"""API token authentication with a short per-process memory of tokens.

DRF's TokenAuthentication reads the token and its user on every request: with the ORM, about
1 ms of Python and a round trip per API call, which on the annotators' next → submit loop is a
sizeable share of the server's work (bench/README.md, throughput). This class remembers a token's
user for QUORUM_TOKEN_CACHE_SECONDS (default 5) in the process that looked it up.

What a stale entry can mean, and its bounds:
- In the process that makes the change, nothing: saving or deleting any user or token empties
  the memory (signals below), so deactivating a user, or deleting their token, takes effect
  at once there.
- In other processes (other gunicorn workers, other machines), a deactivated user or a deleted
  token still authenticates for at most QUORUM_TOKEN_CACHE_SECONDS. Roles are not remembered:
  every service checks memberships on the database, so a removed or paused membership refuses
  work at once everywhere. Set QUORUM_TOKEN_CACHE_SECONDS=0 to turn the memory off.

Each request gets its own fresh User instance (built from the remembered row), so per-request
attributes that code sets on request.user never leak between requests.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core.rows import row_instance

# key → (monotonic expiry, user field names, user values, token created)
_remembered: dict[str, tuple[float, tuple[str, ...], tuple[Any, ...], Any]] = {}
_lock = threading.Lock()
_MAX_ENTRIES = 10_000


def token_cache_clear(**_: Any) -> None:
    """Forget every remembered token (connected to saves and deletes of users and tokens)."""
    with _lock:
        _remembered.clear()


class CachedTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's TokenAuthentication, with tokens remembered for a
    few seconds per process (see the module's docstring for what that allows)."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        ttl = getattr(settings, "QUORUM_TOKEN_CACHE_SECONDS", 5)
        now = time.monotonic()
        entry = _remembered.get(key)
        if entry is not None and entry[0] > now:
            _, names, values, created = entry
            return self._fresh(key, names, values, created)
        user, token = super().authenticate_credentials(key)
        if ttl > 0:
            names = tuple(field.attname for field in user._meta.concrete_fields)
            values = tuple(getattr(user, name) for name in names)
            with _lock:
                if len(_remembered) >= _MAX_ENTRIES:
                    _remembered.clear()
                _remembered[key] = (now + ttl, names, values, token.created)
        return user, token

    @staticmethod
    def _fresh(key: str, names: tuple[str, ...], values: tuple[Any, ...], created: Any) -> tuple[Any, Token]:
        user = row_instance(get_user_model(), dict(zip(names, values, strict=True)))
        if not user.is_active:  # as remembered; TokenAuthentication refuses these too
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = row_instance(Token, {"key": key, "user_id": user.pk, "created": created})
        token.user = user
        return user, token


post_save.connect(token_cache_clear, sender=settings.AUTH_USER_MODEL, dispatch_uid="quorum_token_cache_user_saved")
post_delete.connect(token_cache_clear, sender=settings.AUTH_USER_MODEL, dispatch_uid="quorum_token_cache_user_deleted")
post_save.connect(token_cache_clear, sender=Token, dispatch_uid="quorum_token_cache_token_saved")
post_delete.connect(token_cache_clear, sender=Token, dispatch_uid="quorum_token_cache_token_deleted")
