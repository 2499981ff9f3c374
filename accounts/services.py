"""Writes of the accounts floor: API tokens, deactivation, and unlocking sign-ins."""

from __future__ import annotations

import logging

from axes.models import AccessAttempt
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.models import User
from core.authentication import token_generation_bump
from core.errors import NotAllowed, QuorumError

logger = logging.getLogger(__name__)

# A token is named by the first characters of its key: enough to tell a user's tokens apart,
# too few to use it (keys are 40 hex characters).
TOKEN_PREFIX_LENGTH = 8


@transaction.atomic
def token_revoke(*, user: User, prefix: str, actor: User) -> None:
    """Delete `user`'s token named by `prefix`: refused by every process from the next request on
    (core.authentication's token generation). Only the user themselves may revoke their tokens."""
    if actor.pk != user.pk:
        raise NotAllowed("you may revoke only your own API tokens")
    if len(prefix) != TOKEN_PREFIX_LENGTH:
        raise QuorumError(f"prefix: give the first {TOKEN_PREFIX_LENGTH} characters of the token", field="prefix")
    deleted, _ = Token.objects.filter(user=user, key__startswith=prefix).delete()
    if not deleted:
        raise Token.DoesNotExist(f"no token of yours starts with {prefix!r}")
    logger.info("user %s revoked the API token %s…", user.username, prefix)


@transaction.atomic
def user_deactivate(*, user: User, actor: User) -> User:
    """Deactivate `user` and delete their API tokens, so a later reactivation does not bring the
    old tokens back; every process refuses them from the next request on. Staff only."""
    if not actor.is_staff:
        raise NotAllowed("only staff may deactivate users")
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    Token.objects.filter(user=user).delete()
    token_generation_bump()
    logger.info("%s deactivated user %s and revoked their API tokens", actor.username, user.username)
    return user


@transaction.atomic
def signin_unlock(*, actor: User, username: str | None = None, ip_address: str | None = None) -> int:
    """Forget the failed sign-ins of an account or of an address (django-axes' AccessAttempt rows),
    which lifts its lock at once. Staff only. Returns how many attempt rows were removed."""
    if not actor.is_staff:
        raise NotAllowed("only staff may unlock sign-ins")
    if not username and not ip_address:
        raise QuorumError("name the account (username) or the address (ip_address) to unlock", field="username")
    attempts = AccessAttempt.objects.all()
    if username:
        attempts = attempts.filter(username=username)
    if ip_address:
        attempts = attempts.filter(ip_address=ip_address)
    removed, _ = attempts.delete()
    logger.info("%s unlocked sign-ins of %s", actor.username, username or ip_address)
    return removed
