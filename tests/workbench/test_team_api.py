"""The team, invitation, staff and settings-version API through its real URLs: what each role
may see (404) and do (403), errors naming the field, leases released on removal, the last lead
kept, the one-time set-password link, and the 409 on a stale settings PATCH."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from accounts.models import Team, User
from annotation import services as annotation_services
from annotation.models import Assignment, Item
from projects.models import Activity, Membership, Project
from tests.accounts.factories import PASSWORD, UserFactory
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db

MEMBERS = "/api/v1/members/"
USERS = "/api/v1/staff/users/"
TEAMS = "/api/v1/staff/teams/"


def _as(api_client, user):
    api_client.force_authenticate(user=user)
    return api_client


def _membership(project, user, role):
    return Membership.objects.get(project=project, user=user, role=role)


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", role=User.Role.ANNOTATOR, is_staff=True)


# --- Members ------------------------------------------------------------------------------------


def test_members_are_listed_for_the_projects_lead_only(api_client, project, lead, annotator, other_lead):
    response = _as(api_client, lead).get(MEMBERS, {"project": project.pk})
    assert response.status_code == 200
    rows = {(row["user"]["username"], row["role"]) for row in response.json()["results"]}
    assert rows == {("lead", "lead"), ("annotator", "annotator"), ("reviewer", "reviewer")}
    membership = _membership(project, annotator, "annotator")
    assert _as(api_client, annotator).get(MEMBERS).json()["results"] == []
    assert _as(api_client, annotator).get(f"{MEMBERS}{membership.pk}/").status_code == 404
    assert _as(api_client, other_lead).get(f"{MEMBERS}{membership.pk}/").status_code == 404


def test_member_add_gives_a_role_and_refuses_others(api_client, project, lead, annotator, other_lead):
    newcomer = UserFactory(username="newcomer")
    response = _as(api_client, lead).post(MEMBERS, {"project": project.pk, "user": newcomer.pk, "role": "reviewer"})
    assert response.status_code == 201, response.json()
    assert response.json()["role"] == "reviewer" and response.json()["user"]["username"] == "newcomer"
    assert Membership.objects.filter(project=project, user=newcomer, role="reviewer", is_active=True).exists()
    # An annotator sees the project but may not run its team: 403.
    response = _as(api_client, annotator).post(MEMBERS, {"project": project.pk, "user": newcomer.pk, "role": "lead"})
    assert response.status_code == 403 and "not a lead" in response.json()["detail"]
    # Another project's lead cannot even name it.
    response = _as(api_client, other_lead).post(MEMBERS, {"project": project.pk, "user": newcomer.pk, "role": "lead"})
    assert response.status_code == 400 and response.json()["field"] == "project"
    response = _as(api_client, lead).post(MEMBERS, {"project": project.pk, "user": newcomer.pk, "role": "requester"})
    assert response.status_code == 400 and response.json()["field"] == "role"
    gone = UserFactory(username="gone", is_active=False)
    response = _as(api_client, lead).post(MEMBERS, {"project": project.pk, "user": gone.pk, "role": "annotator"})
    assert response.status_code == 400 and response.json()["field"] == "user"


def test_member_profile_update_stores_qualifications_and_names_bad_fields(api_client, project, lead, annotator):
    membership = _membership(project, annotator, "annotator")
    url = f"{MEMBERS}{membership.pk}/"
    body = {"languages": ["en", "pt-BR"], "modalities": ["text", "image"], "policy_areas": ["hate", "self_harm"],
            "graphic_daily_cap": 0}  # fmt: skip
    response = _as(api_client, lead).patch(url, body)
    assert response.status_code == 200, response.json()
    annotator.refresh_from_db()
    assert annotator.languages == ["en", "pt-BR"] and annotator.modalities == ["text", "image"]
    assert annotator.policy_areas == ["hate", "self_harm"] and annotator.graphic_daily_cap == 0
    assert response.json()["user"]["graphic_daily_cap"] == 0
    assert Activity.objects.filter(project=project, verb="member.profile_updated").exists()
    response = api_client.patch(url, {"languages": ["en", "english!"]})
    assert response.status_code == 400 and response.json()["field"] == "languages"
    assert "languages[1]" in response.json()["detail"]
    response = api_client.patch(url, {"modalities": ["smell"]})
    assert response.status_code == 400 and response.json()["field"].startswith("modalities")
    response = api_client.patch(url, {"policy_areas": ["Hate Speech"]})
    assert response.status_code == 400 and response.json()["field"] == "policy_areas"
    response = api_client.patch(url, {"graphic_daily_cap": None})
    assert response.status_code == 200 and response.json()["user"]["graphic_daily_cap"] is None
    assert _as(api_client, annotator).patch(url, {"languages": ["de"]}).status_code == 404


def test_member_remove_releases_open_leases_and_keeps_annotations(api_client, project, lead, annotator):
    project.phase = Project.Phase.PRODUCTION
    project.gold_rate = 0
    project.save()
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(2, batch=batch, required_annotations=1)
    first = annotation_services.assignment_next(project=project, annotator=annotator)
    annotation = annotation_services.annotation_submit(assignment=first, labels=["safe"], actor=annotator)
    open_lease = annotation_services.assignment_next(project=project, annotator=annotator)
    membership = _membership(project, annotator, "annotator")
    response = _as(api_client, lead).delete(f"{MEMBERS}{membership.pk}/")
    assert response.status_code == 200, response.json()
    assert response.json()["released_leases"] == 1 and response.json()["membership"]["is_active"] is False
    open_lease.refresh_from_db()
    assert open_lease.status == Assignment.Status.SKIPPED and "removed from the project" in open_lease.skip_reason
    assert Item.objects.get(pk=open_lease.item_id).assigned_count == 0
    assert annotation.__class__.objects.filter(pk=annotation.pk).exists()
    membership.refresh_from_db()
    assert membership.is_active is False  # the row stays for history
    # The removed annotator gets no more work; the API no longer lists them.
    assert annotator.username not in {r["user"]["username"] for r in api_client.get(MEMBERS).json()["results"]}
    assert api_client.delete(f"{MEMBERS}{membership.pk}/").status_code == 404


def test_member_remove_refuses_the_last_lead_and_hands_the_project_on(api_client, project, lead, reviewer):
    lead_membership = _membership(project, lead, "lead")
    response = _as(api_client, lead).delete(f"{MEMBERS}{lead_membership.pk}/")
    assert response.status_code == 400 and response.json()["field"] == "user"
    assert "last lead" in response.json()["detail"]
    assert _membership(project, lead, "lead").is_active
    second = UserFactory(username="second-lead", role=User.Role.LEAD)
    api_client.post(MEMBERS, {"project": project.pk, "user": second.pk, "role": "lead"})
    response = api_client.delete(f"{MEMBERS}{lead_membership.pk}/")
    assert response.status_code == 200 and response.json()["project_lead"] == second.pk
    project.refresh_from_db()
    assert project.lead == second


def test_reviewer_may_not_remove_members(api_client, project, reviewer, annotator):
    # A reviewer sees the project but not its team: the membership is out of sight (404).
    membership = _membership(project, annotator, "annotator")
    assert _as(api_client, reviewer).delete(f"{MEMBERS}{membership.pk}/").status_code == 404


# --- Invitations -------------------------------------------------------------------------------


def test_invite_creates_an_account_with_a_one_time_link(api_client, client, project, lead):
    body = {"project": project.pk, "email": "ana.lima@example.org", "role": "annotator", "first_name": "Ana"}
    response = _as(api_client, lead).post(f"{MEMBERS}invite/", body)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["email_sent"] is True and data["membership"]["user"]["username"] == "ana.lima"
    link = data["set_password_link"]
    assert re.match(r"^http://testserver/accounts/set-password/[^/]+/[^/]+/$", link)
    invitee = User.objects.get(username="ana.lima")
    assert not invitee.has_usable_password()
    assert Membership.objects.filter(project=project, user=invitee, role="annotator", is_active=True).exists()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ana.lima@example.org"] and link in mail.outbox[0].body
    # The link: Django's set-password view, once.
    path = link.removeprefix("http://testserver")
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200 and b"Choose your password" in form_page.content
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": PASSWORD + "X9", "new_password2": PASSWORD + "X9"}
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/set-password/done/"
    # Through the sign-in form (django-axes counts sign-ins, so it needs the request).
    signed_in = client.post("/accounts/login/", {"username": "ana.lima", "password": PASSWORD + "X9"})
    assert signed_in.status_code == 302 and "/accounts/login/" not in signed_in["Location"]
    client.logout()
    assert b"This link no longer works" in client.get(path, follow=True).content
    # The same email again: refused, naming the field.
    response = api_client.post(f"{MEMBERS}invite/", body)
    assert response.status_code == 400 and response.json()["field"] == "email"


def test_invite_is_for_leads_of_the_project(api_client, project, annotator, other_lead):
    body = {"project": project.pk, "email": "x@example.org", "role": "annotator"}
    assert _as(api_client, annotator).post(f"{MEMBERS}invite/", body).status_code == 403
    response = _as(api_client, other_lead).post(f"{MEMBERS}invite/", body)
    assert response.status_code == 400 and response.json()["field"] == "project"
    assert not User.objects.filter(email="x@example.org").exists()


def test_invite_names_a_taken_username(api_client, project, lead):
    body = {"project": project.pk, "email": "new@example.org", "role": "reviewer", "username": "annotator"}
    response = _as(api_client, lead).post(f"{MEMBERS}invite/", body)
    assert response.status_code == 400 and response.json()["field"] == "username"
    assert not User.objects.filter(email="new@example.org").exists()


# --- Staff ---------------------------------------------------------------------------------------


def test_staff_api_refuses_non_staff(api_client, lead):
    assert _as(api_client, lead).get(USERS).status_code == 403
    assert api_client.post(TEAMS, {"name": "Ads"}).status_code == 403
    assert api_client.post(USERS, {"email": "a@example.org", "role": "lead"}).status_code == 403


def test_staff_create_users_with_a_password_or_a_link(api_client, staff):
    response = _as(api_client, staff).post(
        USERS, {"email": "lea@example.org", "role": "lead", "username": "lea", "password": "a-long-pass-42"}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["set_password_link"] == "" and response.json()["user"]["has_password"] is True
    assert User.objects.get(username="lea").check_password("a-long-pass-42")
    response = api_client.post(USERS, {"email": "rui@example.org", "role": "annotator"})
    assert response.status_code == 201 and "/accounts/set-password/" in response.json()["set_password_link"]
    assert response.json()["user"]["has_password"] is False and len(mail.outbox) == 1
    response = api_client.post(USERS, {"email": "bad@example.org", "role": "lead", "password": "123"})
    assert response.status_code == 400 and response.json()["field"] == "password"
    response = api_client.post(USERS, {"email": "lea@example.org", "role": "lead"})
    assert response.status_code == 400 and response.json()["field"] == "email"


def test_staff_deactivate_reactivate_and_make_staff(api_client, staff, project, annotator):
    project.phase = Project.Phase.PRODUCTION
    project.gold_rate = 0
    project.save()
    ItemFactory(batch=BatchFactory(project=project), required_annotations=1)
    lease = annotation_services.assignment_next(project=project, annotator=annotator)
    response = _as(api_client, staff).patch(f"{USERS}{annotator.pk}/", {"is_active": False})
    assert response.status_code == 200 and response.json()["is_active"] is False
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.SKIPPED  # released with the account
    assert api_client.patch(f"{USERS}{annotator.pk}/", {"is_active": True, "is_staff": True}).json()["is_staff"]
    response = api_client.patch(f"{USERS}{staff.pk}/", {"is_active": False})
    assert response.status_code == 400 and response.json()["field"] == "is_active"
    response = api_client.patch(f"{USERS}{staff.pk}/", {"role": "boss"})
    assert response.status_code == 400 and response.json()["field"] == "role"
    listed = api_client.get(USERS, {"q": "annot"}).json()["results"]
    assert [row["username"] for row in listed] == ["annotator"]


def test_staff_teams_create_and_membership(api_client, staff, requester):
    response = _as(api_client, staff).post(TEAMS, {"name": "Safety ML"})
    assert response.status_code == 201 and response.json()["slug"] == "safety-ml"
    team = Team.objects.get(slug="safety-ml")
    response = api_client.post(f"{TEAMS}{team.pk}/add-member/", {"user": requester.pk})
    assert response.status_code == 200 and response.json()["members"] == ["requester"]
    requester.refresh_from_db()
    assert requester.team == team
    response = api_client.post(f"{TEAMS}{team.pk}/remove-member/", {"user": requester.pk})
    assert response.status_code == 200 and response.json()["member_count"] == 0
    response = api_client.post(f"{TEAMS}{team.pk}/remove-member/", {"user": requester.pk})
    assert response.status_code == 400 and response.json()["field"] == "user"
    response = api_client.post(TEAMS, {"name": "safety ml"})
    assert response.status_code == 400 and response.json()["field"] == "name"
    assert api_client.get(f"{TEAMS}999999/").status_code == 404


# --- The settings version check -----------------------------------------------------------------


def test_project_patch_without_a_version_still_works(api_client, project, lead):
    response = _as(api_client, lead).patch(f"/api/v1/projects/{project.pk}/", {"gold_rate": 0.1})
    assert response.status_code == 200 and response.json()["settings_version"] == 2


def test_stale_project_patch_is_refused_with_what_changed(api_client, project, lead, other_lead):
    url = f"/api/v1/projects/{project.pk}/"
    version = _as(api_client, lead).get(url).json()["settings_version"]
    second = UserFactory(username="co-lead", role=User.Role.LEAD)
    Membership.objects.create(project=project, user=second, role="lead")
    first = _as(api_client, second).patch(url, {"default_overlap": 4, "max_overlap": 6, "version": version})
    assert first.status_code == 200 and first.json()["settings_version"] == version + 1
    stale = _as(api_client, lead).patch(url, {"default_overlap": 2, "version": version})
    assert stale.status_code == 409
    body = stale.json()
    assert body["code"] == "conflict" and body["field"] == "version" and body["version"] == version + 1
    assert body["changes"]["default_overlap"]["now"] == 4 and body["changes"]["default_overlap"]["by"] == "co-lead"
    assert body["changes"]["default_overlap"]["yours"] == 2 and body["changes"]["default_overlap"]["was"] == 3
    assert "max_overlap" in body["changes"] and "default_overlap is now 4" in body["detail"]
    project.refresh_from_db()
    assert project.default_overlap == 4  # nothing was overwritten
    # The same check through If-Match; the current version passes.
    assert api_client.patch(url, {"gold_rate": 0.2}, HTTP_IF_MATCH=f'"{version}"').status_code == 409
    response = api_client.patch(url, {"gold_rate": 0.2}, HTTP_IF_MATCH=f'"{version + 1}"')
    assert response.status_code == 200 and response.json()["settings_version"] == version + 2
    response = api_client.patch(url, {"gold_rate": 0.3}, HTTP_IF_MATCH="yesterday")
    assert response.status_code == 400 and response.json()["field"] == "If-Match"
    response = api_client.patch(url, {"gold_rate": 0.3, "version": 1}, HTTP_IF_MATCH='"2"')
    assert response.status_code == 400 and response.json()["field"] == "version"


def test_project_patch_409_is_in_the_schema(client):
    import yaml

    paths = yaml.safe_load(client.get("/api/v1/schema/").content)["paths"]
    patch = paths["/api/v1/projects/{id}/"]["patch"]
    assert "409" in patch["responses"]
    assert "400" in paths["/api/v1/members/{id}/"]["delete"]["responses"]  # the last lead's refusal
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in patch["parameters"])
    for path in ("/api/v1/members/", "/api/v1/members/{id}/", "/api/v1/members/invite/", "/api/v1/staff/users/",
                 "/api/v1/staff/users/{id}/", "/api/v1/staff/teams/", "/api/v1/staff/teams/{id}/add-member/",
                 "/api/v1/staff/teams/{id}/remove-member/"):  # fmt: skip
        assert path in paths, path


def test_the_project_lead_counts_in_other_projects_too(api_client):
    # A project with no lead membership row (made outside the services) still has its lead.
    project = ProjectFactory()
    Membership.objects.filter(project=project).delete()
    reviewer = UserFactory(username="r2")
    membership = Membership.objects.create(project=project, user=reviewer, role="lead")
    response = _as(api_client, project.lead).delete(f"{MEMBERS}{membership.pk}/")
    assert response.status_code == 200  # the project's own lead remains


def test_member_and_staff_lists_take_fixed_queries(api_client, project, lead, staff, django_assert_num_queries):
    for index in range(5):
        Membership.objects.create(project=project, user=UserFactory(username=f"extra{index}"), role="annotator")
    _as(api_client, lead)
    # The lead's led projects (a subquery), the count and the page: the same for 3 or 8 members.
    with django_assert_num_queries(2):
        assert len(api_client.get(MEMBERS, {"project": project.pk}).json()["results"]) == 8
    Team.objects.create(name="A", slug="a")
    Team.objects.create(name="B", slug="b")
    _as(api_client, staff)
    with django_assert_num_queries(3):  # count, teams, their members (prefetched)
        assert len(api_client.get(TEAMS).json()["results"]) == 2
