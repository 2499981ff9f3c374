"""Screenshots for the README: seed a throw-away demo database, serve it, and photograph the
main pages in Debian's Chromium.

    .venv/bin/python scripts/screenshots.py        # writes docs/screenshots/*.png
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
PORT = int(os.environ.get("SCREENSHOT_PORT", "8765"))
BASE = f"http://127.0.0.1:{PORT}"
PASSWORD = "quorum-demo"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    database = Path(tempfile.mkdtemp()) / "screens.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["SQLITE_PATH"] = str(database)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    subprocess.run([*manage, "seed_demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    # The dashboard reads the daily rollups; count the demo's annotations now (the pages would only
    # after the settle time, and the shots are taken sooner).
    rollup = "from workbench.rollups import rollup_refresh; rollup_refresh(settle_seconds=0)"
    subprocess.run([*manage, "shell", "-c", rollup], env=env, check=True)
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{PORT}", "--noreload"], env=env, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{BASE}/accounts/login/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)  # a script, not a test: waiting for the server to listen
                server.poll()
                if server.returncode is not None:
                    raise SystemExit("the server did not start") from None
        shoot()
    finally:
        server.terminate()
        server.wait()


def shoot() -> None:
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)

        def signed_in(username: str):
            context = browser.new_context(base_url=BASE, viewport={"width": 1366, "height": 768})
            page = context.new_page()
            page.goto("/accounts/login/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            return page

        lead = signed_in("lena")
        lead.screenshot(path=OUT / "portfolio.png", full_page=True)
        lead.click("text=Hate & harassment classifier")  # the production project of the demo
        lead.wait_for_load_state("networkidle")
        lead.wait_for_function("() => window.quorumCharts && window.quorumCharts.burnup")
        lead.screenshot(path=OUT / "project.png", full_page=True)
        lead.locator("#charts").screenshot(path=OUT / "dashboard-charts.png")
        project_url = lead.url
        for link, name in (("Team", "team"), ("Settings", "settings"), ("Label schema", "schema"), ("Guideline", "guideline")):
            lead.goto(project_url)
            lead.click(f"header >> a:text-is('{link}')")
            lead.wait_for_load_state("networkidle")
            lead.screenshot(path=OUT / f"{name}.png", full_page=True)
        lead.goto(project_url)
        lead.click("text=Retrospective")
        lead.wait_for_load_state("networkidle")
        lead.screenshot(path=OUT / "retrospective.png", full_page=True)
        team = signed_in("omar")  # the requester of the image evaluation set, delivered by the demo
        team.goto("/deliveries/")
        team.click("#delivery-list a >> nth=0")
        team.wait_for_load_state("networkidle")
        team.screenshot(path=OUT / "delivery.png", full_page=True)
        requester = signed_in("maya")
        requester.screenshot(path=OUT / "requests.png", full_page=True)
        requester.click("td a >> nth=0")  # the first accepted request's project, as the team sees it
        requester.wait_for_load_state("networkidle")
        requester.screenshot(path=OUT / "requester-project.png", full_page=True)
        annotator = signed_in("ana")
        annotator.screenshot(path=OUT / "queue.png", full_page=True)
        annotator.click("a:text-is('Start') >> nth=0")
        annotator.wait_for_load_state("networkidle")
        annotator.screenshot(path=OUT / "task.png", full_page=True)
        annotator.goto("/annotate/me/")
        annotator.screenshot(path=OUT / "my-work.png", full_page=True)
        lead.goto("/api/v1/docs/")
        lead.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
        lead.screenshot(path=OUT / "api-docs.png")
        browser.close()
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
