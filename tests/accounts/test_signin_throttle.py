"""Failed sign-ins are throttled per account and per address (django-axes), on the sign-in form and
on /api/v1/auth/token/; staff lift a lock from Quorum's own page."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from rest_framework.test import APIClient

from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LIMIT = 3
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def _api(address: str = "10.0.0.1") -> APIClient:
    return APIClient(REMOTE_ADDR=address)


def test_default_limit_and_cool_off_are_set():
    # 30 wrong passwords in a row were all answered normally: the shipped limit is well below that.
    assert 1 <= django_settings.AXES_FAILURE_LIMIT <= 30
    assert django_settings.AXES_COOLOFF_TIME.total_seconds() > 0
    assert django_settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]


def test_token_endpoint_answers_429_after_the_limit_even_to_the_right_password():
    UserFactory(username="ana")
    client = _api()
    for _ in range(LIMIT - 1):
        response = client.post(TOKEN_URL, {"username": "ana", "password": "wrong"}, format="json")
        assert response.status_code == 400
    response = client.post(TOKEN_URL, {"username": "ana", "password": "wrong"}, format="json")
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "locked_out" and "Too many failed sign-ins" in body["detail"]
    assert int(response["Retry-After"]) == int(django_settings.AXES_COOLOFF_TIME.total_seconds())
    right = client.post(TOKEN_URL, {"username": "ana", "password": PASSWORD}, format="json")
    assert right.status_code == 429 and "token" not in right.json()


def test_token_endpoint_still_hands_out_tokens_below_the_limit():
    UserFactory(username="ana")
    client = _api()
    for _ in range(LIMIT - 1):
        assert client.post(TOKEN_URL, {"username": "ana", "password": "wrong"}, format="json").status_code == 400
    response = client.post(TOKEN_URL, {"username": "ana", "password": PASSWORD}, format="json")
    assert response.status_code == 200 and len(response.json()["token"]) == 40


def test_sign_in_form_locks_with_a_clear_message(client):
    user = UserFactory(username="ben")
    for _ in range(LIMIT):
        response = client.post(reverse("login"), {"username": "ben", "password": "wrong"})
    assert response.status_code == 429
    assert response["Retry-After"]
    html = response.content.decode()
    assert 'id="signin-locked"' in html and "Too many failed sign-ins" in html
    assert 'name="username"' in html  # the form is still there, with the page's look
    response = client.post(reverse("login"), {"username": "ben", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert user.pk  # nothing about the account changed


def test_the_form_and_the_api_share_one_count():
    UserFactory(username="ana")
    from django.test import Client

    form = Client(REMOTE_ADDR="10.0.0.9")
    for _ in range(LIMIT - 1):
        form.post(reverse("login"), {"username": "ana", "password": "wrong"})
    response = _api("10.0.0.9").post(TOKEN_URL, {"username": "ana", "password": "wrong"}, format="json")
    assert response.status_code == 429


def test_an_account_is_locked_whatever_the_address():
    UserFactory(username="ana")
    for n in range(LIMIT):
        _api(f"10.0.1.{n}").post(TOKEN_URL, {"username": "ana", "password": "wrong"}, format="json")
    response = _api("10.0.2.1").post(TOKEN_URL, {"username": "ana", "password": PASSWORD}, format="json")
    assert response.status_code == 429


def test_an_address_is_locked_whatever_the_account():
    for n in range(LIMIT):
        UserFactory(username=f"guess{n}")
        _api("10.0.3.3").post(TOKEN_URL, {"username": f"guess{n}", "password": "wrong"}, format="json")
    UserFactory(username="chen")
    locked = _api("10.0.3.3").post(TOKEN_URL, {"username": "chen", "password": PASSWORD}, format="json")
    assert locked.status_code == 429
    elsewhere = _api("10.0.3.4").post(TOKEN_URL, {"username": "chen", "password": PASSWORD}, format="json")
    assert elsewhere.status_code == 200


def test_token_authentication_is_not_throttled_by_a_locked_sign_in(annotator):
    from rest_framework.authtoken.models import Token

    key = Token.objects.create(user=annotator).key
    for _ in range(LIMIT):
        _api().post(TOKEN_URL, {"username": annotator.username, "password": "wrong"}, format="json")
    client = _api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/assignments/").status_code == 200


def test_lockout_page_is_for_staff_only(client, lead):
    client.force_login(lead)  # a lead, not staff
    assert client.get(reverse("lockout_list")).status_code == 403
    assert client.post(reverse("lockout_unlock"), {"username": "x"}).status_code == 403


def test_staff_see_and_lift_an_account_lock(client):
    UserFactory(username="dara")
    for name in ("dara", "eve"):  # dara's failures, and others from the same address
        for _ in range(LIMIT):
            _api("10.0.4.4").post(TOKEN_URL, {"username": name, "password": "wrong"}, format="json")
    staff = UserFactory(username="ops", is_staff=True)
    client.force_login(staff)
    page = client.get(reverse("lockout_list"))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="locked-accounts"' in html and "Unlock dara" in html and "Unlock 10.0.4.4" in html
    response = client.post(reverse("lockout_unlock"), {"username": "dara"}, follow=True)
    assert "Sign-in unlocked for dara." in response.content.decode()
    # The account's count is gone; from another address the right password works again.
    assert (
        _api("10.0.4.5").post(TOKEN_URL, {"username": "dara", "password": PASSWORD}, format="json").status_code == 200
    )
    # The address is still locked (eve's failures) until it is unlocked too.
    assert (
        _api("10.0.4.4").post(TOKEN_URL, {"username": "dara", "password": PASSWORD}, format="json").status_code == 429
    )
    client.post(reverse("lockout_unlock"), {"ip_address": "10.0.4.4"})
    assert (
        _api("10.0.4.4").post(TOKEN_URL, {"username": "dara", "password": PASSWORD}, format="json").status_code == 200
    )
    assert "No account is locked." in client.get(reverse("lockout_list")).content.decode()


def test_unlock_without_a_name_says_what_is_missing(client):
    client.force_login(UserFactory(username="ops", is_staff=True))
    response = client.post(reverse("lockout_unlock"), {}, follow=True)
    assert "name the account (username) or the address (ip_address)" in response.content.decode()


def test_hostile_usernames_are_escaped_on_the_lockout_page(client):
    name = "<img src=x onerror=alert(1)>"
    for _ in range(LIMIT):
        _api("10.0.5.5").post(TOKEN_URL, {"username": name, "password": "wrong"}, format="json")
    client.force_login(UserFactory(username="ops", is_staff=True))
    html = client.get(reverse("lockout_list")).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and name not in html
