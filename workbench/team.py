"""The team page of a project (its leads): members by role, a searchable people picker to add
someone, an invitation form for someone new (the one-time link is shown once, after the redirect),
and each member's qualifications and personal wellness cap. Services: workbench.services.team.

Anyone who may not see the project gets a 404; a member who does not lead it, a 403."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from core.errors import Conflict, NotAllowed, QuorumError
from core.exceptions import validation_error_body
from projects import access
from projects.models import Membership, Modality, Project
from workbench import people
from workbench.services import team as team_services

INVITATION_KEY = "quorum:invitation"


# --- Forms ------------------------------------------------------------------------------------------


class _ListField(forms.CharField):
    """A comma-separated list typed in one box ("en, pt-BR"), cleaned to a list of its parts."""

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


class MemberAddForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True), help_text="Search by name, username or email."
    )
    role = forms.ChoiceField(choices=[(r.value, r.label) for r in team_services.TEAM_ROLES])


class MemberInviteForm(forms.Form):
    email = forms.EmailField(help_text="The one-time set-password link is sent here.")
    role = forms.ChoiceField(choices=[(r.value, r.label) for r in team_services.TEAM_ROLES])
    username = forms.CharField(max_length=150, required=False, help_text="Made from the email when left empty.")
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)


class MemberProfileForm(forms.Form):
    languages = _ListField(required=False, help_text="Language codes, comma-separated: en, pt-BR.")
    modalities = forms.MultipleChoiceField(
        choices=Modality.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What they may label; none ticked means all.",
    )
    policy_areas = _ListField(required=False, help_text="Policy areas they are trained for: hate, self_harm.")
    graphic_daily_cap = forms.IntegerField(
        label="Graphic items a day",
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text="At most this many graphic items a day in any project (0: none). Empty: the project's cap.",
    )

    @classmethod
    def for_member(cls, user: Any, prefix: str, data: Any = None) -> MemberProfileForm:
        initial = {
            "languages": ", ".join(user.languages or []),
            "modalities": list(user.modalities or []),
            "policy_areas": ", ".join(user.policy_areas or []),
            "graphic_daily_cap": user.graphic_daily_cap,
        }
        return cls(data, initial=initial, prefix=prefix)


def form_service_call(form: forms.Form, service: Any, /, **kwargs: Any) -> Any:
    """Call a service with what a valid form parsed: a domain refusal becomes an error on the field
    it names (or on the form), a role refusal a 403, a Conflict goes to the caller. None when refused."""
    try:
        return service(**kwargs)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except Conflict:
        raise  # a stale write is the caller's to show (it says what changed)
    except QuorumError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    except ValidationError as exc:
        errors = validation_error_body(exc).get("errors") or {"__all__": exc.messages}
        for field, field_messages in errors.items():
            for message in field_messages:
                form.add_error(field if field in form.fields else None, f"{field}: {message}")
    return None


# --- Pages ------------------------------------------------------------------------------------------


def _led_project_or_404(request: HttpRequest, pk: int) -> Project:
    """The project if the user may see it (else 404) and leads it (else 403)."""
    project = Project.objects.select_related("lead", "request").filter(pk=pk).first()
    if project is None or not access.can_view_project(request.user, project):
        raise Http404("No such project.")
    if not access.can_manage_project(request.user, project):
        raise PermissionDenied("Only a lead of this project manages its team.")
    return project


def _membership_or_404(project: Project, membership_pk: int) -> Membership:
    membership = Membership.objects.select_related("user").filter(project=project, pk=membership_pk).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


def _render_team(request: HttpRequest, project: Project, status: int = 200, **forms_in: Any) -> HttpResponse:
    members = people.project_member_list(project=project)
    q = request.GET.get("q", "")
    profile_forms = forms_in.pop("profile_forms", {})
    rows = []
    seen_users = set()
    for membership in members:
        form = None
        if membership.user_id not in seen_users:  # one profile form per person, on their first row
            seen_users.add(membership.user_id)
            form = profile_forms.get(membership.pk) or MemberProfileForm.for_member(
                membership.user, prefix=f"m{membership.pk}"
            )
        rows.append({"membership": membership, "profile_form": form})
    context = {
        "project": project,
        "rows": rows,
        "q": q,
        "candidates": people.user_search(q=q),
        "add_form": forms_in.get("add_form") or MemberAddForm(),
        "invite_form": forms_in.get("invite_form") or MemberInviteForm(),
        "invitation": request.session.pop(INVITATION_KEY, None),
        "roles": team_services.TEAM_ROLES,
    }
    return render(request, "projects/team.html", context, status=status)


@login_required
@vary_on_headers("HX-Request")
def team_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The team page; an htmx request with `q` (the picker's search box) gets only the picker's list."""
    project = _led_project_or_404(request, pk)
    if request.htmx and not request.htmx.history_restore_request:
        context = {"candidates": people.user_search(q=request.GET.get("q", "")), "add_form": MemberAddForm()}
        return render(request, "projects/team.html#picker", context)
    return _render_team(request, project)


@login_required
@require_POST
def member_add(request: HttpRequest, pk: int) -> HttpResponse:
    project = _led_project_or_404(request, pk)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        membership = form_service_call(
            form, team_services.member_add, project=project, user=data["user"], role=data["role"], actor=request.user
        )
        if membership is not None:
            messages.success(request, f"{membership.user.display_name} is now {membership.get_role_display().lower()}.")
            return redirect("projects:team", pk=project.pk)
    return _render_team(request, project, status=400, add_form=form)


@login_required
@require_POST
def member_invite(request: HttpRequest, pk: int) -> HttpResponse:
    project = _led_project_or_404(request, pk)
    form = MemberInviteForm(request.POST)
    if form.is_valid():
        invitation = form_service_call(
            form,
            team_services.member_invite,
            project=project,
            actor=request.user,
            site_url=request.build_absolute_uri("/"),
            **form.cleaned_data,
        )
        if invitation is not None:
            # Shown once, on the page the redirect lands on (then forgotten).
            request.session[INVITATION_KEY] = {
                "username": invitation.user.username,
                "email": invitation.user.email,
                "link": invitation.link,
                "email_sent": invitation.email_sent,
                "email_error": invitation.email_error,
            }
            messages.success(request, f"{invitation.user.username} is invited as {form.cleaned_data['role']}.")
            return redirect("projects:team", pk=project.pk)
    return _render_team(request, project, status=400, invite_form=form)


@login_required
@require_POST
def member_profile(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    project = _led_project_or_404(request, pk)
    membership = _membership_or_404(project, membership_pk)
    form = MemberProfileForm.for_member(membership.user, prefix=f"m{membership.pk}", data=request.POST)
    if form.is_valid():
        user = form_service_call(
            form, team_services.member_profile_update, project=project, member=membership.user, actor=request.user,
            **form.cleaned_data,
        )  # fmt: skip
        if user is not None:
            messages.success(request, f"{user.display_name}'s qualifications are saved.")
            return redirect("projects:team", pk=project.pk)
    return _render_team(request, project, status=400, profile_forms={membership.pk: form})


@login_required
@require_POST
def member_remove(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    project = _led_project_or_404(request, pk)
    membership = _membership_or_404(project, membership_pk)
    try:
        removal = team_services.member_remove(membership=membership, actor=request.user)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except QuorumError as exc:
        messages.error(request, exc.message)
        return redirect("projects:team", pk=project.pk)
    text = f"{membership.user.display_name} is no longer {membership.get_role_display().lower()}."
    if removal.released_leases:
        text += f" {removal.released_leases} open lease(s) went back to the pool."
    if removal.new_project_lead is not None:
        text += f" {removal.new_project_lead.display_name} now leads the project."
    messages.success(request, text)
    if membership.user_id == request.user.pk and membership.role == Membership.Role.LEAD:
        return redirect("home")  # they gave up their own lead role: the team page is no longer theirs
    return redirect("projects:team", pk=project.pk)
