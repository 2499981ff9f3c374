"""Pages of the projects app through real URLs: portfolio, project page and its actions,
data request pages and triage. Roles are denied across projects; hostile text stays escaped."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from annotation import selectors as annotation_selectors
from annotation import services as annotation_services
from annotation.models import Flag, ImportJob, Item
from projects.models import Blocker, DailyRollup, DataRequest, Membership, Project
from tests.accounts.factories import TeamFactory, UserFactory
from tests.accounts.test_views import assert_csp_clean
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.projects.factories import BlockerFactory, DataRequestFactory, MilestoneFactory, ProjectFactory
from workbench import rollups
from workbench.services.blockers import blocker_resolve
from workbench.services.datarequests import datarequest_accept, datarequest_reject

pytestmark = pytest.mark.django_db

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"


def _html(response) -> str:
    return response.content.decode()


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def assert_escaped(html: str, raw: str) -> None:
    assert raw not in html
    assert raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html


# --- Portfolio --------------------------------------------------------------------------------


def test_portfolio_lists_projects_with_phase_lead_progress_and_blockers(client, lead, project):
    # Done work is read from the rollups (as the charts read it); the required figure from the row.
    project.annotations_required = 300
    project.save()
    DailyRollup.objects.create(project=project, day=timezone.now().date(), annotations=75)
    BlockerFactory(project=project, kind=Blocker.Kind.BLOCKER)
    BlockerFactory(project=project, kind=Blocker.Kind.RISK)
    BlockerFactory(project=project, kind=Blocker.Kind.RISK)
    client.force_login(lead)
    response = client.get(reverse("projects:portfolio"))
    html = _html(response)
    assert response.status_code == 200
    assert f'href="{project.get_absolute_url()}"' in html and "Hate speech EN" in html
    assert "badge--phase-design" in html and "75 / 300" in html and "(25%)" in html
    assert '<span class="badge badge--danger">1</span>' in html
    assert '<span class="badge badge--warning">2</span>' in html
    assert "Requests waiting for triage" in html
    assert_csp_clean(html)


@pytest.mark.parametrize("role", ["annotator", "reviewer", "requester"])
def test_portfolio_is_only_for_leads(client, request, role):
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse("projects:portfolio"))
    assert response.status_code == 403
    assert "The portfolio is for project leads." in _html(response)


def test_portfolio_shows_only_the_leads_own_projects(client, lead, other_lead, project):
    ProjectFactory(name="Someone else's project", lead=other_lead)
    client.force_login(lead)
    html = _html(client.get(reverse("projects:portfolio")))
    assert "Hate speech EN" in html and "Someone else" not in html


def test_portfolio_filters_by_phase_search_and_deadline(client, lead, project):
    today = dt.date.today()  # noqa: DTZ011
    ProjectFactory(name="Spam PT", lead=lead, phase=Project.Phase.PILOT, deadline=today + dt.timedelta(days=100))
    client.force_login(lead)
    url = reverse("projects:portfolio")
    assert "Spam PT" not in _html(client.get(url, {"phase": "design"}))
    assert "Hate speech EN" not in _html(client.get(url, {"search": "spam"}))
    html = _html(client.get(url, {"deadline_after": (today + dt.timedelta(days=90)).isoformat()}))
    assert "Spam PT" in html and "Hate speech EN" not in html
    html = _html(client.get(url, {"lead": lead.pk, "phase": ["design", "pilot"]}))
    assert "Spam PT" in html and "Hate speech EN" in html
    assert 'value="pilot" checked>' in html and 'value="qa">' in html
    assert f'<option value="{lead.pk}" selected>' in html


def test_portfolio_reports_bad_filter_input(client, lead, project):
    client.force_login(lead)
    html = _html(client.get(reverse("projects:portfolio"), {"deadline_before": "soon"}))
    assert "deadline_before: Enter a valid date." in html


def test_portfolio_htmx_request_returns_only_the_table(client, lead, project):
    client.force_login(lead)
    response = client.get(reverse("projects:portfolio"), {"search": "hate"}, HTTP_HX_REQUEST="true")
    html = _html(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="portfolio-table"')
    assert "Hate speech EN" in html
    assert "<html" not in html and "<form" not in html and "Requests waiting for triage" not in html
    assert "HX-Request" in response["Vary"]


def test_portfolio_htmx_history_restore_gets_the_whole_page(client, lead, project):
    client.force_login(lead)
    response = client.get(reverse("projects:portfolio"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in _html(response)


def _portfolio_project(lead: User, n: int) -> None:
    project = ProjectFactory(name=f"Project {n}", lead=lead, annotations_required=10, annotations_done=n)
    BlockerFactory(project=project, kind=Blocker.Kind.RISK)
    DataRequestFactory(title=f"Request {n}")


def test_portfolio_query_count_does_not_grow_with_projects(client, lead, django_assert_num_queries, settings):
    settings.QUORUM_ROLLUP_ON_READ = True  # embedded mode, as without REDIS_URL
    _portfolio_project(lead, 0)
    client.force_login(lead)
    url = reverse("projects:portfolio")
    # session, user, the rollups' catch-up check (embedded mode: watermark, new annotations?, new
    # flags?), projects (filtered, latest alpha annotated), daily rollups of the forecast window,
    # gold totals from the rollups, leads for the filter, requests waiting for triage
    rollups.rollup_refresh()
    with django_assert_num_queries(10):
        assert client.get(url).status_code == 200
    for n in range(1, 6):
        _portfolio_project(lead, n)
    with django_assert_num_queries(10):
        html = _html(client.get(url))
    assert html.count('class="badge badge--warning">1<') == 6 and "Request 5" in html
    with django_assert_num_queries(8):
        client.get(url, HTTP_HX_REQUEST="true")


# --- Project page -----------------------------------------------------------------------------


def test_project_page_shows_header_sections_and_lead_actions(client, lead, annotator, project):
    MilestoneFactory(
        project=project, name="Pilot done", planned_date=dt.date(2026, 3, 1), actual_date=dt.date(2026, 3, 4)
    )
    BlockerFactory(project=project, title="No Portuguese annotators", owner=annotator)
    client.force_login(lead)
    response = client.get(project.get_absolute_url())
    html = _html(response)
    assert response.status_code == 200
    assert "<h1>Hate speech EN</h1>" in html and "badge--phase-design" in html
    assert "Pilot done" in html and "3 days late" in html
    assert "No Portuguese annotators" in html
    assert "Annotator" in html and "Reviewer" in html and "Lead" in html
    assert 'value="pilot"' in html and 'value="requirements"' in html and 'value="on_hold"' in html
    assert reverse("projects:blocker_open", args=[project.pk]) in html
    assert_csp_clean(html)


def test_project_page_query_count_does_not_grow_with_blockers(
    client, lead, annotator, project, django_assert_num_queries, settings
):
    settings.QUORUM_ROLLUP_ON_READ = True  # embedded mode, as without REDIS_URL
    client.force_login(lead)
    url = project.get_absolute_url()
    # session, user, project, memberships, milestones, open and resolved blockers, the lead's roles,
    # activity; for the lead: open and answered questions, import jobs, and the quality section
    # (quality.views.quality_section_context: the gate, gold accuracy from the annotator rollups,
    # the newest submission, audit accuracy, the latest report, the gold watch and the latest report
    # job); the dashboard: the rollups' catch-up check (3), daily
    # rollups, their all-time totals (the done figures), the watermark's time (how old the count
    # is), the alpha trend and, for the lead, the annotator rollups
    rollups.rollup_refresh()
    with django_assert_num_queries(29):
        client.get(url)
    for n in range(4):
        MilestoneFactory(project=project)
        BlockerFactory(project=project, owner=annotator, title=f"Open {n}")
        blocker_resolve(blocker=BlockerFactory(project=project), actor=lead, resolution="done")
        Membership.objects.create(project=project, user=UserFactory(), role=Membership.Role.ANNOTATOR)
        _flag(project, annotator, answered_by=lead if n % 2 else None)
        ImportJob.objects.create(
            project=project, created_by=lead, batch_name=f"b{n}", source_name="f.csv", format="csv"
        )
    rollups.rollup_refresh()  # the new flags are counted; the page's check then finds nothing new
    # One more: the annotators' names for the annotator table, which now has rows (one query for all).
    with django_assert_num_queries(30):
        html = _html(client.get(url))
    assert html.count("Resolve…") == 4 and html.count("done") >= 4
    assert html.count('name="answer"') == 2 and html.count('class="card import-job"') == 4


def test_project_page_for_members_has_no_phase_buttons(client, annotator, project):
    client.force_login(annotator)
    response = client.get(project.get_absolute_url())
    html = _html(response)
    assert response.status_code == 200
    assert reverse("projects:project_transition", args=[project.pk]) not in html
    assert reverse("projects:blocker_open", args=[project.pk]) in html  # annotators may raise blockers


def test_annotators_get_their_own_view_not_the_dashboard(client, lead, annotator, project):
    colleague = UserFactory(username="colleague-ann", role=User.Role.ANNOTATOR)
    Membership.objects.create(project=project, user=colleague, role=Membership.Role.ANNOTATOR)
    project.phase = Project.Phase.PRODUCTION
    project.save(update_fields=["phase"])
    ItemFactory.create_batch(2, project=project)
    assignment = annotation_services.assignment_next(project=project, annotator=annotator)
    annotation_services.annotation_submit(assignment=assignment, labels=["spam"], actor=annotator)
    client.force_login(annotator)
    response = client.get(project.get_absolute_url())
    html = _html(response)
    assert response.context["mine"]["today"] == 1 and response.context["mine"]["total"] == 1
    assert 'id="my-figures"' in html and "Your annotations today" in html
    assert reverse("annotation:task", args=[project.pk]) in html  # a way in to label
    # Nothing of the dashboard: no charts, no annotator table, no activity, no colleague's name.
    assert "dashboard-data" not in html and 'id="annotators"' not in html and "colleague-ann" not in html
    assert "Colleague" not in html


def test_project_page_for_the_requesting_team_shows_no_annotator(client, lead, annotator, requester):
    project = datarequest_accept(data_request=DataRequestFactory(requester=requester, volume_total=140), actor=lead)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    BlockerFactory(project=project, title="Vendor contract unsigned")
    client.force_login(requester)
    response = client.get(project.get_absolute_url())
    html = _html(response)
    assert response.status_code == 200
    assert "Your project" in html and 'id="requester-stats"' in html and 'id="quality-gate"' in html
    assert "140 items asked for" in html and "Items completed" in html
    assert f"{reverse('delivery:delivery_list')}?project={project.pk}" in html
    for internal in (annotator.username, annotator.display_name, "Vendor contract unsigned", "dashboard-data"):
        assert internal not in html
    # A requester membership (as the demo gives the requesting team) is the same requester's view.
    other = UserFactory(username="member-requester", role=User.Role.REQUESTER, team=requester.team)
    Membership.objects.create(project=project, user=other, role=Membership.Role.REQUESTER)
    client.force_login(other)
    assert 'id="requester-stats"' in _html(client.get(project.get_absolute_url()))


def test_request_pages_link_only_to_projects_the_lead_may_open(client, lead, other_lead, requester):
    theirs = datarequest_accept(data_request=DataRequestFactory(requester=requester), actor=other_lead)
    mine = datarequest_accept(data_request=DataRequestFactory(requester=requester), actor=lead)
    client.force_login(lead)
    html = _html(client.get(reverse("projects:request_list")))
    assert f'href="{mine.get_absolute_url()}"' in html
    assert f'href="{theirs.get_absolute_url()}"' not in html and theirs.name in html
    assert client.get(theirs.get_absolute_url()).status_code == 404  # so the link would be dead
    html = _html(client.get(theirs.request.get_absolute_url()))
    assert f'href="{theirs.get_absolute_url()}"' not in html and "led by" in html


def test_not_found_pages_are_quorums_own(client, lead):
    client.force_login(lead)
    response = client.get("/projects/999999/")
    assert response.status_code == 404
    html = _html(response)
    assert "Not found · Quorum" in html and 'class="site-header"' in html and "Go to your start page" in html


def test_project_page_of_another_leads_project_is_404(client, other_lead, project):
    client.force_login(other_lead)
    assert client.get(project.get_absolute_url()).status_code == 404


def test_project_page_404_for_missing_project(client, lead):
    client.force_login(lead)
    assert client.get(reverse("projects:project_detail", args=[999_999])).status_code == 404


def test_project_page_is_visible_to_the_requesting_team_read_only(client, lead, requester):
    data_request = DataRequestFactory(requester=requester)
    project = datarequest_accept(data_request=data_request, actor=lead)
    outsider = UserFactory(username="outsider", role=User.Role.REQUESTER, team=TeamFactory(slug="other"))
    client.force_login(requester)
    html = _html(client.get(project.get_absolute_url()))
    assert reverse("projects:project_transition", args=[project.pk]) not in html
    assert reverse("projects:blocker_open", args=[project.pk]) not in html
    client.force_login(outsider)
    assert client.get(project.get_absolute_url()).status_code == 404


def test_transition_via_the_page_moves_the_phase(client, lead, project):
    client.force_login(lead)
    response = client.post(
        reverse("projects:project_transition", args=[project.pk]), {"to_phase": "pilot"}, follow=True
    )
    project.refresh_from_db()
    assert project.phase == Project.Phase.PILOT
    assert response.redirect_chain == [(project.get_absolute_url(), 302)]
    assert _messages(response) == ["The project is now in Pilot."]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"to_phase": "delivered"}, "cannot move “Hate speech EN” from design to delivered"),
        ({"to_phase": "on_hold"}, "putting a project on hold needs a reason"),
        ({"to_phase": "sideways"}, "to_phase: 'sideways' is not a phase"),
        ({}, "to_phase: '' is not a phase"),
    ],
)
def test_illegal_transition_shows_the_error_as_a_message(client, lead, project, data, message):
    client.force_login(lead)
    response = client.post(reverse("projects:project_transition", args=[project.pk]), data, follow=True)
    assert response.status_code == 200
    assert any(message in text for text in _messages(response))
    assert 'class="message message--error"' in _html(response)
    project.refresh_from_db()
    assert project.phase == Project.Phase.DESIGN


def test_transition_is_refused_to_members_who_are_not_leads(client, annotator, other_lead, project):
    url = reverse("projects:project_transition", args=[project.pk])
    client.force_login(annotator)
    assert client.post(url, {"to_phase": "pilot"}).status_code == 403
    client.force_login(other_lead)
    assert client.post(url, {"to_phase": "pilot"}).status_code == 404
    project.refresh_from_db()
    assert project.phase == Project.Phase.DESIGN


def test_transition_accepts_only_post(client, lead, project):
    client.force_login(lead)
    assert client.get(reverse("projects:project_transition", args=[project.pk])).status_code == 405


def test_blocker_open_via_the_page(client, annotator, project):
    client.force_login(annotator)
    response = client.post(
        reverse("projects:blocker_open", args=[project.pk]),
        {"title": "Guideline unclear on slurs", "kind": "risk", "severity": "3", "owner": str(project.lead_id)},
        follow=True,
    )
    blocker = Blocker.objects.get(project=project)
    assert (blocker.kind, blocker.severity, blocker.owner, blocker.opened_by) == ("risk", 3, project.lead, annotator)
    assert _messages(response) == ["Opened risk “Guideline unclear on slurs”."]
    assert "Guideline unclear on slurs" in _html(response)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "blocker", "severity": "2"}, "title: This field is required."),
        ({"title": "x", "kind": "blocker", "severity": "9"}, "severity: Select a valid choice."),
    ],
)
def test_blocker_open_with_bad_input_says_where(client, lead, project, data, message):
    client.force_login(lead)
    response = client.post(reverse("projects:blocker_open", args=[project.pk]), data, follow=True)
    assert any(message in text for text in _messages(response))
    assert not Blocker.objects.exists()


def test_blocker_owner_must_be_a_member(client, lead, project):
    stranger = UserFactory(username="stranger")
    client.force_login(lead)
    response = client.post(
        reverse("projects:blocker_open", args=[project.pk]),
        {"title": "x", "kind": "blocker", "severity": "2", "owner": str(stranger.pk)},
        follow=True,
    )
    assert any(text.startswith("owner: Select a valid choice") for text in _messages(response))
    assert not Blocker.objects.exists()


def test_blocker_open_is_refused_to_the_requesting_team(client, lead, requester):
    project = datarequest_accept(data_request=DataRequestFactory(requester=requester), actor=lead)
    client.force_login(requester)
    response = client.post(
        reverse("projects:blocker_open", args=[project.pk]), {"title": "x", "kind": "blocker", "severity": "2"}
    )
    assert response.status_code == 403


def test_blocker_resolve_via_the_page(client, lead, project):
    blocker = BlockerFactory(project=project, title="Vendor contract missing")
    client.force_login(lead)
    response = client.post(
        reverse("projects:blocker_resolve", args=[project.pk, blocker.pk]), {"resolution": "Signed"}, follow=True
    )
    blocker.refresh_from_db()
    assert blocker.status == Blocker.Status.RESOLVED and blocker.resolution == "Signed"
    assert _messages(response) == ["Resolved “Vendor contract missing”."]
    assert "Recently resolved" in _html(response)


def test_blocker_resolve_errors_are_messages(client, lead, project):
    blocker = BlockerFactory(project=project, title="Vendor contract missing")
    url = reverse("projects:blocker_resolve", args=[project.pk, blocker.pk])
    client.force_login(lead)
    response = client.post(url, {"resolution": "  "}, follow=True)
    assert _messages(response) == ["resolution: say how it was resolved"]
    client.post(url, {"resolution": "done"}, follow=True)
    response = client.post(url, {"resolution": "again"}, follow=True)
    assert _messages(response) == ["“Vendor contract missing” is already resolved"]


def test_blocker_resolve_is_for_leads_and_the_owner(client, annotator, reviewer, project):
    blocker = BlockerFactory(project=project, title="Vendor contract missing", owner=annotator)
    url = reverse("projects:blocker_resolve", args=[project.pk, blocker.pk])
    client.force_login(reviewer)
    assert url not in _html(client.get(project.get_absolute_url()))
    assert client.post(url, {"resolution": "done"}).status_code == 403
    client.force_login(annotator)
    assert url in _html(client.get(project.get_absolute_url()))
    assert client.post(url, {"resolution": "done"}).status_code == 302
    blocker.refresh_from_db()
    assert blocker.status == Blocker.Status.RESOLVED and blocker.resolved_by == annotator


def test_blocker_resolve_of_another_project_is_404(client, lead, other_lead, project):
    foreign = BlockerFactory(project=ProjectFactory(lead=other_lead))
    client.force_login(lead)
    url = reverse("projects:blocker_resolve", args=[project.pk, foreign.pk])
    assert client.post(url, {"resolution": "x"}).status_code == 404


# --- Data requests ----------------------------------------------------------------------------


def test_request_list_for_a_requester_shows_their_teams_requests(client, requester):
    teammate = UserFactory(username="teammate", role=User.Role.REQUESTER, team=requester.team)
    DataRequestFactory(requester=teammate, title="Teammate's request")
    DataRequestFactory(title="Another team's request")
    client.force_login(requester)
    response = client.get(reverse("projects:request_list"))
    html = _html(response)
    assert response.status_code == 200
    assert "Teammate&#x27;s request" in html and "Another team" not in html


def test_request_list_for_a_lead_shows_all(client, lead):
    DataRequestFactory(title="First")
    DataRequestFactory(title="Second")
    client.force_login(lead)
    html = _html(client.get(reverse("projects:request_list")))
    assert "First" in html and "Second" in html


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
def test_request_pages_are_not_for_annotators(client, request, role):
    data_request = DataRequestFactory()
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("projects:request_list")).status_code == 403
    assert client.get(data_request.get_absolute_url()).status_code == 404


def test_request_detail_is_read_only_for_the_requester(client, requester):
    data_request = DataRequestFactory(requester=requester, description="Posts from 2025")
    client.force_login(requester)
    html = _html(client.get(data_request.get_absolute_url()))
    assert "Posts from 2025" in html and "badge--status-submitted" in html
    assert reverse("projects:request_accept", args=[data_request.pk]) not in html


def test_request_detail_of_another_team_is_404(client, requester):
    data_request = DataRequestFactory()
    client.force_login(requester)
    assert client.get(data_request.get_absolute_url()).status_code == 404


def test_request_detail_shows_rejection_reason_and_accepted_project(client, lead, requester):
    rejected = DataRequestFactory(requester=requester)
    datarequest_reject(data_request=rejected, actor=lead, reason="Out of policy scope")
    accepted = DataRequestFactory(requester=requester)
    project = datarequest_accept(data_request=accepted, actor=lead)
    client.force_login(requester)
    html = _html(client.get(rejected.get_absolute_url()))
    assert "Why it was rejected" in html and "Out of policy scope" in html
    html = _html(client.get(accepted.get_absolute_url()))
    assert f'href="{project.get_absolute_url()}"' in html and "badge--phase-requirements" in html
    assert "No items yet" in html


def test_request_discussion_for_the_team_and_the_lead_escaped(client, lead, requester, team):
    data_request = DataRequestFactory(requester=requester, team=team)
    url = reverse("projects:request_comment", args=[data_request.pk])
    client.force_login(requester)
    html = _html(client.get(data_request.get_absolute_url()))
    assert 'id="comments"' in html and "No comments yet" in html and f'action="{url}"' in html
    response = client.post(url, {"body": "Do <b>memes</b> count?\nSecond line"}, follow=True)
    assert response.redirect_chain == [(f"{data_request.get_absolute_url()}#comments", 302)]
    assert _messages(response) == ["Comment added."]
    html = _html(response)
    assert "Do &lt;b&gt;memes&lt;/b&gt; count?<br>Second line" in html and "<b>memes</b>" not in html
    assert_csp_clean(html)
    client.force_login(lead)
    client.post(url, {"body": "Yes, with text overlays."})
    html = _html(client.get(data_request.get_absolute_url()))
    assert html.index("memes") < html.index("text overlays")  # oldest first
    assert data_request.comments.count() == 2


def test_request_comment_refused_cases(client, lead, requester, team):
    data_request = DataRequestFactory(requester=requester, team=team)
    url = reverse("projects:request_comment", args=[data_request.pk])
    client.force_login(requester)
    response = client.post(url, {"body": "   "}, follow=True)
    assert _messages(response) == ["body: write something; an empty comment is not saved"]
    assert client.get(url).status_code == 405
    outsider = UserFactory(role=User.Role.REQUESTER, team=TeamFactory(name="Other", slug="other"))
    client.force_login(outsider)
    assert client.post(url, {"body": "Peeking"}).status_code == 404
    assert not data_request.comments.exists()


def test_accept_via_the_portfolio_opens_the_new_project(client, lead):
    data_request = DataRequestFactory(title="Self-harm ES")
    client.force_login(lead)
    response = client.post(
        reverse("projects:request_accept", args=[data_request.pk]),
        {"next": reverse("projects:portfolio")},
        follow=True,
    )
    project = Project.objects.get(request=data_request)
    assert response.redirect_chain == [(project.get_absolute_url(), 302)]
    assert _messages(response) == ["Accepted “Self-harm ES”. Its project starts in requirements."]
    data_request.refresh_from_db()
    assert data_request.status == DataRequest.Status.ACCEPTED


def test_accept_twice_shows_the_error_and_goes_back(client, lead):
    data_request = DataRequestFactory(title="Self-harm ES")
    client.force_login(lead)
    url = reverse("projects:request_accept", args=[data_request.pk])
    client.post(url)
    response = client.post(url, {"next": reverse("projects:portfolio")}, follow=True)
    assert response.redirect_chain == [(reverse("projects:portfolio"), 302)]
    assert any("was already accepted" in text for text in _messages(response))
    assert Project.objects.filter(request=data_request).count() == 1


def test_reject_via_the_page_needs_a_reason(client, lead):
    data_request = DataRequestFactory()
    client.force_login(lead)
    url = reverse("projects:request_reject", args=[data_request.pk])
    response = client.post(url, {"reason": ""}, follow=True)
    assert response.redirect_chain == [(data_request.get_absolute_url(), 302)]
    assert _messages(response) == ["reason: say why the request is rejected; the requester reads it"]
    data_request.refresh_from_db()
    assert data_request.status == DataRequest.Status.SUBMITTED
    response = client.post(url, {"reason": "Duplicate of #12", "next": reverse("projects:portfolio")}, follow=True)
    assert response.redirect_chain == [(reverse("projects:portfolio"), 302)]
    data_request.refresh_from_db()
    assert (data_request.status, data_request.rejection_reason) == ("rejected", "Duplicate of #12")


def test_triage_ignores_a_next_url_off_site(client, lead):
    data_request = DataRequestFactory()
    client.force_login(lead)
    response = client.post(
        reverse("projects:request_reject", args=[data_request.pk]),
        {"reason": "No", "next": "https://evil.example/"},
    )
    assert response["Location"] == data_request.get_absolute_url()


@pytest.mark.parametrize("action", ["request_accept", "request_reject"])
def test_triage_is_refused_to_requesters(client, requester, action):
    data_request = DataRequestFactory(requester=requester)
    client.force_login(requester)
    assert client.post(reverse(f"projects:{action}", args=[data_request.pk]), {"reason": "x"}).status_code == 403
    data_request.refresh_from_db()
    assert data_request.status == DataRequest.Status.SUBMITTED


def test_lead_can_triage_from_the_request_page(client, lead):
    data_request = DataRequestFactory()
    client.force_login(lead)
    html = _html(client.get(data_request.get_absolute_url()))
    assert reverse("projects:request_accept", args=[data_request.pk]) in html
    assert f'name="next" value="{data_request.get_absolute_url()}"' in html


# --- Hostile content --------------------------------------------------------------------------


def test_hostile_project_name_and_request_title_are_escaped(client, lead, requester):
    data_request = DataRequestFactory(requester=requester, title=HOSTILE_TITLE, description=HOSTILE_NAME)
    project = ProjectFactory(name=HOSTILE_NAME, lead=lead, description=HOSTILE_TITLE)
    Membership.objects.create(project=project, user=requester, role=Membership.Role.REQUESTER)
    BlockerFactory(project=project, title=HOSTILE_TITLE, description=HOSTILE_NAME)
    client.force_login(lead)
    pages = [
        reverse("projects:portfolio"),
        project.get_absolute_url(),
        reverse("projects:request_list"),
        data_request.get_absolute_url(),
    ]
    for url in pages:
        html = _html(client.get(url))
        assert "<script>alert" not in html and "<img src=x" not in html, url
    assert_escaped(_html(client.get(reverse("projects:portfolio"))), HOSTILE_NAME)
    assert_escaped(_html(client.get(reverse("projects:portfolio"))), HOSTILE_TITLE)
    assert_escaped(_html(client.get(project.get_absolute_url())), HOSTILE_TITLE)
    # The success message repeats the title: it is escaped too.
    response = client.post(reverse("projects:request_accept", args=[data_request.pk]), follow=True)
    assert_escaped(_html(response), HOSTILE_TITLE)
    assert "<img src=x" not in _html(response)


@pytest.mark.parametrize(
    "url",
    [
        reverse("projects:portfolio"),
        reverse("projects:project_detail", args=[1]),
        reverse("projects:request_list"),
        reverse("projects:request_detail", args=[1]),
        reverse("annotation:queue"),
    ],
)
def test_pages_send_anonymous_visitors_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == f"{reverse('login')}?next={url}"


# --- Annotators' questions (flags) on the lead's project page -----------------------------------


def _flag(project, annotator, *, question="Is a slur in a quote hate?", answered_by=None, external_id=None):
    """A question raised through the services on a fresh item (answered when `answered_by` is given)."""
    item = ItemFactory(batch=BatchFactory(project=project), **({"external_id": external_id} if external_id else {}))
    assignment = annotation_services.assignment_create(item=item, annotator=annotator)
    flag = annotation_services.flag_raise(assignment=assignment, actor=annotator, question=question)
    if answered_by is not None:
        flag = annotation_services.flag_answer(
            flag=flag, actor=answered_by, answer="Yes: quoting a slur to attack is hate."
        )
    return flag


def test_project_page_lists_open_questions_first_with_answer_forms(client, lead, annotator, project):
    answered = _flag(project, annotator, question="Old question", answered_by=lead, external_id="post-1")
    open_flag = _flag(project, annotator, question=HOSTILE_TITLE, external_id="post-2")
    client.force_login(lead)
    html = _html(client.get(project.get_absolute_url()))
    assert "Questions from annotators" in html
    assert_escaped(html, HOSTILE_TITLE)
    assert html.index("post-2") < html.index("Recently answered") < html.index("post-1")
    assert reverse("projects:flag_answer", args=[project.pk, open_flag.pk]) in html
    assert reverse("projects:flag_answer", args=[project.pk, answered.pk]) not in html
    assert "Yes: quoting a slur to attack is hate." in html
    assert_csp_clean(html)


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
def test_project_page_shows_questions_and_imports_only_to_leads(client, request, annotator, project, role):
    _flag(project, annotator, question="Only for the lead")
    client.force_login(request.getfixturevalue(role))
    html = _html(client.get(project.get_absolute_url()))
    assert "Only for the lead" not in html and "Questions from annotators" not in html
    assert reverse("projects:import_create", args=[project.pk]) not in html


def test_flag_answer_via_the_page(client, lead, annotator, project):
    flag = _flag(project, annotator, external_id="post-7")
    client.force_login(lead)
    response = client.post(
        reverse("projects:flag_answer", args=[project.pk, flag.pk]), {"answer": "Label it hate."}, follow=True
    )
    flag.refresh_from_db()
    assert (flag.status, flag.answer, flag.answered_by) == (Flag.Status.ANSWERED, "Label it hate.", lead)
    assert response.redirect_chain == [(f"{project.get_absolute_url()}#flags", 302)]
    assert _messages(response) == ["Answered annotator's question on item post-7."]


def test_flag_answer_that_is_blank_is_a_message(client, lead, annotator, project):
    flag = _flag(project, annotator)
    client.force_login(lead)
    response = client.post(reverse("projects:flag_answer", args=[project.pk, flag.pk]), {"answer": "  "}, follow=True)
    assert _messages(response) == ["answer: write the answer"]
    flag.refresh_from_db()
    assert flag.status == Flag.Status.OPEN


def test_flag_answer_is_only_for_the_projects_lead(client, lead, other_lead, annotator, project):
    flag = _flag(project, annotator)
    url = reverse("projects:flag_answer", args=[project.pk, flag.pk])
    client.force_login(annotator)
    assert client.post(url, {"answer": "me"}).status_code == 403
    client.force_login(other_lead)
    assert client.post(url, {"answer": "me"}).status_code == 404
    # A flag of another project through this project's URL: 404, nothing leaks.
    foreign_project = ProjectFactory(lead=lead)
    Membership.objects.create(project=foreign_project, user=annotator, role=Membership.Role.ANNOTATOR)
    foreign = _flag(foreign_project, annotator)
    client.force_login(lead)
    assert (
        client.post(reverse("projects:flag_answer", args=[project.pk, foreign.pk]), {"answer": "x"}).status_code == 404
    )
    assert Flag.objects.filter(status=Flag.Status.ANSWERED).count() == 0


# --- Item imports on the lead's project page ----------------------------------------------------

IMPORT_CSV = (
    "external_id,text,image_url,gold_label\n"
    "a1,first post,,\n"
    "a2,,javascript:alert(1),\n"
    "a3,a caption,https://cdn.example.org/3.jpg,\n"
    "a4,known answer,,nonsense\n"
)


def _upload(client, project, *, name="items.csv", content=IMPORT_CSV, mode="skip_bad_rows", batch="Week 1"):
    data = {"batch_name": batch, "mode": mode}
    if content is not None:
        data["file"] = SimpleUploadedFile(name, content.encode(), content_type="text/csv")
    return client.post(reverse("projects:import_create", args=[project.pk]), data, follow=True)


def test_project_page_has_the_import_form_for_the_lead(client, lead, project):
    client.force_login(lead)
    html = _html(client.get(project.get_absolute_url()))
    assert reverse("projects:import_create", args=[project.pk]) in html
    assert 'enctype="multipart/form-data"' in html and 'name="batch_name"' in html
    assert 'value="all_or_nothing"' in html and 'value="skip_bad_rows"' in html


def test_import_upload_runs_and_shows_counts_errors_and_the_report_link(
    client, lead, project, django_capture_on_commit_callbacks
):
    client.force_login(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, project)
    job = ImportJob.objects.get(project=project)
    assert response.redirect_chain == [(f"{project.get_absolute_url()}#imports", 302)]
    assert _messages(response) == ["Import of items.csv into batch “Week 1” started."]
    assert job.status == ImportJob.Status.SUCCEEDED and job.items_created == 2 and job.rows_invalid == 2
    assert sorted(Item.objects.filter(project=project).values_list("external_id", flat=True)) == ["a1", "a3"]
    response = client.get(project.get_absolute_url())
    html = _html(response)
    block = html[html.index(f'id="import-{job.pk}"') :]
    assert "Succeeded" in block and "hx-trigger" not in block[:400]
    assert re.search(r"<dt>Rows read</dt>\s*<dd>4</dd>", block) and re.search(
        r"<dt>Items created</dt>\s*<dd>2</dd>", block
    )
    assert "image_url" in block and "gold_label" in block and "javascript:alert(1)" in block  # as text, escaped
    assert 'href="javascript' not in html and 'src="javascript' not in html
    assert reverse("projects:import_error_report", args=[project.pk, job.pk]) in block
    assert_csp_clean(html)


def test_import_upload_all_or_nothing_fails_without_writing(client, lead, project, django_capture_on_commit_callbacks):
    client.force_login(lead)
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, project, mode="all_or_nothing")
    job = ImportJob.objects.get(project=project)
    assert job.status == ImportJob.Status.FAILED and job.items_created == 0
    assert not Item.objects.filter(project=project).exists()
    assert "nothing was imported" in _html(client.get(project.get_absolute_url()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content": None}, "file: This field is required."),
        ({"batch": ""}, "batch_name: This field is required."),
        ({"mode": "sometimes"}, "mode: Select a valid choice."),
        ({"name": "items.txt"}, "file: cannot tell the format of 'items.txt'"),
    ],
)
def test_import_upload_with_bad_input_says_where(client, lead, project, kwargs, message):
    client.force_login(lead)
    response = _upload(client, project, **kwargs)
    assert any(text.startswith(message) for text in _messages(response)), _messages(response)
    assert not ImportJob.objects.exists()


def test_import_upload_is_only_for_the_projects_lead(client, annotator, other_lead, project):
    client.force_login(annotator)
    assert _upload(client, project).status_code == 403
    client.force_login(other_lead)
    assert _upload(client, project).status_code == 404
    assert not ImportJob.objects.exists()


def _job(project, lead, **fields):
    values = {"batch_name": "Week 1", "source_name": "items.csv", "format": "csv", **fields}
    return ImportJob.objects.create(project=project, created_by=lead, **values)


def test_import_status_polls_while_running_with_progress_from_the_cache(client, lead, project):
    job = _job(project, lead, status=ImportJob.Status.RUNNING)
    cache.set(annotation_selectors.import_progress_key(job.pk), 1500)
    url = reverse("projects:import_status", args=[project.pk, job.pk])
    client.force_login(lead)
    response = client.get(url, HTTP_HX_REQUEST="true")
    html = _html(response)
    assert re.match(rf'<div class="card import-job"\s+id="import-{job.pk}"', html.lstrip())
    assert f'hx-get="{url}" hx-trigger="every 1s" hx-swap="outerHTML"' in html
    assert "<dd>1500</dd>" in html and "<progress" in html and "Items created" not in html
    assert "<html" not in html and "HX-Request" in response["Vary"]
    cache.delete(annotation_selectors.import_progress_key(job.pk))


def test_import_status_stops_polling_when_finished(client, lead, project):
    job = _job(project, lead, status=ImportJob.Status.SUCCEEDED, rows_read=10, items_created=10)
    job.finished_at = job.created_at
    job.save()
    client.force_login(lead)
    html = _html(client.get(reverse("projects:import_status", args=[project.pk, job.pk]), HTTP_HX_REQUEST="true"))
    assert "hx-trigger" not in html and "Succeeded" in html and "<dd>10</dd>" in html


def test_import_status_without_htmx_goes_to_the_project_page(client, lead, project):
    job = _job(project, lead)
    client.force_login(lead)
    response = client.get(reverse("projects:import_status", args=[project.pk, job.pk]))
    assert response.status_code == 302 and response["Location"] == f"{project.get_absolute_url()}#import-{job.pk}"


def test_import_status_and_report_are_only_for_the_projects_lead(client, lead, annotator, other_lead, project):
    job = _job(project, lead)
    urls = [
        reverse("projects:import_status", args=[project.pk, job.pk]),
        reverse("projects:import_error_report", args=[project.pk, job.pk]),
    ]
    client.force_login(annotator)
    assert [client.get(url, HTTP_HX_REQUEST="true").status_code for url in urls] == [403, 403]
    client.force_login(other_lead)
    assert [client.get(url, HTTP_HX_REQUEST="true").status_code for url in urls] == [404, 404]
    other_job = _job(ProjectFactory(lead=other_lead), other_lead)
    client.force_login(lead)
    assert client.get(reverse("projects:import_status", args=[project.pk, other_job.pk])).status_code == 404


def test_import_error_report_downloads_as_csv(client, lead, project, django_capture_on_commit_callbacks):
    client.force_login(lead)
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, project)
    job = ImportJob.objects.get(project=project)
    response = client.get(reverse("projects:import_error_report", args=[project.pk, job.pk]))
    body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="import-{job.pk}-errors.csv"' in response["Content-Disposition"]
    assert body.splitlines()[0] == "row,column,message" and len(body.splitlines()) == 3
    assert "row 3, column image_url" in body and "row 5, column gold_label" in body
    no_report = _job(project, lead, status=ImportJob.Status.SUCCEEDED)
    assert client.get(reverse("projects:import_error_report", args=[project.pk, no_report.pk])).status_code == 404
