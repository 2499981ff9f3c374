"""Annotators under the gold bar: flagged on the lead's page, paused from work when the project
says so, reinstated by a lead (and then judged only on the gold they answer afterwards)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from annotation.services import assignment_next
from core.errors import IllegalTransition, NotAllowed
from projects import services as project_services
from projects.models import Activity, Membership
from quality.selectors.accuracy import gold_accuracy, gold_accuracy_cached
from quality.selectors.reports import (
    agreement_report_is_stale,
    project_annotation_state,
    project_annotation_state_for_page,
)
from tests.quality.factories import annotations_make, items_make
from workbench import rollups
from workbench import tasks as project_tasks
from workbench.services.progress import gold_pause_sweep

NEXT = "/api/v1/assignments/next/"
REINSTATE = "/api/v1/quality/reinstate/"


def _pausing(project, bar=0.8, min_items=10):
    project.min_gold_accuracy = bar
    project.gold_min_items = min_items
    project.pause_below_gold_bar = True
    project.save()


def _gold(quality, person, right: int, wrong: int, *, at: dt.datetime | None = None):
    items = items_make(quality.batch, 0, gold=[["hate"]] * (right + wrong))
    given = ["hate"] * right + ["spam"] * wrong
    annotations_make([(item, person, label) for item, label in zip(items, given, strict=True)], submitted_at=at)


def _membership(project, person):
    return Membership.objects.get(project=project, user=person, role=Membership.Role.ANNOTATOR)


def _token_client(api_client, user):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return api_client


def test_the_sweep_pauses_only_when_the_project_says_so(quality):
    person = quality.people[0]
    _gold(quality, person, right=4, wrong=8)
    quality.project.min_gold_accuracy = 0.8
    quality.project.save()
    assert gold_pause_sweep(project_id=quality.project.pk) == []  # the switch is off
    quality.project.pause_below_gold_bar = True
    quality.project.min_gold_accuracy = None
    quality.project.save()
    assert gold_pause_sweep(project_id=quality.project.pk) == []  # no bar to fall under
    assert _membership(quality.project, person).paused_at is None


def test_the_sweep_pauses_the_annotator_under_the_bar_once_and_says_why(quality):
    _pausing(quality.project)
    low, good, few = quality.people[:3]
    _gold(quality, low, right=4, wrong=8)  # 33% on 12: paused
    _gold(quality, good, right=11, wrong=1)  # 92%: fine
    _gold(quality, few, right=1, wrong=4)  # 20% but only 5 answers: not yet judged
    assert gold_pause_sweep(project_id=quality.project.pk) == [low.username]
    membership = _membership(quality.project, low)
    assert membership.paused_at is not None
    assert membership.paused_reason == "gold accuracy 33% (4 of 12) is under the project's bar of 80%"
    assert _membership(quality.project, good).paused_at is None and _membership(quality.project, few).paused_at is None
    assert Activity.objects.filter(project=quality.project, verb="annotator.paused").count() == 1
    # Idempotent: already paused is left as it is.
    assert gold_pause_sweep(project_id=quality.project.pk) == []
    assert Activity.objects.filter(project=quality.project, verb="annotator.paused").count() == 1


def test_a_paused_annotator_gets_no_work_and_is_told_why(quality, api_client):
    _pausing(quality.project)
    person = quality.people[0]
    items_make(quality.batch, 3)
    _gold(quality, person, right=2, wrong=10)
    gold_pause_sweep(project_id=quality.project.pk)
    with pytest.raises(NotAllowed, match="paused on 'Quality': gold accuracy 17%"):
        assignment_next(project=quality.project, annotator=person)
    response = _token_client(api_client, person).post(NEXT, {"project": quality.project.pk}, format="json")
    assert response.status_code == 403
    assert "a lead of the project can reinstate them" in response.json()["detail"]
    # The others keep working.
    assert assignment_next(project=quality.project, annotator=quality.people[1]) is not None


def test_reinstated_annotators_are_judged_on_their_gold_since(quality):
    _pausing(quality.project)
    person = quality.people[0]
    long_ago = timezone.now() - dt.timedelta(days=2)
    _gold(quality, person, right=2, wrong=10, at=long_ago)
    gold_pause_sweep(project_id=quality.project.pk)
    project_services.annotator_reinstate(
        project=quality.project, annotator=person, actor=quality.lead, note="retrained on the guideline"
    )
    membership = _membership(quality.project, person)
    assert membership.paused_at is None and membership.reinstated_by == quality.lead
    assert "retrained on the guideline" in Activity.objects.get(verb="annotator.reinstated").summary
    items_make(quality.batch, 2)
    assert assignment_next(project=quality.project, annotator=person) is not None
    # The old misses no longer count: still paused-free after a sweep.
    assert gold_pause_sweep(project_id=quality.project.pk) == []
    # Good work since: still fine. Poor work since (10 new answers, 3 right): paused again.
    _gold(quality, person, right=3, wrong=7)
    assert gold_pause_sweep(project_id=quality.project.pk) == [person.username]
    assert _membership(quality.project, person).paused_reason.startswith("gold accuracy 30% (3 of 10)")


def test_only_a_lead_reinstates_and_only_a_paused_annotator(quality):
    _pausing(quality.project)
    person, other = quality.people[:2]
    with pytest.raises(IllegalTransition, match="is not paused"):
        project_services.annotator_reinstate(project=quality.project, annotator=person, actor=quality.lead)
    _gold(quality, person, right=0, wrong=12)
    gold_pause_sweep(project_id=quality.project.pk)
    with pytest.raises(NotAllowed, match="may not reinstate"):
        project_services.annotator_reinstate(project=quality.project, annotator=person, actor=other)
    assert _membership(quality.project, person).paused_at is not None


def test_reinstate_over_the_api(quality, api_client):
    _pausing(quality.project)
    person = quality.people[0]
    _gold(quality, person, right=0, wrong=12)
    gold_pause_sweep(project_id=quality.project.pk)
    url = f"{REINSTATE}?project={quality.project.pk}"
    response = _token_client(api_client, quality.people[1]).post(url, {"annotator": person.pk}, format="json")
    assert response.status_code == 403
    client = _token_client(api_client, quality.lead)
    response = client.post(url, {"annotator": 999999}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "annotator"
    response = client.post(url, {"annotator": person.pk, "note": "spoke with them"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["annotator"] == person.pk and body["paused_at"] is None and body["reinstated_by"] == quality.lead.pk
    response = client.post(url, {"annotator": person.pk}, format="json")
    assert response.status_code == 400 and "is not paused" in response.json()["detail"]


def test_the_lead_sees_flagged_and_paused_annotators_and_reinstates_from_the_page(quality, client, settings):
    settings.QUORUM_ROLLUP_SETTLE_SECONDS = 0  # the page's gold figures come from the rollups: count all now
    _pausing(quality.project)
    paused, flagged = quality.people[:2]
    _gold(quality, paused, right=0, wrong=12)
    gold_pause_sweep(project_id=quality.project.pk)
    quality.project.pause_below_gold_bar = False
    quality.project.save()
    _gold(quality, flagged, right=5, wrong=7)  # flagged, not paused (the switch is off now)
    rollups.rollup_refresh()  # beat's job with a broker; the page reads the annotator rollups
    client.force_login(quality.lead)
    page = client.get(quality.project.get_absolute_url()).content.decode()
    assert 'id="gold-watch"' in page and paused.username in page and flagged.username in page
    assert "Paused" in page and "Flagged" in page
    url = reverse("quality:annotator_reinstate", args=[quality.project.pk, paused.pk])
    assert url in page
    client.force_login(flagged)
    assert client.post(url).status_code in (403, 404)
    client.force_login(quality.lead)
    response = client.post(url, {"note": "ok"})
    assert response.status_code == 302 and response["Location"].endswith("#quality")
    assert _membership(quality.project, paused).paused_at is None


def test_the_beat_sweep_covers_projects_that_pause(quality):
    _pausing(quality.project)
    _gold(quality, quality.people[0], right=0, wrong=12)
    assert project_tasks.gold_pause_sweep_all.delay().get() == {"projects": 1, "paused": 1}
    assert project_tasks.gold_pause_sweep.delay(quality.project.pk).get() == {
        "project_id": quality.project.pk,
        "paused": [],
    }


def test_gold_accuracy_counts_answers_after_a_time_per_annotator(quality):
    person = quality.people[0]
    before = timezone.now() - dt.timedelta(hours=1)
    _gold(quality, person, right=0, wrong=5, at=before - dt.timedelta(hours=1))
    _gold(quality, person, right=3, wrong=0)
    row = gold_accuracy(project_id=quality.project.pk, answered_after={person.pk: before}).annotators[0]
    assert (row["n"], row["correct"]) == (3, 3)
    row = gold_accuracy(project_id=quality.project.pk).annotators[0]
    assert (row["n"], row["correct"]) == (8, 3)


def test_cached_gold_figures_follow_new_answers_and_the_bar(quality, django_assert_max_num_queries):
    person = quality.people[0]
    _gold(quality, person, right=3, wrong=1)
    first = gold_accuracy_cached(project_id=quality.project.pk)
    assert first.overall["n"] == 4
    with django_assert_max_num_queries(2):  # the project and the freshness check: nothing recomputed
        assert gold_accuracy_cached(project_id=quality.project.pk) == first
    _gold(quality, person, right=0, wrong=2)
    assert gold_accuracy_cached(project_id=quality.project.pk).overall["n"] == 6
    quality.project.min_gold_accuracy = 0.9
    quality.project.save()
    assert gold_accuracy_cached(project_id=quality.project.pk).bar == 0.9


def test_the_page_state_takes_the_reports_count_until_newer_work_arrives(quality, make_items):
    annotations_make([(make_items(quality.batch, 1)[0], quality.people[0], "hate")])
    state = project_annotation_state(project_id=quality.project.pk)
    report = SimpleNamespace(source_annotations=state["n"], source_last_submitted_at=state["last"])
    assert project_annotation_state_for_page(project_id=quality.project.pk, report=report) == state
    annotations_make([(make_items(quality.batch, 1)[0], quality.people[1], "spam")])
    newer = project_annotation_state_for_page(project_id=quality.project.pk, report=report)
    assert newer["n"] == -1 and agreement_report_is_stale(report, state=newer)
    assert project_annotation_state_for_page(project_id=quality.project.pk, report=None)["n"] == -1


def test_the_page_reads_gold_from_the_rollups_as_the_selector_computes_it(quality, settings):
    from workbench import rollups
    from workbench.selectors import project_gold_figures

    settings.QUORUM_ROLLUP_SETTLE_SECONDS = 0
    _pausing(quality.project)
    first, second, third = quality.people[:3]
    long_ago = timezone.now() - dt.timedelta(days=2)
    _gold(quality, first, right=11, wrong=1)
    _gold(quality, second, right=3, wrong=9, at=long_ago)
    _gold(quality, third, right=2, wrong=3)
    gold_pause_sweep(project_id=quality.project.pk)
    project_services.annotator_reinstate(project=quality.project, annotator=second, actor=quality.lead)
    _gold(quality, second, right=4, wrong=1)  # since the reinstatement: 4 of 5
    rollups.rollup_refresh()
    page = project_gold_figures(project=quality.project)
    exact = gold_accuracy(project_id=quality.project.pk)
    assert page.overall == exact.overall and page.since_reinstatement
    rows = {row["annotator_id"]: row for row in page.annotators}
    exact_rows = {row["annotator_id"]: {**row} for row in exact.annotators}
    for person in (first, third):
        assert rows[person.pk] == pytest.approx(exact_rows[person.pk])
    assert (rows[second.pk]["n"], rows[second.pk]["correct"], rows[second.pk]["flagged"]) == (5, 4, False)
    assert rows[third.pk]["below_bar"] and not rows[third.pk]["flagged"]  # 2 of 5: too few to flag


def test_a_busy_project_recomputes_page_figures_at_most_so_often(quality, make_items, settings):
    settings.QUORUM_PAGE_FIGURES_SECONDS = 60
    _gold(quality, quality.people[0], right=1, wrong=0)
    assert gold_accuracy_cached(project_id=quality.project.pk).overall["n"] == 1
    _gold(quality, quality.people[0], right=1, wrong=0)  # new work within the minute: figures kept
    assert gold_accuracy_cached(project_id=quality.project.pk).overall["n"] == 1
    settings.QUORUM_PAGE_FIGURES_SECONDS = 0  # the minute has passed
    assert gold_accuracy_cached(project_id=quality.project.pk).overall["n"] == 2
