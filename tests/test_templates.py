"""Template hygiene: Django's `{# #}` comments are single-line only; one spread over lines is shown
to the user as text (it was, on the task, audit and adjudication pages). Multi-line comments use
{% comment %}. The page tests call assert_no_template_text on what they render."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LEAKED = re.compile(r"\{#|#\}|\{%|%\}|\{\{|\}\}")


def assert_no_template_text(html: str) -> None:
    """No template syntax reached the page (an unclosed comment or tag shows as text)."""
    found = LEAKED.search(html)
    assert found is None, f"template syntax on the page: {html[max(found.start() - 80, 0) : found.end() + 80]!r}"


def test_no_template_has_a_multi_line_hash_comment():
    bad = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for opened in re.finditer(r"\{#", line):
                if "#}" not in line[opened.end() :]:
                    bad.append(f"{path.relative_to(TEMPLATES)}:{number}")
    assert not bad, f"multi-line {{# #}} comments (use {{% comment %}}): {bad}"


def test_the_check_catches_a_leaked_comment():
    try:
        assert_no_template_text("<p>{# a comment\n that leaked #}</p>")
    except AssertionError as error:
        assert "template syntax on the page" in str(error)
    else:
        raise AssertionError("a leaked comment passed")


def test_the_stylesheet_has_balanced_braces():
    """An unclosed rule silently swallows every rule after it (a merge once dropped a `}`)."""
    css = (Path(__file__).resolve().parents[1] / "static" / "css" / "quorum.css").read_text()
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    depth = 0
    for number, line in enumerate(css.splitlines(), start=1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"quorum.css line {number}: a `}}` closes nothing"
    assert depth == 0, "quorum.css: a rule is never closed"
