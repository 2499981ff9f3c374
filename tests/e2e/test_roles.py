"""Each role signs in through the real form and lands on its page, with its navigation, in Chromium."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from projects.models import Blocker, Membership, Project
from tests.accounts.factories import PASSWORD, TeamFactory, UserFactory
from tests.projects.factories import BlockerFactory, DataRequestFactory, ProjectFactory

pytestmark = pytest.mark.e2e

ROLES = {
    # role: (landing path, page heading, navigation links in order)
    User.Role.LEAD: ("/projects/", "Portfolio", ["Portfolio", "Requests", "Deliveries", "API docs"]),
    User.Role.REQUESTER: ("/projects/requests/", "Data requests", ["My requests", "Deliveries", "API docs"]),
    User.Role.ANNOTATOR: ("/annotate/", "Your queue", ["My queue", "My work", "API docs"]),
    User.Role.REVIEWER: ("/annotate/", "Your queue", ["My queue", "My work", "API docs"]),
}


def _seed(user: User) -> None:
    """A little data, so each landing page (and its screenshot) shows something real."""
    lead = user if user.role == User.Role.LEAD else UserFactory(username="e2e-lead-of-others", role=User.Role.LEAD)
    today = dt.date.today()  # noqa: DTZ011
    hate = ProjectFactory(
        name="Hate speech EN",
        lead=lead,
        phase=Project.Phase.PRODUCTION,
        deadline=today + dt.timedelta(days=21),
        items_total=4000,
        items_completed=1500,
        annotations_required=12000,
        annotations_done=5100,
    )
    ProjectFactory(name="Spam PT", lead=lead, phase=Project.Phase.PILOT, deadline=today + dt.timedelta(days=60))
    BlockerFactory(project=hate, title="Two annotators on leave", kind=Blocker.Kind.RISK)
    DataRequestFactory(title="Self-harm ES evaluation set", requester__team=user.team)
    if user.role in (User.Role.ANNOTATOR, User.Role.REVIEWER):
        Membership.objects.create(project=hate, user=user, role=user.role)
    if user.role == User.Role.REQUESTER:
        DataRequestFactory(title="Violence image set", requester=user)


def _sign_in(page, username: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_signs_in_and_lands_on_its_page(
    page, live_server, transactional_db, browser_errors, artifacts_dir, role
):
    path, heading, nav_items = ROLES[role]
    user = UserFactory(
        username=f"e2e-{role}", first_name="Sam", last_name=role.title(), role=role, team=TeamFactory(slug="e2e")
    )
    _seed(user)

    _sign_in(page, user.username)

    page.wait_for_url(f"{live_server.url}{path}")
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(nav_items)
    expect(nav.get_by_role("link", name=nav_items[0])).to_have_attribute("aria-current", "page")
    expect(page.locator(".site-user")).to_contain_text(f"Sam {role.title()}")
    expect(page.locator(".site-user")).to_contain_text(user.get_role_display())
    # Our stylesheet is served and applied (the header is dark), under the page's CSP.
    expect(page.locator(".site-header")).to_have_css("background-color", "rgb(28, 36, 48)")
    page.screenshot(path=str(artifacts_dir / f"landing-{role}.png"), full_page=True)
    assert browser_errors == []


def test_sign_out_returns_to_the_sign_in_page(page, live_server, transactional_db, browser_errors):
    UserFactory(username="e2e-leaving", role=User.Role.ANNOTATOR)
    _sign_in(page, "e2e-leaving")
    page.wait_for_url(f"{live_server.url}/annotate/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Quorum")
    assert browser_errors == []


def test_portfolio_filter_swaps_only_the_table(page, live_server, transactional_db, browser_errors, artifacts_dir):
    lead = UserFactory(username="e2e-filter-lead", role=User.Role.LEAD, team=TeamFactory(slug="e2e"))
    _seed(lead)
    _sign_in(page, lead.username)
    page.wait_for_url(f"{live_server.url}/projects/")
    rows = page.locator("#portfolio-table tbody tr")
    expect(rows).to_have_count(2)
    page.evaluate("window.quorumMarker = 'still the same page'")  # gone if the page reloads

    page.get_by_label("Search").fill("spam")

    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Spam PT")
    expect(page).to_have_url(re.compile(r"/projects/\?.*search=spam"))
    assert page.evaluate("window.quorumMarker") == "still the same page"
    page.get_by_label("Production").check()
    expect(page.locator("#portfolio-table")).to_contain_text("No projects match these filters.")
    page.screenshot(path=str(artifacts_dir / "portfolio-filtered.png"), full_page=True)
    assert browser_errors == []


def test_lead_opens_and_resolves_a_blocker_on_the_project_page(
    page, live_server, transactional_db, browser_errors, artifacts_dir
):
    lead = UserFactory(username="e2e-blocker-lead", role=User.Role.LEAD, team=TeamFactory(slug="e2e"))
    _seed(lead)
    _sign_in(page, lead.username)
    page.get_by_role("link", name="Hate speech EN").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hate speech EN")

    page.get_by_text("Open a blocker or risk…").click()
    page.get_by_label("Title").fill("Vendor contract not signed")
    page.get_by_label("Severity").select_option(label="High")
    page.get_by_role("button", name="Open", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Opened blocker “Vendor contract not signed”.")
    card = page.locator("#blockers .card", has_text="Vendor contract not signed")
    expect(card).to_contain_text("High")
    page.screenshot(path=str(artifacts_dir / "project-page.png"), full_page=True)
    card.get_by_text("Resolve…").click()
    card.get_by_label("How was it resolved?").fill("Signed on Monday")
    card.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_have_text("Resolved “Vendor contract not signed”.")
    expect(page.locator("#blockers")).to_contain_text("Signed on Monday")
    assert browser_errors == []
