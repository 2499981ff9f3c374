"""Upload and body size limits (issue 15): an upload over QUORUM_UPLOAD_MAX_BYTES is refused with
413 in the API's error shape before anything is stored, for item imports and evaluation uploads
alike; a body over Django's DATA_UPLOAD_MAX_MEMORY_SIZE answers the same JSON shape, not HTML;
the page's upload is held to the same limit; the schema documents 413."""

from __future__ import annotations

import json

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token

from annotation.models import ImportJob
from delivery.models import Evaluation

pytestmark = pytest.mark.django_db

IMPORTS = "/api/v1/imports/"
EVALUATIONS = "/api/v1/evaluations/"


def _file(size: int, name: str = "items.jsonl") -> SimpleUploadedFile:
    line = json.dumps({"external_id": "x", "text": "y" * 80}) + "\n"
    return SimpleUploadedFile(name, (line * (size // len(line) + 1)).encode()[:size])


def _token_client(api_client, user):
    token, _ = Token.objects.get_or_create(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api_client


def _is_error_shape(response, code: int, field: str) -> dict:
    assert response.status_code == code, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "too_large" and body["field"] == field and body["detail"].startswith(f"{field}: ")
    return body


def test_an_import_upload_over_the_limit_is_413_before_reading(api_client, project, lead, settings):
    settings.QUORUM_UPLOAD_MAX_BYTES = 100_000
    client = _token_client(api_client, lead)
    response = client.post(
        IMPORTS, {"project": project.pk, "batch_name": "big", "file": _file(400_000)}, format="multipart"
    )
    body = _is_error_shape(response, 413, "body")
    assert "over the limit of" in body["detail"]
    assert not ImportJob.objects.exists()


def test_a_file_over_the_limit_inside_an_allowed_body_is_413_too(api_client, project, lead, settings):
    """The body fits the parser's allowance (the limit and room for the form), the file does not."""
    settings.QUORUM_UPLOAD_MAX_BYTES = 100_000
    client = _token_client(api_client, lead)
    response = client.post(
        IMPORTS, {"project": project.pk, "batch_name": "big", "file": _file(120_000)}, format="multipart"
    )
    body = _is_error_shape(response, 413, "file")
    assert "over the upload limit of 97.7 KiB" in body["detail"]
    assert not ImportJob.objects.exists()


def test_an_upload_within_the_limit_is_accepted(
    api_client, project, lead, settings, django_capture_on_commit_callbacks
):
    settings.QUORUM_UPLOAD_MAX_BYTES = 100_000
    client = _token_client(api_client, lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            IMPORTS, {"project": project.pk, "batch_name": "small", "file": _file(5_000)}, format="multipart"
        )
    assert response.status_code == 202, response.content


def test_a_form_field_over_djangos_limit_answers_json_not_html(api_client, project, lead, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = _token_client(api_client, lead)
    response = client.post(
        IMPORTS, {"project": project.pk, "batch_name": "n" * 20_000, "file": _file(100)}, format="multipart"
    )
    _is_error_shape(response, 413, "body")
    assert b"<html" not in response.content.lower()


def test_a_json_body_over_djangos_limit_is_413_in_the_api_shape(api_client, requester, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = _token_client(api_client, requester)
    response = client.post("/api/v1/requests/", {"title": "t", "purpose": "p" * 20_000}, format="json")
    body = _is_error_shape(response, 413, "body")
    assert "over the limit of" in body["detail"]


def test_pages_keep_djangos_own_400_page(client, lead, project, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    client.force_login(lead)
    response = client.post(reverse("projects:lessons_update", args=[project.pk]), {"lessons": "x" * 5_000})
    assert response.status_code == 400 and not response["Content-Type"].startswith("application/json")


def test_the_import_page_refuses_a_file_over_the_limit(client, lead, project, settings):
    settings.QUORUM_UPLOAD_MAX_BYTES = 1_000
    client.force_login(lead)
    response = client.post(
        reverse("projects:import_create", args=[project.pk]),
        {"batch_name": "big", "mode": ImportJob.Mode.ALL_OR_NOTHING, "file": _file(5_000)},
        follow=True,
    )
    assert "over the upload limit of 1000 bytes" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_an_evaluation_upload_over_the_limit_is_413(api_client, requester, settings):
    settings.QUORUM_UPLOAD_MAX_BYTES = 10_000
    client = _token_client(api_client, requester)
    upload = SimpleUploadedFile("model.csv", b"item_id,label\n" + b"x,safe\n" * 20_000)
    response = client.post(EVALUATIONS, {"delivery": 1, "file": upload}, format="multipart")
    _is_error_shape(response, 413, "body")
    assert not Evaluation.objects.exists()


def test_the_schema_documents_413_for_bodies(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]
    assert "413" in paths["/api/v1/imports/"]["post"]["responses"]
    assert "413" in paths["/api/v1/evaluations/"]["post"]["responses"]
    assert "413" not in paths["/api/v1/imports/"]["get"]["responses"]
