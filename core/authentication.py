"""API token authentication with a short per-process memory of tokens, and revocation that
every process sees at once.

DRF's TokenAuthentication reads the token and its user on every request: with the ORM, about
1 ms of Python and a round trip per API call, which on the annotators' next → submit loop is a
sizeable share of the server's work (bench/README.md, throughput). This class remembers a token's
user for QUORUM_TOKEN_CACHE_SECONDS (default 5) in the process that looked it up.

Revocation: a change that can take a token's right away (a user saved, which is how one is
deactivated, or deleted; a token deleted or saved) writes a new value under one key of the shared
cache, the token generation. Each request reads that key (one cache read; no database) and uses a
remembered token only if it was remembered under the same generation; otherwise it looks the
token up again. So with a shared cache (REDIS_URL set: every gunicorn worker and machine uses the
same Redis), a deactivated user or a revoked token is refused by every process from the next
request on. Saves that only stamp `last_login` (a session sign-in) do not count as a change.

What remains:
- The embedded default's local-memory cache is per process: there another process keeps a
  remembered token for at most QUORUM_TOKEN_CACHE_SECONDS, as before (one process, as
  runserver is, sees its own changes at once).
- A write that bypasses model signals (`User.objects.update(is_active=False)`) is not seen
  until the memory expires; use the services (accounts.services) or call token_generation_bump().
- If the cache cannot be read (Redis down) or holds no generation, nothing is taken from memory:
  every request looks its token up in the database until it can.
Roles are not remembered: every service checks memberships on the database, so a removed or
paused membership refuses work at once everywhere. Set QUORUM_TOKEN_CACHE_SECONDS=0 to turn the
memory off.

Each request gets its own fresh User instance (built from the remembered row), so per-request
attributes that code sets on request.user never leak between requests.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core.rows import row_instance

logger = logging.getLogger(__name__)

# key → (monotonic expiry, generation, user field names, user values, token created)
_remembered: dict[str, tuple[float, str, tuple[str, ...], tuple[Any, ...], Any]] = {}
_lock = threading.Lock()
_MAX_ENTRIES = 10_000
GENERATION_KEY = "quorum:token:generation"  # a raw Redis key with the Redis cache


def token_cache_clear(**_: Any) -> None:
    """Forget every remembered token in this process."""
    with _lock:
        _remembered.clear()


class _GenerationStore:
    """Where the generation lives: with the Redis cache, read and written with one kept Redis client
    (Django's cache.get builds a client and pickles on every call: about three times the cost of
    the GET itself, on every API request); with any other cache, through Django's cache API."""

    def __init__(self) -> None:
        self._local = threading.local()  # Django's cache connections are per thread: so is the client

    def _redis(self) -> Any:
        backend = caches["default"]
        local = self._local
        if getattr(local, "backend", None) is not backend:  # first use here, or settings.CACHES changed
            local.backend = backend
            local.client = backend._cache.get_client(write=True) if isinstance(backend, RedisCache) else None
        return local.client

    def get(self) -> str | None:
        client = self._redis()
        if client is None:
            return cache.get(GENERATION_KEY)
        value = client.get(GENERATION_KEY)
        return value.decode() if value is not None else None

    def set(self, value: str) -> None:
        client = self._redis()
        if client is None:
            cache.set(GENERATION_KEY, value, timeout=None)
        else:
            client.set(GENERATION_KEY, value)

    def add(self, value: str) -> bool:
        client = self._redis()
        if client is None:
            return cache.add(GENERATION_KEY, value, timeout=None)
        return bool(client.set(GENERATION_KEY, value, nx=True))


_store = _GenerationStore()


def token_generation_bump() -> None:
    """Tell every process to look tokens up again: a new, never used value for the generation
    (a fresh value rather than an increment, so two bumps at once cannot meet on one value)."""
    token_cache_clear()
    try:
        _store.set(uuid.uuid4().hex)
    except Exception:  # the cache is down: the readers then take nothing from memory either
        logger.warning("token generation: the cache could not be written", exc_info=True)


def token_generation() -> str | None:
    """The generation now in force (seeded when absent: after a restart or an eviction of the
    cache), or None when the cache cannot be read: the caller then takes nothing from memory."""
    try:
        generation = _store.get()
        if generation is None:
            seeded = uuid.uuid4().hex
            generation = seeded if _store.add(seeded) else _store.get()
    except Exception:
        logger.warning("token generation: the cache could not be read", exc_info=True)
        return None
    return generation


def _changed(**_: Any) -> None:
    # Now, and again once the change is committed: a process that read the new generation before
    # the commit may have read the old row under it, and the second bump makes it look again.
    token_generation_bump()
    transaction.on_commit(token_generation_bump)


def _user_saved(*, update_fields: Any = None, **kwargs: Any) -> None:
    # A session sign-in saves last_login alone: nothing that decides what a token may do.
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    _changed()


class CachedTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's TokenAuthentication, with tokens remembered for a
    few seconds per process (see the module's docstring for what that allows)."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        ttl = getattr(settings, "QUORUM_TOKEN_CACHE_SECONDS", 5)
        if ttl <= 0:
            return super().authenticate_credentials(key)
        generation = token_generation()
        now = time.monotonic()
        entry = _remembered.get(key)
        if entry is not None and entry[0] > now and generation is not None and entry[1] == generation:
            _, _, names, values, created = entry
            return self._fresh(key, names, values, created)
        user, token = super().authenticate_credentials(key)
        if generation is not None:
            names = tuple(field.attname for field in user._meta.concrete_fields)
            values = tuple(getattr(user, name) for name in names)
            with _lock:
                if len(_remembered) >= _MAX_ENTRIES:
                    _remembered.clear()
                _remembered[key] = (now + ttl, generation, names, values, token.created)
        return user, token

    @staticmethod
    def _fresh(key: str, names: tuple[str, ...], values: tuple[Any, ...], created: Any) -> tuple[Any, Token]:
        user = row_instance(get_user_model(), dict(zip(names, values, strict=True)))
        if not user.is_active:  # as remembered; TokenAuthentication refuses these too
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = row_instance(Token, {"key": key, "user_id": user.pk, "created": created})
        token.user = user
        return user, token


post_save.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="quorum_token_cache_user_saved")
post_delete.connect(_changed, sender=settings.AUTH_USER_MODEL, dispatch_uid="quorum_token_cache_user_deleted")
post_save.connect(_changed, sender=Token, dispatch_uid="quorum_token_cache_token_saved")
post_delete.connect(_changed, sender=Token, dispatch_uid="quorum_token_cache_token_deleted")
