"""The annotator and reviewer queue, through real URLs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from projects.models import Membership, Project
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_queue_lists_projects_in_pilot_or_production_with_counts(client, annotator):
    working = ProjectFactory(name="Spam PT", phase=Project.Phase.PRODUCTION, items_total=120, items_completed=30)
    resting = ProjectFactory(name="Still in design", phase=Project.Phase.DESIGN)
    for project in (working, resting):
        Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    client.force_login(annotator)
    response = client.get(reverse("annotation:queue"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "To label" in html and "Spam PT" in html and "Still in design" not in html
    assert ">120<" in html and ">30<" in html
    assert working.get_absolute_url() in html


def test_queue_shows_a_friendly_empty_state(client, annotator, project):
    client.force_login(annotator)  # `project` is in design: nothing to label yet
    html = client.get(reverse("annotation:queue")).content.decode()
    assert "Nothing to do yet" in html and project.name not in html


def test_queue_lists_reviewers_projects_to_review(client, reviewer):
    in_qa = ProjectFactory(name="Violence QA", phase=Project.Phase.QA)
    Membership.objects.create(project=in_qa, user=reviewer, role=Membership.Role.REVIEWER)
    client.force_login(reviewer)
    html = client.get(reverse("annotation:queue")).content.decode()
    assert "To review" in html and "Violence QA" in html and "To label" not in html


def test_queue_is_not_for_requesters(client, requester):
    client.force_login(requester)
    assert client.get(reverse("annotation:queue")).status_code == 403


def test_queue_escapes_project_names(client, annotator):
    hostile = ProjectFactory(name="<script>alert(1)</script>", phase=Project.Phase.PILOT)
    Membership.objects.create(project=hostile, user=annotator, role=Membership.Role.ANNOTATOR)
    client.force_login(annotator)
    html = client.get(reverse("annotation:queue")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
