"""Drawing audit samples inside the share, shown to the lead before drawing: the API's dry run
and the draw page's preview, through the real URLs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from quality.models import AuditSample
from tests.quality.factories import KEYS, annotations_make, items_make
from tests.quality.test_views import HTMX

pytestmark = pytest.mark.django_db

DRAW = "/api/v1/quality/audit-samples/draw/"


@pytest.fixture
def annotated_210(quality):
    """210 annotations: 70 items, three annotators each (all of them new to the project)."""
    items = items_make(quality.batch, 70)
    annotations_make(
        [
            (item, person, KEYS[(i + j) % 3])
            for i, item in enumerate(items)
            for j, person in enumerate(quality.people[:3])
        ]
    )
    return quality


def test_the_api_dry_run_says_what_would_be_drawn_and_draws_nothing(api_client, annotated_210):
    quality = annotated_210
    api_client.force_authenticate(user=quality.lead)
    response = api_client.post(DRAW, {"project": quality.project.pk, "share": 0.1, "dry_run": True}, format="json")
    assert response.status_code == 200, response.json()
    plan = response.json()
    assert not AuditSample.objects.exists()
    assert plan["dry_run"] is True and plan["drawn"] == 0
    assert (plan["annotations"], plan["target"], plan["drawn_before"], plan["planned"]) == (210, 21, 0, 21)
    assert sum(plan["by_stratum"].values()) == 21
    assert [row["stratum"] for row in plan["strata"]] == ["random", "under_bar", "new_annotator", "annotator_label"]
    assert {row["stratum"]: row["planned"] for row in plan["strata"] if row["planned"]} == plan["by_stratum"]
    assert sum(row["wanted"] for row in plan["strata"]) > 21  # the strata ask for more than the share
    # The draw then takes exactly what the dry run said.
    drawn = api_client.post(DRAW, {"project": quality.project.pk, "share": 0.1}, format="json")
    assert drawn.status_code == 201
    body = drawn.json()
    assert body["dry_run"] is False and body["drawn"] == 21 == AuditSample.objects.count()
    assert body["by_stratum"] == plan["by_stratum"]
    again = api_client.post(DRAW, {"project": quality.project.pk, "share": 0.1, "dry_run": True}, format="json")
    assert again.json()["planned"] == 0 and again.json()["drawn_before"] == 21


def test_the_dry_run_is_for_leads_and_checks_the_share(api_client, annotated_210, other_lead):
    quality = annotated_210
    api_client.force_authenticate(user=quality.reviewer)
    assert api_client.post(DRAW, {"project": quality.project.pk, "share": 0.1, "dry_run": True}).status_code == 403
    api_client.force_authenticate(user=other_lead)  # leads another project, not this one
    assert api_client.post(DRAW, {"project": quality.project.pk, "share": 0.1, "dry_run": True}).status_code == 404
    api_client.force_authenticate(user=quality.lead)
    response = api_client.post(DRAW, {"project": quality.project.pk, "share": 2, "dry_run": True})
    assert response.status_code == 400 and response.json()["field"] == "share"


def test_the_draw_page_previews_per_stratum_then_draws_that(client, annotated_210):
    quality = annotated_210
    url = reverse("quality:audit_draw", args=[quality.project.pk])
    client.force_login(quality.lead)
    page = client.get(url).content.decode()  # the default share, 0.1
    assert 'id="draw-share"' in page and "Draw 21 samples" in page
    preview = client.get(url, {"share": "0.1", "seed": "3"}, **HTMX).content.decode()
    assert "<html" not in preview and not AuditSample.objects.exists()
    assert re.search(r"210 regular annotations × 0.1\s*= 21 samples in all", preview)
    rows = dict(
        re.findall(
            r'<tr data-stratum="([a-z_]+)">.*?<td class="num">\d+</td>\s*<td class="num">(\d+)</td>', preview, re.S
        )
    )
    assert set(rows) == {"random", "under_bar", "new_annotator", "annotator_label"}
    assert sum(int(n) for n in rows.values()) == 21
    response = client.post(url, {"share": "0.1", "seed": "3"}, follow=True)
    assert response.redirect_chain[-1][0].endswith(f"{quality.project.get_absolute_url()}#quality")
    drawn = {stratum: AuditSample.objects.filter(stratum=stratum).count() for stratum in rows}
    assert drawn == {stratum: int(n) for stratum, n in rows.items()}
    assert "Drew 21 audit samples" in response.content.decode()


def test_the_draw_page_names_a_bad_share_and_is_for_leads(client, annotated_210):
    quality = annotated_210
    url = reverse("quality:audit_draw", args=[quality.project.pk])
    client.force_login(quality.lead)
    html = client.get(url, {"share": "lots"}).content.decode()
    assert "share: &#x27;lots&#x27; is not a number above 0 and at most 1" in html
    assert client.post(url, {"share": "1.5"}).status_code == 200 and not AuditSample.objects.exists()
    client.force_login(quality.reviewer)
    assert client.get(url).status_code == 403
