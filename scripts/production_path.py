"""The production path, as a user meets it: sign in through the login page, take an API token,
build a delivery through the worker, download every file over HTTP and check its sha256 against
the manifest. Standard library only (it runs beside a production install, not the dev tools).

Usage: python scripts/production_path.py http://127.0.0.1:PORT   (run by scripts/production-path.sh)
The server is a DEBUG=0 install behind a TLS proxy (DJANGO_BEHIND_PROXY=1); this client plays the
proxy by sending X-Forwarded-Proto: https, and keeps cookies by hand (they are Secure).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

USER, PASSWORD = "admin", "quorum-demo"  # the demo's lead of the project in QA (README, demo sign-ins)
BUILD_TIMEOUT_S = 180


class Client:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.cookies: dict[str, str] = {}
        self.opener = urllib.request.build_opener(_NoRedirect())

    def request(self, method: str, path: str, *, data: bytes | None = None, headers: dict | None = None):
        head = {"X-Forwarded-Proto": "https", "Host": "localhost", **(headers or {})}
        if self.cookies:
            head["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=head)
        try:
            response = self.opener.open(req, timeout=30)
        except urllib.error.HTTPError as error:
            response = error
        for raw in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = raw.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, response.headers, response.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"production path: {what}")
    print(f"ok: {what}")


def main(base: str) -> None:
    web = Client(base)
    status, _, body = web.request("GET", "/accounts/login/")
    check(status == 200, "the login page answers 200")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    check(token is not None and "csrftoken" in web.cookies, "the login page sets a CSRF token")
    form = urllib.parse.urlencode({"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token[1].decode()})
    status, headers, _ = web.request(
        "POST",
        "/accounts/login/",
        data=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": "https://localhost/accounts/login/"},
    )
    check(status == 302 and "sessionid" in web.cookies, f"{USER} signs in (302 to {headers.get('Location')})")
    status, _, body = web.request("GET", "/projects/")
    check(status == 200 and b"<html" in body.lower(), "the signed-in portfolio page renders")

    api = Client(base)
    status, _, body = api.request(
        "POST",
        "/api/v1/auth/token/",
        data=json.dumps({"username": USER, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    check(status == 200, "the API hands out a token")
    auth = {"Authorization": f"Token {json.loads(body)['token']}"}

    status, _, body = api.request("GET", "/api/v1/projects/?phase=qa", headers=auth)
    projects = json.loads(body)["results"]
    check(status == 200 and projects, "the lead lists the demo's project in QA")
    status, _, body = api.request(
        "POST",
        "/api/v1/deliveries/",
        data=json.dumps(
            {"project": projects[0]["id"], "override_reason": "production-path check: a dry-run delivery"}
        ).encode(),
        headers={**auth, "Content-Type": "application/json"},
    )
    check(status == 201, f"a delivery build is queued (201): {body[:200]!r}")
    delivery_id = json.loads(body)["id"]

    deadline = time.monotonic() + BUILD_TIMEOUT_S
    while True:
        status, _, body = api.request("GET", f"/api/v1/deliveries/{delivery_id}/", headers=auth)
        delivery = json.loads(body)
        if delivery["status"] not in ("queued", "running"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(
                f"production path: delivery {delivery_id} still {delivery['status']} after {BUILD_TIMEOUT_S} s"
            )
        time.sleep(0.5)
    check(
        delivery["status"] == "done",
        f"the worker built delivery {delivery_id} ({delivery['status']}, {delivery['error']!r})",
    )

    status, _, raw = api.request("GET", f"/api/v1/deliveries/{delivery_id}/files/manifest.json/", headers=auth)
    check(
        status == 200 and hashlib.sha256(raw).hexdigest() == delivery["manifest_sha256"],
        "manifest.json downloads, sha256 as listed",
    )
    manifest = json.loads(raw)
    for entry in manifest["files"]:
        status, _, raw = api.request("GET", f"/api/v1/deliveries/{delivery_id}/files/{entry['name']}/", headers=auth)
        check(
            status == 200 and hashlib.sha256(raw).hexdigest() == entry["sha256"] and len(raw) == entry["bytes"],
            f"{entry['name']} downloads ({len(raw)} bytes, {entry['rows']} rows), sha256 as in the manifest",
        )


if __name__ == "__main__":
    main(sys.argv[1])
