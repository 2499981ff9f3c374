"""A project's team, run by its leads: adding and removing members, inviting someone new with a
one-time set-password link, and each person's qualifications and personal wellness cap.

Removing a member deactivates the membership (the row stays, so history, annotations, audits and
rollups keep pointing at a real person, and adding them again reactivates it); an annotator's open
leases are released at once (annotation.services.engine.assignments_release: closed as skipped
with the reason, their slots back in the pool) once the deactivation has committed, so `next` can
no longer hand them new ones. The project always keeps a lead: removing the last one is refused,
and removing the project's own lead hands `Project.lead` to another lead member.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from annotation.services.engine import assignments_release
from core.errors import NotAllowed, QuorumError
from projects import access
from projects.models import Membership, Modality, Project
from projects.services import activity_record, membership_add
from workbench.services.lifecycle import languages_clean

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

Role = Membership.Role
# The roles a lead gives on the team page (requesters follow a project through their team).
TEAM_ROLES = (Role.LEAD, Role.ANNOTATOR, Role.REVIEWER)
POLICY_AREA_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
USERNAME_RE = re.compile(r"[^\w.@+-]")
UNSET: Any = object()


def _role_clean(role: str) -> str:
    if role not in TEAM_ROLES:
        raise QuorumError(f"role: {role!r} is not one of {', '.join(TEAM_ROLES)}", field="role")
    return role


def member_add(*, project: Project, user: User, role: str, actor: User) -> Membership:
    """Give an existing, active user `role` on `project` (leads of the project; idempotent)."""
    access.require_lead(actor, project)
    _role_clean(role)
    if not user.is_active:
        raise QuorumError(f"user: {user.username} is deactivated; staff can reactivate them", field="user")
    return membership_add(project=project, user=user, role=role, actor=actor)


@dataclass(frozen=True)
class Removal:
    membership: Membership
    released_leases: int
    new_project_lead: Any  # the user now in Project.lead, when the removed member held it


def member_remove(*, membership: Membership, actor: User) -> Removal:
    """Take one role away from a member (see the module's docstring for what is kept and released).
    Refused when it would leave the project without a lead. Removing an inactive membership again
    changes nothing."""
    membership, new_lead = _membership_deactivate(membership=membership, actor=actor)
    released = 0
    if membership.role == Role.ANNOTATOR:
        reason = f"released: {membership.user.username} was removed from the project by {actor.username}"
        released = assignments_release(project=membership.project, annotator=membership.user, reason=reason)
    if released:
        activity_record(
            actor=actor,
            verb="membership.leases_released",
            project=membership.project,
            summary=f"{released} open lease(s) of {membership.user.username} released to the pool",
            data={"user": membership.user_id, "released": released},
        )
    return Removal(membership=membership, released_leases=released, new_project_lead=new_lead)


@transaction.atomic
def _membership_deactivate(*, membership: Membership, actor: User) -> tuple[Membership, Any]:
    # The project row is locked so two leads removing each other cannot both pass the last-lead check.
    project = Project.objects.select_for_update(no_key=True).get(pk=membership.project_id)
    access.require_lead(actor, project)
    membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
    membership.project = project
    if not membership.is_active:
        return membership, None
    new_lead = None
    if membership.role == Role.LEAD:
        others = (
            Membership.objects.filter(project=project, role=Role.LEAD, is_active=True, user__is_active=True)
            .exclude(user_id=membership.user_id)
            .select_related("user")
            .order_by("created_at", "id")
        )
        successor = others.first()
        holds_project = project.lead_id == membership.user_id
        if successor is None and (holds_project or not project.lead.is_active):
            raise QuorumError(
                f"user: {membership.user.username} is the last lead of {project.name!r}; "
                "add another lead before removing them",
                field="user",
            )
        if holds_project:
            project.lead = new_lead = successor.user
            project.save(update_fields=["lead", "updated_at"])
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    summary = f"{actor.username} removed {membership.user.username} as {membership.role}"
    if new_lead is not None:
        summary += f"; {new_lead.username} now leads the project"
    activity_record(actor=actor, verb="membership.removed", project=project, summary=summary)
    return membership, new_lead


def _choices_clean(value: Any, field: str, allowed: list[str]) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        raise QuorumError(f"{field}: give a list, e.g. [{allowed[0]!r}]", field=field)
    for index, item in enumerate(value):
        if item not in allowed:
            raise QuorumError(f"{field}[{index}]: {item!r} is not one of {', '.join(allowed)}", field=field)
    return list(dict.fromkeys(value))


def _policy_areas_clean(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        raise QuorumError(
            "policy_areas: give a list of policy area keys, e.g. ['hate', 'self_harm']", field="policy_areas"
        )
    for index, area in enumerate(value):
        if not isinstance(area, str) or not POLICY_AREA_RE.match(area):
            raise QuorumError(
                f"policy_areas[{index}]: {area!r} is not a key (lowercase letters, digits, '_' or '-')",
                field="policy_areas",
            )
    return list(dict.fromkeys(value))


@transaction.atomic
def member_profile_update(
    *,
    project: Project,
    member: User,
    actor: User,
    languages: Any = UNSET,
    modalities: Any = UNSET,
    policy_areas: Any = UNSET,
    graphic_daily_cap: Any = UNSET,
) -> User:
    """Change a member's qualifications (languages, modalities, policy areas) and their personal
    cap of graphic items a day. These are the person's, read by the assignment engine in every
    project they work on: leads of a project the person belongs to may change them, as may staff.
    The change is logged on `project`."""
    if not access.can_manage_member_profile(actor, project, member):
        raise NotAllowed(f"{actor.username} may not change {member.username}'s qualifications on {project.name!r}")
    user = get_user_model().objects.select_for_update().get(pk=member.pk)
    changed: dict[str, list[Any]] = {}
    values: dict[str, Any] = {}
    if languages is not UNSET:
        values["languages"] = languages_clean(languages, "languages")
    if modalities is not UNSET:
        values["modalities"] = _choices_clean(modalities, "modalities", list(Modality.values))
    if policy_areas is not UNSET:
        values["policy_areas"] = _policy_areas_clean(policy_areas)
    if graphic_daily_cap is not UNSET:
        if graphic_daily_cap is not None and (
            isinstance(graphic_daily_cap, bool) or not isinstance(graphic_daily_cap, int) or graphic_daily_cap < 0
        ):
            raise QuorumError(
                f"graphic_daily_cap: {graphic_daily_cap!r} is not a whole number of items, 0 or more (or empty)",
                field="graphic_daily_cap",
            )
        values["graphic_daily_cap"] = graphic_daily_cap
    for field, value in values.items():
        if getattr(user, field) != value:
            changed[field] = [getattr(user, field), value]
            setattr(user, field, value)
    if changed:
        user.save(update_fields=sorted(changed))  # (a save: the API's token cache forgets the old row)
        activity_record(
            actor=actor,
            verb="member.profile_updated",
            project=project,
            summary=f"{actor.username} changed {user.username}'s {', '.join(sorted(changed))}",
            data={"user": user.pk, "changes": changed},
        )
    return user


# --- Invitations ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    user: Any
    membership: Membership | None
    link: str  # the one-time set-password link (absolute)
    email_sent: bool
    email_error: str


def set_password_link(*, user: User, site_url: str) -> str:
    """A one-time link to the set-password page for `user` (Django's password-reset token: it stops
    working once the password is set, or after PASSWORD_RESET_TIMEOUT)."""
    path = reverse(
        "password_set",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return site_url.rstrip("/") + path


def username_for(email: str) -> str:
    """A free username made from an email's local part ("ana.lima@x.org" → "ana.lima", then "ana.lima2")."""
    base = USERNAME_RE.sub("", email.split("@", 1)[0])[:140] or "user"
    users = get_user_model().objects
    candidate, number = base, 1
    while users.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base}{number}"
    return candidate


def account_new_clean(*, email: str, username: str | None) -> tuple[str, str]:
    """Check a new account's email and username: what is wrong says which field. Returns both, cleaned."""
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise QuorumError(f"email: {email!r} is not an email address", field="email") from None
    users = get_user_model().objects
    existing = users.filter(email__iexact=email).first()
    if existing is not None:
        raise QuorumError(
            f"email: {email} already has an account ({existing.username}); add them from the people list instead",
            field="email",
        )
    username = (username or "").strip()
    if not username:
        return email, username_for(email)
    if USERNAME_RE.search(username) or len(username) > 150:
        raise QuorumError(
            f"username: {username!r} may hold only letters, digits and @ . + - _ (150 at most)", field="username"
        )
    if users.filter(username__iexact=username).exists():
        raise QuorumError(f"username: {username!r} is taken", field="username")
    return email, username


def invitation_send(*, user: User, link: str, inviter: User, project: Project | None = None) -> tuple[bool, str]:
    """Email `user` their set-password link through Django's email backend (the console in the
    embedded default). A failing mail server does not undo the account: the answer says it failed,
    and the link is shown to whoever invited them, to pass on."""
    where = f" to work on {project.name}" if project is not None else ""
    body = (
        f"Hello {user.get_full_name() or user.username},\n\n"
        f"{inviter.get_full_name() or inviter.username} invited you to Quorum{where}.\n"
        f"Your username is {user.username}. Choose your password here (the link works once):\n\n{link}\n"
    )
    try:
        send_mail(f"You are invited to Quorum{where}", body, None, [user.email])
    except Exception as exc:  # any backend failure: the account stands, the lead has the link
        logger.warning("invitation email to %s failed: %s", user.email, exc)
        return False, f"the email could not be sent ({exc}); pass the link on yourself"
    return True, ""


def member_invite(
    *,
    project: Project,
    actor: User,
    email: str,
    role: str,
    site_url: str,
    username: str | None = None,
    first_name: str = "",
    last_name: str = "",
) -> Invitation:
    """Invite someone new to `project` (its leads): an account with no usable password, the
    membership with `role`, and a one-time set-password link, emailed to them and returned for the
    lead to see. Refused for an email that already has an account (add that person instead)."""
    user, membership = _invite_create(
        project=project,
        actor=actor,
        email=email,
        role=role,
        username=username,
        first_name=first_name,
        last_name=last_name,
    )
    link = set_password_link(user=user, site_url=site_url)
    sent, error = invitation_send(user=user, link=link, inviter=actor, project=project)
    return Invitation(user=user, membership=membership, link=link, email_sent=sent, email_error=error)


@transaction.atomic
def _invite_create(
    *, project: Project, actor: User, email: str, role: str, username: str | None, first_name: str, last_name: str
) -> tuple[Any, Membership]:
    access.require_lead(actor, project)
    _role_clean(role)
    email, username = account_new_clean(email=email, username=username)
    user_model = get_user_model()
    # The primary role only picks the landing page; a lead membership does not make a portfolio lead.
    primary = user_model.Role.REVIEWER if role == Role.REVIEWER else user_model.Role.ANNOTATOR
    user = user_model(
        username=username,
        email=email,
        first_name=(first_name or "").strip()[:150],
        last_name=(last_name or "").strip()[:150],
        role=primary,
    )
    user.set_unusable_password()
    user.full_clean()
    user.save()
    membership = membership_add(project=project, user=user, role=role, actor=actor)
    activity_record(
        actor=actor,
        verb="member.invited",
        project=project,
        summary=f"{actor.username} invited {user.username} ({email}) as {role}",
        data={"user": user.pk},
    )
    return user, membership
