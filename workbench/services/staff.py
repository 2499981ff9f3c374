"""Users and requester teams, run by staff from Quorum's own pages (no /admin/ for daily work):
creating accounts (with a password, or a one-time set-password link), deactivating and
reactivating them, making staff, and creating teams and moving people in and out of them.

Every service checks `projects.access.require_staff`. A deactivated user cannot sign in or use a
token; their open leases in every project are released at once (as when a lead removes them), and
their memberships stay, so their work and history keep their name. Staff may not deactivate
themselves or take away their own staff flag (they would lock themselves out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from accounts.models import Team
from annotation.models import Assignment
from annotation.services.engine import assignments_release
from core.errors import QuorumError
from projects import access
from projects.models import Project
from workbench.services.team import (
    UNSET,
    account_new_clean,
    invitation_send,
    set_password_link,
)

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True)
class AccountCreated:
    user: Any
    link: str  # a one-time set-password link when no password was given, else ""
    email_sent: bool
    email_error: str


def user_create(
    *,
    actor: User,
    email: str,
    role: str,
    site_url: str,
    username: str | None = None,
    first_name: str = "",
    last_name: str = "",
    team: Team | None = None,
    is_staff: bool = False,
    password: str = "",
) -> AccountCreated:
    """Create an account (staff). With `password` (checked by the password validators) it is
    usable at once; without, the account has no usable password and a one-time set-password link
    is emailed to the person and returned for staff to see."""
    user = _user_create(
        actor=actor,
        email=email,
        role=role,
        username=username,
        first_name=first_name,
        last_name=last_name,
        team=team,
        is_staff=is_staff,
        password=password,
    )
    if password:
        return AccountCreated(user=user, link="", email_sent=False, email_error="")
    link = set_password_link(user=user, site_url=site_url)
    sent, error = invitation_send(user=user, link=link, inviter=actor)
    return AccountCreated(user=user, link=link, email_sent=sent, email_error=error)


@transaction.atomic
def _user_create(
    *,
    actor: User,
    email: str,
    role: str,
    username: str | None,
    first_name: str,
    last_name: str,
    team: Team | None,
    is_staff: bool,
    password: str,
) -> Any:
    access.require_staff(actor)
    user_model = get_user_model()
    if role not in user_model.Role.values:
        raise QuorumError(f"role: {role!r} is not one of {', '.join(user_model.Role.values)}", field="role")
    email, username = account_new_clean(email=email, username=username)
    user = user_model(
        username=username,
        email=email,
        first_name=(first_name or "").strip()[:150],
        last_name=(last_name or "").strip()[:150],
        role=role,
        team=team,
        is_staff=bool(is_staff),
    )
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise QuorumError(f"password: {' '.join(exc.messages)}", field="password") from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    return user


def user_update(
    *,
    actor: User,
    user: User,
    is_active: Any = UNSET,
    is_staff: Any = UNSET,
    role: Any = UNSET,
    team: Any = UNSET,
) -> Any:
    """Change an account (staff): active or not, staff or not, its primary role, its team.
    Deactivating releases the person's open leases everywhere (see the module's docstring)."""
    user, deactivated = _user_update(
        actor=actor, user=user, is_active=is_active, is_staff=is_staff, role=role, team=team
    )
    if deactivated:
        reason = f"released: {user.username}'s account was deactivated by {actor.username}"
        project_ids = Assignment.objects.filter(annotator=user, status=Assignment.Status.ACTIVE).values("project_id")
        for project in Project.objects.filter(pk__in=project_ids):
            assignments_release(project=project, annotator=user, reason=reason)
    return user


@transaction.atomic
def _user_update(*, actor: User, user: User, is_active: Any, is_staff: Any, role: Any, team: Any) -> tuple[Any, bool]:
    access.require_staff(actor)
    user_model = get_user_model()
    user = user_model.objects.select_for_update().get(pk=user.pk)
    if user.pk == actor.pk and (is_active is False or is_staff is False):
        what = "deactivate your own account" if is_active is False else "take away your own staff flag"
        raise QuorumError(
            f"{'is_active' if is_active is False else 'is_staff'}: you may not {what}",
            field="is_active" if is_active is False else "is_staff",
        )
    if role is not UNSET and role not in user_model.Role.values:
        raise QuorumError(f"role: {role!r} is not one of {', '.join(user_model.Role.values)}", field="role")
    changed = []
    for field, value in (("is_active", is_active), ("is_staff", is_staff), ("role", role), ("team", team)):
        if value is not UNSET and getattr(user, field) != value:
            setattr(user, field, value)
            changed.append("team_id" if field == "team" else field)
    deactivated = "is_active" in changed and not user.is_active
    if changed:
        user.save(update_fields=changed)  # (a save: the API's token cache forgets the old row)
    return user, deactivated


@transaction.atomic
def team_create(*, actor: User, name: str, slug: str = "") -> Team:
    """Create a requester team (staff). The slug comes from the name unless given."""
    access.require_staff(actor)
    name = (name or "").strip()
    if not name:
        raise QuorumError("name: give the team a name", field="name")
    slug = slugify(slug or name)
    if not slug:
        raise QuorumError(f"slug: {name!r} gives no slug; give one of letters, digits and '-'", field="slug")
    if Team.objects.filter(name__iexact=name).exists():
        raise QuorumError(f"name: a team called {name!r} exists already", field="name")
    if Team.objects.filter(slug=slug).exists():
        raise QuorumError(f"slug: {slug!r} is taken by another team", field="slug")
    team = Team(name=name, slug=slug)
    team.full_clean()
    try:
        with transaction.atomic():
            team.save()
    except IntegrityError:  # created by someone else in the meantime
        raise QuorumError(f"name: a team called {name!r} exists already", field="name") from None
    return team


def team_member_add(*, actor: User, team: Team, user: User) -> Any:
    """Put `user` in `team` (staff). A person is in one team at a time: one in another team moves."""
    if not user.is_active:
        raise QuorumError(f"user: {user.username} is deactivated; reactivate them first", field="user")
    return user_update(actor=actor, user=user, team=team)


def team_member_remove(*, actor: User, team: Team, user: User) -> Any:
    """Take `user` out of `team` (staff)."""
    access.require_staff(actor)
    if user.team_id != team.pk:
        raise QuorumError(f"user: {user.username} is not in team {team.name!r}", field="user")
    return user_update(actor=actor, user=user, team=None)
