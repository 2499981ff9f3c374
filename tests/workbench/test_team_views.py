"""The team, settings and staff pages with Django's client: who gets 404 and 403, forms that
name the field at fault, the one-time link shown once, hostile names escaped, and the settings
form's refusal of a stale save showing what changed."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts.models import Team, User
from projects.models import Membership, Project
from tests.accounts.factories import UserFactory
from tests.test_templates import assert_no_template_text
from workbench.project_settings import FIELDS, HELP
from workbench.services.lifecycle import project_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", role=User.Role.ANNOTATOR, is_staff=True)


def _page(client, user, url, **kwargs):
    client.force_login(user)
    return client.get(url, **kwargs)


def test_team_page_is_for_the_projects_leads(client, project, lead, annotator, other_lead):
    url = f"/projects/{project.pk}/team/"
    response = _page(client, lead, url)
    assert response.status_code == 200
    html = response.content.decode()
    assert_no_template_text(html)
    assert "annotator" in html and "reviewer" in html and "Invite someone new" in html
    assert _page(client, annotator, url).status_code == 403
    assert _page(client, other_lead, url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to sign in


def test_team_picker_searches_and_escapes_names(client, project, lead):
    UserFactory(username="mallory", first_name="<script>alert(1)</script>")
    UserFactory(username="zoe")
    response = _page(client, lead, f"/projects/{project.pk}/team/", data={"q": "mall"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="picker"' in html and "<html" not in html
    assert "mallory" in html and "zoe" not in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_team_page_adds_and_removes_members(client, project, lead):
    newcomer = UserFactory(username="newcomer")
    client.force_login(lead)
    response = client.post(f"/projects/{project.pk}/team/add/", {"user": newcomer.pk, "role": "annotator"})
    assert response.status_code == 302
    membership = Membership.objects.get(project=project, user=newcomer, role="annotator", is_active=True)
    response = client.post(f"/projects/{project.pk}/team/add/", {"user": newcomer.pk, "role": "boss"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    response = client.post(f"/projects/{project.pk}/team/{membership.pk}/remove/", follow=True)
    assert "newcomer is no longer annotator" in response.content.decode()
    membership.refresh_from_db()
    assert membership.is_active is False
    lead_membership = Membership.objects.get(project=project, user=lead, role="lead")
    response = client.post(f"/projects/{project.pk}/team/{lead_membership.pk}/remove/", follow=True)
    assert "last lead" in response.content.decode()


def test_team_page_invitation_shows_the_link_once(client, project, lead):
    client.force_login(lead)
    response = client.post(
        f"/projects/{project.pk}/team/invite/", {"email": "ines@example.org", "role": "reviewer"}, follow=True
    )
    html = response.content.decode()
    assert "Invitation for ines" in html and "/accounts/set-password/" in html
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ines@example.org"]
    assert "/accounts/set-password/" not in client.get(f"/projects/{project.pk}/team/").content.decode()
    response = client.post(f"/projects/{project.pk}/team/invite/", {"email": "not-an-email", "role": "reviewer"})
    assert response.status_code == 400 and "Enter a valid email address" in response.content.decode()
    response = client.post(f"/projects/{project.pk}/team/invite/", {"email": "INES@example.org", "role": "reviewer"})
    assert response.status_code == 400 and "already has an account" in response.content.decode()


def test_team_page_profile_form_names_the_field(client, project, lead, annotator):
    membership = Membership.objects.get(project=project, user=annotator, role="annotator")
    client.force_login(lead)
    url = f"/projects/{project.pk}/team/{membership.pk}/profile/"
    prefix = f"m{membership.pk}-"
    response = client.post(url, {prefix + "languages": "en, klingon!", prefix + "graphic_daily_cap": "5"})
    assert response.status_code == 400 and "languages[1]" in response.content.decode()
    response = client.post(
        url,
        {prefix + "languages": "en, pt-BR", prefix + "modalities": ["image"], prefix + "policy_areas": "hate",
         prefix + "graphic_daily_cap": "5"},
    )  # fmt: skip
    assert response.status_code == 302
    annotator.refresh_from_db()
    assert annotator.languages == ["en", "pt-BR"] and annotator.modalities == ["image"]
    assert annotator.policy_areas == ["hate"] and annotator.graphic_daily_cap == 5


# --- Settings -------------------------------------------------------------------------------------


def _settings_post(project, **changes):
    data = {"version": str(project.settings_version)}
    for field in FIELDS:
        value = getattr(project, field)
        if field == "languages":
            value = ", ".join(value)
        elif field == "label_schema":
            value = project.label_schema_id or ""
        elif isinstance(value, bool):
            if not value:
                continue
            value = "on"
        elif value is None:
            value = ""
        data[field] = str(value) if not isinstance(value, str) else value
    data.update({k: str(v) for k, v in changes.items()})
    return data


def test_settings_page_shows_every_patch_field_with_its_help(client, project, lead, annotator):
    response = _page(client, lead, f"/projects/{project.pk}/settings/")
    html = response.content.decode()
    assert response.status_code == 200
    assert_no_template_text(html)
    for field in FIELDS:
        assert f'name="{field}"' in html, field
        assert HELP[field].split("(")[0].replace("'", "&#x27;").strip()[:40] in html, field
    assert _page(client, annotator, f"/projects/{project.pk}/settings/").status_code == 403


def test_settings_page_saves_and_names_bad_fields(client, project, lead):
    client.force_login(lead)
    url = f"/projects/{project.pk}/settings/"
    response = client.post(url, _settings_post(project, gold_rate="0.1", default_overlap="4"))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.gold_rate == 0.1 and project.default_overlap == 4 and project.settings_version == 2
    response = client.post(url, _settings_post(project, gold_rate="2"))
    assert response.status_code == 400 and "gold_rate" in response.content.decode()
    response = client.post(url, _settings_post(project, max_overlap="2"))
    assert response.status_code == 400 and "must be at least the default overlap" in response.content.decode()
    response = client.post(url, _settings_post(project, languages="en, english!"))
    assert response.status_code == 400 and "languages[1]" in response.content.decode()
    project.refresh_from_db()
    assert project.gold_rate == 0.1 and project.settings_version == 2


def test_settings_page_refuses_a_stale_save_and_shows_what_changed(client, project, lead):
    second = UserFactory(username="co-lead", role=User.Role.LEAD)
    Membership.objects.create(project=project, user=second, role="lead")
    opened = _settings_post(project, gold_rate="0.2")  # the first lead opened the form at version 1
    project_update(project=project, actor=second, expected_version=1, lease_minutes=45)
    client.force_login(lead)
    response = client.post(f"/projects/{project.pk}/settings/", opened)
    html = response.content.decode()
    assert response.status_code == 409
    assert "Someone saved these settings after you opened them" in html
    assert "Lease minutes" in html and "co-lead" in html
    assert 'name="version" value="2"' in html  # saving again is now a choice made knowing it
    project.refresh_from_db()
    assert project.gold_rate == 0.05 and project.lease_minutes == 45


# --- Staff ------------------------------------------------------------------------------------------


def test_staff_pages_refuse_others(client, lead, requester):
    for user in (lead, requester):
        assert _page(client, user, "/staff/users/").status_code == 403
        assert _page(client, user, "/staff/teams/").status_code == 403


def test_staff_create_a_lead_and_a_team_from_the_pages(client, staff, requester):
    client.force_login(staff)
    assert "People" in client.get("/staff/users/").content.decode()
    response = client.post(
        "/staff/users/", {"email": "lea@example.org", "role": "lead", "username": "lea"}, follow=True
    )
    html = response.content.decode()
    assert "Set-password link for lea" in html and len(mail.outbox) == 1
    lea = User.objects.get(username="lea")
    assert lea.role == User.Role.LEAD and not lea.has_usable_password()
    response = client.post("/staff/users/", {"email": "lea@example.org", "role": "lead"})
    assert response.status_code == 400 and "already has an account" in response.content.decode()
    response = client.post("/staff/teams/", {"name": "Safety ML"}, follow=True)
    assert "Team Safety ML created" in response.content.decode()
    team = Team.objects.get(name="Safety ML")
    client.post(f"/staff/teams/{team.pk}/members/", {"action": "add", "user": requester.pk})
    requester.refresh_from_db()
    assert requester.team == team
    client.post(f"/staff/users/{lea.pk}/", {"action": "deactivate"})
    lea.refresh_from_db()
    assert lea.is_active is False
    response = client.post(f"/staff/users/{staff.pk}/", {"action": "deactivate"}, follow=True)
    assert "you may not deactivate your own account" in response.content.decode()


def test_project_page_links_team_and_settings_for_leads(client, project, lead, annotator):
    html = _page(client, lead, f"/projects/{project.pk}/").content.decode()
    assert f"/projects/{project.pk}/team/" in html and f"/projects/{project.pk}/settings/" in html
    html = _page(client, annotator, f"/projects/{project.pk}/").content.decode()
    assert f"/projects/{project.pk}/team/" not in html


def test_phase_is_not_on_the_settings_form(client, project, lead):
    client.force_login(lead)
    client.post(f"/projects/{project.pk}/settings/", {**_settings_post(project), "phase": "closed"})
    project.refresh_from_db()
    assert project.phase == Project.Phase.DESIGN
