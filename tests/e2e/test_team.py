"""In Chromium, no shell and no /admin/: a staff user creates a lead and a requester team from the
pages; the lead adds an annotator and a reviewer through the searchable picker, invites someone
new (who opens the one-time link, sets a password, signs in and sees the project), edits a
qualification and saves the project settings."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Team, User
from annotation.models import Guideline
from projects.models import Membership, Project
from tests.accounts.factories import PASSWORD, UserFactory
from tests.annotation.factories import schema_with_labels
from workbench.services.lifecycle import project_create

pytestmark = pytest.mark.e2e


def _sign_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/accounts/login/" not in page.url, f"signing in as {username!r} failed"


def _sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))


def test_staff_and_lead_set_up_a_team_in_the_browser(page, live_server, transactional_db, browser_errors, browser):
    staff = UserFactory(username="e2e-staff", role=User.Role.ANNOTATOR, is_staff=True)
    UserFactory(username="ana-annotator", first_name="Ana", last_name="Lima", role=User.Role.ANNOTATOR)
    UserFactory(username="rui-reviewer", first_name="Rui", last_name="Costa", role=User.Role.REVIEWER)
    UserFactory(username="andre-other", first_name="Andre", role=User.Role.ANNOTATOR)

    # Staff: a lead with a password, and a requester team.
    _sign_in(page, staff.username)
    expect(page).to_have_url(re.compile(r"/staff/users/$"))
    create = page.get_by_role("region", name="Create an account")
    create.get_by_label("Email").fill("lena@example.org")
    create.get_by_label("Username").fill("lena")
    create.get_by_label("First name").fill("Lena")
    create.get_by_label("Role").select_option("lead")
    create.get_by_label("Password").fill(PASSWORD)
    create.get_by_role("button", name="Create the account").click()
    expect(page.locator(".message--success")).to_contain_text("Account lena created")
    expect(page.locator("#accounts")).to_contain_text("lena@example.org")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Teams").click()
    team_form = page.get_by_role("region", name="Create a team")
    team_form.get_by_label("Name").fill("Safety ML")
    team_form.get_by_role("button", name="Create the team").click()
    expect(page.locator(".message--success")).to_contain_text("Team Safety ML created")
    assert Team.objects.filter(slug="safety-ml").exists()
    _sign_out(page)

    lena = User.objects.get(username="lena")
    assert lena.role == User.Role.LEAD and lena.check_password(PASSWORD)
    # The project the lead runs (schemas and guidelines have their own pages, another change's).
    project = project_create(actor=lena, lead=lena, name="Self-harm PT", graphic_daily_cap=100)
    project.label_schema = schema_with_labels(actor=lena)
    project.phase = Project.Phase.PILOT
    project.save()
    Guideline.objects.create(project=project, version=1, body="Label self-harm.", created_by=lena)

    # The lead: the team page from the project page.
    _sign_in(page, "lena")
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("link", name="Team").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Self-harm PT")
    search = page.get_by_label("Find a person")
    picker = page.locator("#member-user")
    for query, name, role in (("lima", "ana-annotator", "annotator"), ("rui", "rui-reviewer", "reviewer")):
        search.fill(query)
        expect(picker.locator("option")).to_have_count(1)  # htmx replaced the list with the matches
        expect(picker.locator("option")).to_contain_text(name)
        picker.select_option(index=0)
        page.locator("#member-role").select_option(role)
        page.get_by_role("button", name="Add to the team").click()
        expect(page.locator(".message--success")).to_contain_text(f"is now {role}")
    expect(page.locator("#members")).to_contain_text("ana-annotator")
    expect(page.locator("#members")).to_contain_text("rui-reviewer")

    # Invite someone new; the link is shown once.
    invite = page.get_by_role("region", name="Invite someone new")
    invite.get_by_label("Email").fill("bea.nova@example.org")
    invite.get_by_label("Role").select_option("annotator")
    invite.get_by_role("button", name="Send the invitation").click()
    link = page.get_by_label("Set-password link").input_value()
    assert re.search(r"/accounts/set-password/[^/]+/[^/]+/$", link), link

    # A qualification and a personal wellness cap of Ana's.
    ana = Membership.objects.get(project=project, user__username="ana-annotator")
    page.get_by_text("Edit ana-annotator's qualifications and wellness cap").click()
    profile = page.get_by_role("form", name="Qualifications of ana-annotator")
    profile.get_by_label("Languages").fill("pt, en")
    profile.get_by_label("Graphic items a day").fill("20")
    profile.get_by_role("button", name="Save qualifications").click()
    expect(page.locator(".message--success")).to_contain_text("qualifications are saved")
    expect(page.locator(f"#member-{ana.pk}")).to_contain_text("pt, en")

    # The settings: a bad value is named, a good one saved.
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Gold rate").fill("1.5")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".field--invalid")).to_contain_text("gold_rate")
    page.get_by_label("Gold rate").fill("0.1")
    page.get_by_label("Lease minutes").fill("45")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".message--success")).to_contain_text("Settings saved (version 2)")
    project.refresh_from_db()
    assert project.gold_rate == 0.1 and project.lease_minutes == 45
    ana.user.refresh_from_db()
    assert ana.user.languages == ["pt", "en"] and ana.user.graphic_daily_cap == 20
    _sign_out(page)

    # The invitee: the link, a password, signing in, their project.
    invitee = browser.new_context(base_url=live_server.url)
    other = invitee.new_page()
    other.on("console", lambda msg: browser_errors.append(msg.text) if msg.type == "error" else None)
    other.goto(link)
    expect(other.get_by_role("heading", level=1)).to_have_text("Choose your password")
    other.get_by_label("New password", exact=True).fill("bea-chooses-this-1")
    other.get_by_label("New password again").fill("bea-chooses-this-1")
    other.get_by_role("button", name="Set my password").click()
    expect(other.get_by_role("heading", level=1)).to_have_text("Your password is set")
    other.get_by_role("link", name="Sign in").click()
    _sign_in(other, "bea.nova", "bea-chooses-this-1")
    expect(other.get_by_role("main")).to_contain_text("Self-harm PT")
    other.goto(link)
    expect(other.get_by_role("heading", level=1)).to_have_text("This link no longer works")
    invitee.close()
    # The one console line is Chromium noting the deliberately invalid save's 400 (the form page
    # answers refused input with 400, and 409 for a stale save): no CSP violation, no script error.
    assert browser_errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
