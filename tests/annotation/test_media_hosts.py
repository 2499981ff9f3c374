"""Media hosts: item media URLs and guideline images only from allowed hosts (settings.QUORUM_MEDIA_HOSTS,
by default Quorum's own host names), enforced at import, on the pages and in their CSP."""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from annotation import services
from annotation.models import Guideline, ImportJob, Item
from annotation.validation import media_host_allowed
from annotation.views import _guideline_html
from core.middleware import csp_host_sources
from tests.annotation.factories import BatchFactory, ItemFactory

pytestmark = pytest.mark.django_db


def _run(project, lead, path, mode=ImportJob.Mode.ALL_OR_NOTHING):
    job = services.import_job_create(project=project, actor=lead, batch_name="b", source_path=str(path), mode=mode)
    return services.import_job_run(job_id=job.pk, source_path=str(path))


def test_default_media_hosts_are_quorums_own_and_no_outside_host():
    assert django_settings.QUORUM_MEDIA_HOSTS  # the test settings add .example.org (tests/conftest.py)
    from config import settings as module

    assert [host for host in module.ALLOWED_HOSTS if host != "*"] == module.QUORUM_MEDIA_HOSTS
    assert "picsum.photos" not in module.QUORUM_MEDIA_HOSTS


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("LOCALHOST", True),
        ("localhost.", True),
        ("media.quorum.test", True),
        ("quorum.test", True),
        ("evilquorum.test", False),
        ("picsum.photos", False),
        ("169.254.169.254", False),
        ("", False),
        (None, False),
    ],
)
def test_media_host_allowed(settings, host, allowed):
    settings.QUORUM_MEDIA_HOSTS = ["127.0.0.1", "localhost", ".quorum.test"]
    assert media_host_allowed(host) is allowed


def test_import_refuses_a_media_url_on_another_host_by_row_and_column(settings, project, lead, tmp_path):
    settings.QUORUM_MEDIA_HOSTS = ["127.0.0.1", "localhost"]
    path = tmp_path / "items.jsonl"
    rows = [
        {"external_id": "ok", "image_url": "http://127.0.0.1:8000/media/a.png"},
        {"external_id": "out", "image_url": "https://picsum.photos/seed/x/640/400"},
        {"external_id": "inner", "video_url": "http://10.0.0.5/admin.mp4"},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    job = _run(project, lead, path, mode=ImportJob.Mode.SKIP_BAD_ROWS)
    assert job.items_created == 1 and job.rows_invalid == 2
    assert [(e["row"], e["column"]) for e in job.errors] == [(2, "image_url"), (3, "video_url")]
    assert "row 2, column image_url" in job.errors[0]["message"]
    assert "is not on an allowed media host" in job.errors[0]["message"]
    assert list(Item.objects.filter(project=project).values_list("external_id", flat=True)) == ["ok"]


def test_task_page_shows_no_media_from_a_host_no_longer_allowed(settings, client, project, annotator, lead):
    # A row stored before the allow-list (or written some other way) never reaches a src attribute.
    settings.QUORUM_MEDIA_HOSTS = ["127.0.0.1"]
    from workbench.services.lifecycle import project_transition

    batch = BatchFactory(project=project, created_by=lead)
    ItemFactory(batch=batch, modality="image", text="", image_url="https://picsum.photos/seed/a/640/400")
    for phase in ("pilot", "production"):
        project_transition(project=project, actor=lead, to_phase=phase)
    client.force_login(annotator)
    response = client.get(reverse("annotation:task", args=[project.pk]), follow=True)
    assert response.status_code == 200
    assert "picsum.photos" not in response.content.decode()


def test_pages_csp_allows_images_and_media_from_the_media_hosts_only(client):
    policy = client.get(reverse("login"))["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ")}
    for directive in ("img-src", "media-src"):
        sources = directives[directive]
        assert "'self'" in sources
        assert "http:" not in sources and "https:" not in sources and "*" not in sources, directive
        assert not any("picsum" in source for source in sources)
    assert set(csp_host_sources(django_settings.QUORUM_MEDIA_HOSTS)) <= set(directives["img-src"])
    assert set(csp_host_sources(django_settings.QUORUM_MEDIA_HOSTS)) <= set(directives["media-src"])


def test_csp_follows_the_media_hosts_setting(settings, client):
    settings.QUORUM_MEDIA_HOSTS = ["media.quorum.test"]
    policy = client.get(reverse("login"))["Content-Security-Policy"]
    assert "img-src 'self' media.quorum.test:* data:;" in policy and "media-src 'self' media.quorum.test:*;" in policy


def test_csp_host_sources():
    assert csp_host_sources(["quorum.example.org", ".cdn.example.org", "[::1]"]) == [
        "quorum.example.org:*",
        "cdn.example.org:*",
        "*.cdn.example.org:*",
    ]


def _guideline(project, lead, body: str) -> Guideline:
    return Guideline(project=project, created_by=lead, version=9, body=body)


def test_guideline_keeps_images_from_allowed_hosts_and_paths(settings, project, lead):
    settings.QUORUM_MEDIA_HOSTS = ["127.0.0.1", ".quorum.test"]
    html = str(
        _guideline_html(
            _guideline(
                project,
                lead,
                "![ok](http://127.0.0.1:8000/media/a.png) ![cdn](https://img.quorum.test/b.png) ![own](/static/c.png)",
            )
        )
    )
    assert 'src="http://127.0.0.1:8000/media/a.png"' in html
    assert 'src="https://img.quorum.test/b.png"' in html
    assert 'src="/static/c.png"' in html


@pytest.mark.parametrize(
    "source",
    [
        "https://picsum.photos/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "//evil.example.com/x.png",
        "/\\evil.example.com/x.png",
        "https://127.0.0.1.evil.test/x.png",
        "data:image/png;base64,AAAA",
    ],
)
def test_guideline_drops_images_from_other_hosts_keeping_their_alt(settings, project, lead, source):
    settings.QUORUM_MEDIA_HOSTS = ["127.0.0.1"]
    for body in (f"![diagram of {source}]({source})", f'<img src="{source}" alt="diagram">'):
        html = str(_guideline_html(_guideline(project, lead, body)))
        assert "<img" in html and "src=" not in html, html
        assert "diagram" in html
