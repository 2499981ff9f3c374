"""Staff pages under /staff/: users (search, create with a password or a one-time set-password
link, deactivate and reactivate, make staff, change role and team) and requester teams (create,
add and remove members). Services: workbench.services.staff. Anyone but staff gets a 403, as
the other sections do for roles that are not theirs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Team
from core.pages import service_attempt
from projects import access
from workbench import people
from workbench.services import staff as staff_services
from workbench.team import form_service_call

User = get_user_model()
CREATED_KEY = "quorum:account_created"


class UserCreateForm(forms.Form):
    email = forms.EmailField()
    username = forms.CharField(max_length=150, required=False, help_text="Made from the email when left empty.")
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(
        choices=User.Role.choices, help_text="Project leads see the portfolio and triage requests."
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.all(), required=False, help_text="Requesters see their team's requests."
    )
    is_staff = forms.BooleanField(required=False, label="Staff", help_text="Staff manage users and teams here.")
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to send a one-time link to choose one.",
    )


class UserChangeForm(forms.Form):
    role = forms.ChoiceField(choices=User.Role.choices)
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=120)
    slug = forms.CharField(max_length=120, required=False, help_text="Made from the name when left empty.")


class TeamMemberForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True))


def _require_staff(request: HttpRequest) -> None:
    if not access.can_manage_accounts(request.user):
        raise PermissionDenied("Only staff manage users and teams.")


def _user_or_404(request: HttpRequest, user_pk: int) -> Any:
    user = people.staff_user_list(user=request.user).filter(pk=user_pk).first()
    if user is None:
        raise Http404("No such user.")
    return user


@login_required
def user_list(request: HttpRequest) -> HttpResponse:
    """Accounts, searchable; the form to create one."""
    _require_staff(request)
    form = UserCreateForm()
    status = 200
    if request.method == "POST":
        form = UserCreateForm(request.POST)
        if form.is_valid():
            created = form_service_call(
                form,
                staff_services.user_create,
                actor=request.user,
                site_url=request.build_absolute_uri("/"),
                **form.cleaned_data,
            )
            if created is not None:
                request.session[CREATED_KEY] = {
                    "username": created.user.username,
                    "link": created.link,
                    "email_sent": created.email_sent,
                    "email_error": created.email_error,
                }
                messages.success(request, f"Account {created.user.username} created.")
                return redirect("staff:users")
        status = 400
    q = request.GET.get("q", "")
    context = {
        "users": people.staff_user_list(user=request.user, q=q)[:200],
        "q": q,
        "form": form,
        "created": request.session.pop(CREATED_KEY, None),
        "teams": Team.objects.order_by("name"),
        "roles": User.Role.choices,
    }
    return render(request, "accounts/staff_users.html", context, status=status)


@login_required
@require_POST
def user_update(request: HttpRequest, user_pk: int) -> HttpResponse:
    """One change to an account: `action` is deactivate, reactivate, make_staff, remove_staff or
    change (role and team, from UserChangeForm)."""
    _require_staff(request)
    user = _user_or_404(request, user_pk)
    action = request.POST.get("action", "")
    changes: dict[str, Any] = {
        "deactivate": {"is_active": False},
        "reactivate": {"is_active": True},
        "make_staff": {"is_staff": True},
        "remove_staff": {"is_staff": False},
    }.get(action, {})
    if action == "change":
        form = UserChangeForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"{user.username}: " + " ".join(f"{f}: {e[0]}" for f, e in form.errors.items()))
            return redirect("staff:users")
        changes = form.cleaned_data
    elif not changes:
        messages.error(
            request, f"action: {action!r} is not one of deactivate, reactivate, make_staff, remove_staff, change"
        )
        return redirect("staff:users")
    updated = service_attempt(request, staff_services.user_update, actor=request.user, user=user, **changes)
    if updated is not None:
        messages.success(request, f"{updated.username} saved.")
    return redirect("staff:users")


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    """Requester teams with their members; the form to create one."""
    _require_staff(request)
    form = TeamCreateForm()
    status = 200
    if request.method == "POST":
        form = TeamCreateForm(request.POST)
        if form.is_valid():
            team = form_service_call(form, staff_services.team_create, actor=request.user, **form.cleaned_data)
            if team is not None:
                messages.success(request, f"Team {team.name} created.")
                return redirect("staff:teams")
        status = 400
    context = {
        "teams": people.staff_team_list(user=request.user),
        "form": form,
        "people": people.user_search(q="", limit=500),
    }
    return render(request, "accounts/staff_teams.html", context, status=status)


@login_required
@require_POST
def team_member(request: HttpRequest, team_pk: int) -> HttpResponse:
    """Add (`action=add`) or remove (`action=remove`) a member of a team."""
    _require_staff(request)
    team = people.staff_team_list(user=request.user).filter(pk=team_pk).first()
    if team is None:
        raise Http404("No such team.")
    form = TeamMemberForm(request.POST) if request.POST.get("action") == "add" else None
    if form is not None:
        if form.is_valid():
            user = service_attempt(
                request, staff_services.team_member_add, actor=request.user, team=team, user=form.cleaned_data["user"]
            )
            if user is not None:
                messages.success(request, f"{user.username} is in {team.name} now.")
        else:
            messages.error(request, f"user: {form.errors['user'][0]}")
        return redirect("staff:teams")
    member = (
        User.objects.filter(pk=request.POST.get("user") or 0).first()
        if str(request.POST.get("user", "")).isdigit()
        else None
    )
    if member is None:
        messages.error(request, "user: choose a member to take out")
        return redirect("staff:teams")
    user = service_attempt(request, staff_services.team_member_remove, actor=request.user, team=team, user=member)
    if user is not None:
        messages.success(request, f"{user.username} is no longer in {team.name}.")
    return redirect("staff:teams")
