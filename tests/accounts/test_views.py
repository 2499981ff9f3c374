"""Sign-in, landing pages by role and the base layout, through real URLs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import User
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LANDING = {
    User.Role.LEAD: "projects:portfolio",
    User.Role.REQUESTER: "projects:request_list",
    User.Role.ANNOTATOR: "annotation:queue",
    User.Role.REVIEWER: "annotation:queue",
}


def assert_csp_clean(html: str) -> None:
    """Our CSP forbids inline script and style: every <script> has a src and nothing uses style=."""
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), "inline <script> found"
    assert not re.search(r"\sstyle=", html), "inline style= found"
    assert not re.search(r"<style[\s>]", html), "<style> element found"


@pytest.mark.parametrize("role", list(LANDING))
def test_login_lands_each_role_on_its_page(client, role):
    UserFactory(username=f"sign-in-{role}", role=role)
    response = client.post(reverse("login"), {"username": f"sign-in-{role}", "password": PASSWORD}, follow=True)
    assert response.redirect_chain == [(reverse("home"), 302), (reverse(LANDING[role]), 302)]
    assert response.status_code == 200
    assert_csp_clean(response.content.decode())


def test_login_page_renders_form_without_inline_code(client):
    response = client.get(reverse("login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="username"' in html and 'name="password"' in html and "csrfmiddlewaretoken" in html
    assert "vendor/htmx/htmx.min.js" in html and "includeIndicatorStyles" in html
    assert_csp_clean(html)


def test_login_with_a_wrong_password_says_so(client, lead):
    response = client.post(reverse("login"), {"username": "lead", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_home_sends_anonymous_visitors_to_sign_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_signed_in_visitor_of_login_page_goes_home(client, annotator):
    client.force_login(annotator)
    response = client.get(reverse("login"))
    assert response.status_code == 302 and response["Location"] == reverse("home")


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        (User.Role.LEAD, ["Portfolio", "Requests"], ["My queue", "My work", "My requests"]),
        (User.Role.REQUESTER, ["My requests"], ["Portfolio", "My queue"]),
        (User.Role.ANNOTATOR, ["My queue", "My work"], ["Portfolio", "Requests"]),
        (User.Role.REVIEWER, ["My queue"], ["Portfolio", "Requests"]),
    ],
)
def test_layout_shows_navigation_name_role_and_sign_out(client, team, role, shown, hidden):
    user = UserFactory(username=f"nav-{role}", first_name="Ada", last_name="Lovelace", role=role, team=team)
    client.force_login(user)
    response = client.get(reverse("home"), follow=True)
    html = response.content.decode()
    nav = re.search(r'<nav class="site-nav".*?</nav>', html, re.S).group(0)
    for label in shown:
        assert f">{label}</a>" in nav
    for label in hidden:
        assert f">{label}</a>" not in nav
    assert 'aria-current="page"' in nav
    assert "Ada Lovelace" in html and user.get_role_display() in html
    assert f'action="{reverse("logout")}"' in html


def test_sign_out_posts_and_returns_to_sign_in(client, lead):
    client.force_login(lead)
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert client.get(reverse("projects:portfolio")).status_code == 302
