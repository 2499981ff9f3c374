"""A user lists and revokes their own API tokens (API and page); deactivating a user or revoking a
token is refused by every process from the next request on (core.authentication's generation)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.services import user_deactivate
from core import authentication
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/auth/tokens/"


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_token_list_shows_only_your_own_by_prefix(annotator, reviewer):
    mine = Token.objects.create(user=annotator)
    Token.objects.create(user=reviewer)
    response = _client(mine.key).get(LIST)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["prefix"] for row in rows] == [mine.key[:8]]
    assert rows[0]["current"] is True and "key" not in rows[0] and mine.key not in response.content.decode()


def test_token_revoke_through_the_api_refuses_it_at_once(annotator):
    token = Token.objects.create(user=annotator)
    client = _client(token.key)
    assert client.get("/api/v1/assignments/").status_code == 200  # remembered now
    assert client.delete(f"{LIST}{token.key[:8]}/").status_code == 204
    assert not Token.objects.filter(user=annotator).exists()
    assert client.get("/api/v1/assignments/").status_code == 401


def test_token_revoke_of_someone_elses_token_is_404(annotator, reviewer):
    mine = Token.objects.create(user=annotator)
    theirs = Token.objects.create(user=reviewer)
    response = _client(mine.key).delete(f"{LIST}{theirs.key[:8]}/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert Token.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize("prefix", ["nothex!!", "abc", "1" * 40])
def test_token_revoke_with_a_malformed_prefix_answers_json_404(annotator, prefix):
    mine = Token.objects.create(user=annotator)
    response = _client(mine.key).delete(f"{LIST}{prefix}/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_token_page_lists_and_revokes(client, annotator, reviewer):
    mine = Token.objects.create(user=annotator)
    theirs = Token.objects.create(user=reviewer)
    client.force_login(annotator)
    html = client.get(reverse("token_list")).content.decode()
    assert f"{mine.key[:8]}…" in html and mine.key not in html and theirs.key[:8] not in html
    assert client.post(reverse("token_revoke", args=[theirs.key[:8]])).status_code == 404
    response = client.post(reverse("token_revoke", args=[mine.key[:8]]), follow=True)
    assert "is revoked" in response.content.decode()
    assert not Token.objects.filter(user=annotator).exists() and Token.objects.filter(pk=theirs.pk).exists()
    assert "You have no API token." in client.get(reverse("token_list")).content.decode()


def test_token_page_needs_sign_in(client):
    response = client.get(reverse("token_list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def _as_another_process(change) -> None:
    """Run `change` as another process would: this process's remembered tokens are kept as they
    were (the change's signals empty only the memory of the process that makes it); only what
    the processes share (the database, the cache) changes."""
    kept = dict(authentication._remembered)
    change()
    authentication._remembered.clear()
    authentication._remembered.update(kept)


def test_a_user_deactivated_in_another_process_is_refused_at_once(settings, annotator):
    settings.QUORUM_TOKEN_CACHE_SECONDS = 3600  # the memory alone would keep the token an hour
    key = Token.objects.create(user=annotator).key
    client = _client(key)
    assert client.get("/api/v1/assignments/").status_code == 200
    assert key in authentication._remembered

    def deactivate():
        annotator.is_active = False
        annotator.save()

    _as_another_process(deactivate)
    assert key in authentication._remembered  # this process still remembers it …
    assert client.get("/api/v1/assignments/").status_code == 401  # … and refuses it all the same


def test_a_token_deleted_in_another_process_is_refused_at_once(settings, annotator):
    settings.QUORUM_TOKEN_CACHE_SECONDS = 3600
    token = Token.objects.create(user=annotator)
    client = _client(token.key)
    assert client.get("/api/v1/assignments/").status_code == 200
    _as_another_process(token.delete)
    assert client.get("/api/v1/assignments/").status_code == 401


def test_a_session_sign_in_elsewhere_does_not_make_every_process_look_tokens_up(settings, client, annotator):
    settings.QUORUM_TOKEN_CACHE_SECONDS = 3600
    key = Token.objects.create(user=annotator).key
    api = _client(key)
    api.get("/api/v1/assignments/")
    before = authentication.token_generation()
    UserFactory(username="someone")  # a new user is a change (a save) …
    assert authentication.token_generation() != before
    middle = authentication.token_generation()
    from django.contrib.auth.models import update_last_login

    update_last_login(None, annotator)  # … a sign-in's last_login stamp is not
    assert authentication.token_generation() == middle


def test_remembered_tokens_save_the_lookup(settings, annotator, django_assert_num_queries):
    settings.QUORUM_TOKEN_CACHE_SECONDS = 3600
    key = Token.objects.create(user=annotator).key
    user, _ = authentication.CachedTokenAuthentication().authenticate_credentials(key)
    with django_assert_num_queries(0):
        again, _ = authentication.CachedTokenAuthentication().authenticate_credentials(key)
    assert again.pk == user.pk


def test_an_unreadable_cache_falls_back_to_the_database(settings, annotator, django_assert_num_queries):
    settings.QUORUM_TOKEN_CACHE_SECONDS = 3600
    key = Token.objects.create(user=annotator).key
    auth = authentication.CachedTokenAuthentication()
    auth.authenticate_credentials(key)
    down = mock.patch.object(authentication._store, "get", side_effect=ConnectionError("redis down"))
    with down, django_assert_num_queries(1):
        user, _ = auth.authenticate_credentials(key)
    assert user.pk == annotator.pk


def test_user_deactivate_revokes_the_tokens(annotator):
    staff = UserFactory(username="ops", is_staff=True)
    key = Token.objects.create(user=annotator).key
    client = _client(key)
    assert client.get("/api/v1/assignments/").status_code == 200
    user_deactivate(user=annotator, actor=staff)
    annotator.refresh_from_db()
    assert not annotator.is_active and not Token.objects.filter(user=annotator).exists()
    assert client.get("/api/v1/assignments/").status_code == 401


def test_every_page_links_to_your_tokens(client, annotator):
    client.force_login(annotator)
    html = client.get(reverse("annotation:queue")).content.decode()
    assert f'href="{reverse("token_list")}"' in html
