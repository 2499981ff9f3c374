"""The first hour, as a browser sees it: every page reachable from each demo role's navigation, at
1366×768, on the seeded demo data.

Each role signs in through the form and walks its navigation: every page in it and every page
those link to (at most two of one URL shape, so 30 projects do not make 30 visits), and every link
on a visited page is requested too. A page fails the tour on a console error or CSP violation,
template syntax reaching the text (`{#`, `{%`, `{{`), a page wider than the window, an image that
did not load, or a link that answers 4xx/5xx.
"""

from __future__ import annotations

import re
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from demo.projects import DEMO_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1366, "height": 768}
SKIP = ("/accounts/logout/", "/admin/")
PER_SHAPE = 2
# Pages whose tables must fit the window too (not scroll sideways in their box): the portfolio.
FIT_TABLES = {"/projects/"}
TEMPLATE_SYNTAX = re.compile(r"\{[#%{]|[#%]\}")

PAGE_PROBLEMS = """() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth + 1) {
    const wide = [...document.querySelectorAll('body *')]
      .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
      .filter(el => !el.closest('.table-scroll'))
      .slice(0, 3).map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
    problems.push(`wider than the window: ${root.scrollWidth}px (${wide.join(', ')})`);
  }
  for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0) problems.push(`image did not load: ${img.currentSrc || img.src}`);
  }
  return problems;
}"""

LINKS = """() => [...document.querySelectorAll('a[href]')].map(a => a.href)"""


def _shape(path: str) -> str:
    return re.sub(r"/\d+", "/N", path)


def _tour(page, base: str, username: str, browser_errors: list[str]) -> tuple[list[str], int]:
    """Sign in as `username`, walk its navigation; the problems found and the pages visited."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/accounts/login/" not in page.url, f"{username} could not sign in"
    nav = [href for href in page.eval_on_selector_all(".site-nav a", "els => els.map(a => a.href)")]
    assert nav, f"{username} has no navigation"

    problems: list[str] = []
    checked: dict[str, int] = {}
    shapes: dict[str, int] = {}
    visited: set[str] = set()

    def status(url: str) -> int:
        if url not in checked:
            checked[url] = page.request.get(url, max_redirects=5).status
        return checked[url]

    def visit(url: str) -> list[str]:
        visited.add(url)
        response = page.goto(url)
        where = f"{username} {urlsplit(url).path}"
        if response is None or response.status >= 400:
            problems.append(f"{where}: answered {response.status if response else 'nothing'}")
            return []
        page.wait_for_load_state("load")
        text = page.inner_text("body")
        if match := TEMPLATE_SYNTAX.search(text):
            problems.append(
                f"{where}: template syntax in the page: {text[max(0, match.start() - 40) : match.end() + 40]!r}"
            )
        problems.extend(f"{where}: {problem}" for problem in page.evaluate(PAGE_PROBLEMS))
        if urlsplit(url).path in FIT_TABLES:
            wide = page.evaluate(
                "[...document.querySelectorAll('.table-scroll')].filter(b => b.scrollWidth > b.clientWidth + 1).length"
            )
            if wide:
                problems.append(f"{where}: {wide} table(s) wider than the window")
        if browser_errors:
            problems.extend(f"{where}: console: {error}" for error in browser_errors)
            browser_errors.clear()
        links = []
        for href in page.evaluate(LINKS):
            parts = urlsplit(href)
            if not href.startswith(base) or parts.path.startswith(SKIP):
                continue
            link = base + parts.path + (f"?{parts.query}" if parts.query else "")
            if status(link) >= 400:
                problems.append(f"{where}: link {parts.path} answers {checked[link]}")
            else:
                links.append(link)
        return links

    def html(url: str) -> bool:
        response = page.request.head(url)
        return response.ok and response.headers.get("content-type", "").startswith("text/html")

    frontier = []
    for url in nav:
        frontier.extend(visit(url))
    for url in frontier:
        shape = _shape(urlsplit(url).path)
        if url in visited or url in nav or shapes.get(shape, 0) >= PER_SHAPE or not html(url):
            continue
        shapes[shape] = shapes.get(shape, 0) + 1
        visit(url)
    return problems, len(visited)


@pytest.fixture
def demo_data(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", stdout=StringIO())


@pytest.mark.parametrize("username", ["lena", "ana", "rita", "maya"])
def test_every_page_of_the_role_is_clean(demo_data, browser, live_server, username):
    browser_errors: list[str] = []
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", lambda msg: browser_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: browser_errors.append(str(exc)))
    try:
        problems, visited = _tour(page, live_server.url, username, browser_errors)
    finally:
        context.close()
    assert visited >= 3, f"{username} reached only {visited} pages"
    assert not problems, "\n".join(problems)
