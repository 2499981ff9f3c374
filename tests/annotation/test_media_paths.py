"""Item media URLs: http(s) with a host, or a path under Quorum's own MEDIA_URL (the demo's media)."""

from __future__ import annotations

import pytest

from annotation.validation import media_url_check
from core.errors import QuorumError


@pytest.mark.parametrize("url", ["/media/demo/images/img-0001.png", "/media/demo/audio/voice-note-0001.wav"])
def test_media_url_check_accepts_quorums_own_media_paths(url):
    assert media_url_check(url, where="image_url") == url


@pytest.mark.parametrize(
    "url",
    [
        "/media/",
        "/media/demo/../../db.sqlite3",
        "/media/demo/./a.png",
        "/media//evil.example/a.png",
        "/media/demo/a.png?x=1",
        "/media/demo/a.png#x",
        "/media/demo/%2e%2e/a.png",
        "/media/demo\\a.png",
        "//evil.example/media/a.png",
        "/static/a.png",
        "media/demo/a.png",
    ],
)
def test_media_url_check_refuses_other_relative_urls(url):
    with pytest.raises(QuorumError, match="is not an http\\(s\\) URL"):
        media_url_check(url, where="image_url")
