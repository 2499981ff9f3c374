"""The reviewers' adjudication page through real URLs: unsure and tied items one at a time with
their votes, the final label recorded with the reason, skipping, roles, and hostile content
escaped."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects.models import Membership
from quality.models import Adjudication
from quality.services.consensus import consensus_compute
from tests.accounts.test_views import assert_csp_clean
from tests.quality.factories import annotations_make
from tests.quality.factories import quality_project as make_quality_project
from tests.quality.test_views import HOSTILE, HTMX, assert_escaped

pytestmark = pytest.mark.django_db

PAGE = reverse("quality:adjudication_queue")


@pytest.fixture
def unsure(quality, make_items):
    """Item 0: hate, hate, spam (2/3, under the 0.8 bar); item 1: hate vs spam (a tie of its
    overlap of two); item 2: safe ×3 (sure). Each has all its votes; the reviewer annotated none."""
    items = make_items(quality.batch, 3)
    items[0].text = HOSTILE
    items[0].save()
    items[1].required_annotations = 2
    items[1].save()
    a, b, c = quality.people[:3]
    annotations_make(
        [
            (items[0], a, "hate"), (items[0], b, "hate"), (items[0], c, "spam"),
            (items[1], a, "hate"), (items[1], b, "spam"),
            (items[2], a, "safe"), (items[2], b, "safe"), (items[2], c, "safe"),
        ]
    )  # fmt: skip
    consensus_compute(project_id=quality.project.pk, method="majority")
    quality.items = items
    return quality


def _settle(client, item, labels, reason="", **extra):
    return client.post(
        reverse("quality:adjudication_settle", args=[item.pk]), {"labels": labels, "reason": reason}, **extra
    )


def test_the_page_shows_the_least_confident_item_with_its_votes_escaped(client, unsure):
    client.force_login(unsure.reviewer)
    response = client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    tie = unsure.items[1]
    assert f'data-item="{tie.pk}"' in html and "Tied vote" in html  # confidence 0.5 comes before 0.67
    assert "2 items waiting" in html
    assert "Annotator 1" in html and "Annotator 2" in html and unsure.people[0].username not in html
    assert 'data-key="1"' in html and "js/adjudicate.js" in html
    assert_csp_clean(html)
    _settle(client, tie, ["spam"], "the slur is quoted, not used")
    html = client.get(PAGE).content.decode()
    assert f'data-item="{unsure.items[0].pk}"' in html and "Confidence 0.67" in html
    assert_escaped(html, HOSTILE)


def test_settling_records_who_what_and_why_then_shows_the_next(client, unsure):
    client.force_login(unsure.reviewer)
    tie = unsure.items[1]
    response = _settle(client, tie, ["hate"], "  targets a protected group  ", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    decision = Adjudication.objects.get(item=tie)
    assert (decision.reviewer, decision.labels, decision.reason) == (
        unsure.reviewer,
        ["hate"],
        "targets a protected group",
    )
    assert f'data-item="{unsure.items[0].pk}"' in html and "settled: hate" in html
    _settle(client, unsure.items[0], ["hate"])
    assert "Nothing to adjudicate" in client.get(PAGE).content.decode()


def test_a_refused_decision_shows_the_same_item_with_the_reason(client, unsure):
    client.force_login(unsure.reviewer)
    tie = unsure.items[1]
    response = _settle(client, tie, ["no-such-label"], **HTMX)
    html = response.content.decode()
    assert f'data-item="{tie.pk}"' in html and "no-such-label" in html
    assert not Adjudication.objects.exists()
    response = _settle(client, tie, [])
    assert response.status_code == 302 and not Adjudication.objects.exists()


def test_skipping_leaves_the_item_for_others(client, unsure):
    client.force_login(unsure.reviewer)
    tie, second = unsure.items[1], unsure.items[0]
    response = client.post(reverse("quality:adjudication_skip", args=[tie.pk]), **HTMX)
    assert f'data-item="{second.pk}"' in response.content.decode()
    client.post(reverse("quality:adjudication_skip", args=[second.pk]))
    html = client.get(PAGE).content.decode()
    assert "Nothing to adjudicate" in html and "you left 2 for other reviewers" in html
    # Another reviewer still gets them.
    other = make_quality_project(lead=unsure.lead, name="Other", annotators=1)[1][0]
    Membership.objects.create(project=unsure.project, user=other, role=Membership.Role.REVIEWER)
    client.force_login(other)
    assert f'data-item="{tie.pk}"' in client.get(PAGE).content.decode()


def test_only_reviewers_and_leads_of_the_project_adjudicate(client, unsure, lead):
    client.force_login(unsure.people[0])  # an annotator
    assert client.get(PAGE).status_code == 403
    assert _settle(client, unsure.items[1], ["hate"]).status_code == 403
    _other, people, _batch = make_quality_project(lead=lead, name="Elsewhere")
    stranger = people[0]
    Membership.objects.filter(user=stranger).update(role=Membership.Role.REVIEWER)
    client.force_login(stranger)
    assert "Nothing to adjudicate" in client.get(PAGE).content.decode()
    assert _settle(client, unsure.items[1], ["hate"]).status_code == 404
    client.force_login(unsure.lead)
    assert f'data-item="{unsure.items[1].pk}"' in client.get(PAGE).content.decode()
    assert not Adjudication.objects.exists()


def test_a_reviewer_who_annotated_an_item_never_sees_it(client, unsure):
    Membership.objects.create(project=unsure.project, user=unsure.people[2], role=Membership.Role.REVIEWER)
    client.force_login(unsure.people[2])  # annotated item 0 (spam), not the tie
    html = client.get(PAGE).content.decode()
    assert f'data-item="{unsure.items[1].pk}"' in html and "1 item waiting" in html
    _settle(client, unsure.items[1], ["spam"])
    assert "Nothing to adjudicate" in client.get(PAGE).content.decode()
    response = _settle(client, unsure.items[0], ["hate"])
    assert response.status_code == 302 and not Adjudication.objects.filter(item=unsure.items[0]).exists()


def test_items_still_waiting_for_annotators_are_not_adjudicated(client, api_client, quality, make_items, settings):
    """Tied votes on four items of overlap 3 (and one complete unsure item): only the complete
    one and the stalled one (no live lease, no vote for the stall time) are in the queue."""
    import datetime as dt

    from django.utils import timezone

    from annotation.models import Assignment

    settings.QUORUM_ADJUDICATION_STALL_HOURS = 48
    now = timezone.now()
    complete, leased, fresh, stalled, lapsed = make_items(quality.batch, 5)
    a, b, c, d = quality.people[:4]
    annotations_make([(complete, a, "hate"), (complete, b, "hate"), (complete, c, "spam")])
    annotations_make([(leased, a, "hate"), (leased, b, "spam")], submitted_at=now - dt.timedelta(days=5))
    annotations_make([(fresh, a, "hate"), (fresh, b, "spam")], submitted_at=now - dt.timedelta(hours=47))
    annotations_make([(stalled, a, "hate"), (stalled, b, "spam")], submitted_at=now - dt.timedelta(hours=49))
    annotations_make([(lapsed, a, "hate"), (lapsed, b, "spam")], submitted_at=now - dt.timedelta(days=3))
    # `leased`: the third annotator holds a live lease; `lapsed`: theirs ran out yesterday.
    for item, expires in ((leased, now + dt.timedelta(minutes=20)), (lapsed, now - dt.timedelta(days=1))):
        Assignment.objects.create(project=quality.project, item=item, annotator=d, expires_at=expires)
    consensus_compute(project_id=quality.project.pk, method="majority")
    client.force_login(quality.reviewer)
    html = client.get(PAGE).content.decode()
    assert "3 items waiting" in html, html
    api_client.force_authenticate(user=quality.reviewer)
    body = api_client.get("/api/v1/quality/adjudications/queue/", {"project": quality.project.pk}).json()
    assert {row["item"]["external_id"] for row in body["results"]} == {
        complete.external_id,
        stalled.external_id,
        lapsed.external_id,
    }
    # A shorter stall time lets the fresh item in; the live lease still keeps `leased` out.
    settings.QUORUM_ADJUDICATION_STALL_HOURS = 24
    body = api_client.get("/api/v1/quality/adjudications/queue/", {"project": quality.project.pk}).json()
    assert fresh.external_id in {row["item"]["external_id"] for row in body["results"]}
    assert leased.external_id not in {row["item"]["external_id"] for row in body["results"]}
