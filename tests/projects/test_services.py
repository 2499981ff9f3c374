from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import User
from annotation import services as annotation_services
from core.errors import IllegalTransition, NotAllowed, QuorumError
from projects import services as project_services
from projects.models import Activity, Blocker, DataRequest, Membership, PhaseTransition, Project
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.projects.factories import DataRequestFactory, ProjectFactory
from workbench.services.blockers import blocker_open, blocker_resolve
from workbench.services.datarequests import datarequest_accept, datarequest_create, datarequest_reject
from workbench.services.lifecycle import project_transition, project_update
from workbench.services.milestones import milestone_create, milestone_update
from workbench.services.progress import project_progress_refresh

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 22)


def _request(requester, **overrides):
    fields = {
        "requester": requester,
        "title": "Hate speech EN",
        "volume_total": 1000,
        "deadline": TODAY + dt.timedelta(days=30),
        "today": TODAY,
    }
    fields.update(overrides)
    return datarequest_create(**fields)


def test_datarequest_create_records_team_and_activity(requester):
    data_request = _request(
        requester,
        languages=["en", "pt-BR"],
        proposed_labels=[{"key": "hate", "name": "Hate"}],
        volume_per_class={"hate": 400},
    )
    assert data_request.status == DataRequest.Status.SUBMITTED
    assert data_request.team == requester.team
    assert Activity.objects.filter(request=data_request, verb="request.submitted").count() == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"deadline": TODAY - dt.timedelta(days=1)}, "deadline: 2026-11-21 is in the past"),
        ({"languages": ["english"]}, "languages[0]: 'english' is not a language code"),
        (
            {"proposed_labels": [{"key": "Hate Speech"}]},
            "proposed_labels[0].key: 'Hate Speech' is not a valid label key",
        ),
        (
            {"proposed_labels": [{"key": "hate"}], "volume_per_class": {"spam": 3}},
            "volume_per_class.spam: 'spam' is not one of the requested labels",
        ),
        ({"volume_per_class": {"hate": 900, "spam": 200}}, "the classes add up to 1100, more than volume_total (1000)"),
        ({"volume_total": 0}, "volume_total"),
    ],
)
def test_datarequest_create_rejects_bad_input_saying_where(requester, overrides, message):
    with pytest.raises((QuorumError, Exception)) as excinfo:
        _request(requester, **overrides)
    assert message in str(excinfo.value)
    assert DataRequest.objects.count() == 0


def test_datarequest_create_refuses_annotators(annotator):
    with pytest.raises(NotAllowed):
        _request(annotator)


def test_datarequest_accept_creates_prefilled_project_with_requester_member(requester, lead):
    data_request = _request(requester, modality="image", min_alpha=0.7, priority=3)
    project = datarequest_accept(data_request=data_request, actor=lead)
    data_request.refresh_from_db()
    assert data_request.status == DataRequest.Status.ACCEPTED and data_request.decided_by == lead
    assert project.request == data_request and project.modality == "image" and project.min_alpha == 0.7
    assert project.phase == Project.Phase.REQUIREMENTS and project.deadline == data_request.deadline
    roles = set(project.memberships.values_list("user__username", "role"))
    assert roles == {("lead", "lead"), ("requester", "requester")}


def test_datarequest_accept_twice_is_refused(requester, lead):
    data_request = _request(requester)
    datarequest_accept(data_request=data_request, actor=lead)
    with pytest.raises(IllegalTransition, match="already accepted"):
        datarequest_accept(data_request=data_request, actor=lead)
    assert Project.objects.count() == 1


def test_datarequest_reject_needs_reason_and_lead(requester, lead, annotator):
    data_request = _request(requester)
    with pytest.raises(QuorumError, match="reason: say why"):
        datarequest_reject(data_request=data_request, actor=lead, reason="  ")
    with pytest.raises(NotAllowed):
        datarequest_reject(data_request=data_request, actor=annotator, reason="no")
    datarequest_reject(data_request=data_request, actor=lead, reason="Out of scope for Q4")
    data_request.refresh_from_db()
    assert data_request.status == "rejected" and data_request.rejection_reason == "Out of scope for Q4"


def _ready_for_production(project, lead):
    batch = BatchFactory(project=project)
    ItemFactory(batch=batch)


def test_project_transition_walks_the_line_and_records_who_and_why(project, lead):
    _ready_for_production(project, lead)
    for phase in ["pilot", "production", "qa", "delivered", "closed"]:
        project = project_transition(project=project, to_phase=phase, actor=lead, reason=f"to {phase}")
    assert project.phase == "closed"
    moves = list(
        PhaseTransition.objects.filter(project=project).values_list("from_phase", "to_phase", "actor__username")
    )
    assert moves[0] == ("design", "pilot", "lead") and moves[-1] == ("delivered", "closed", "lead")
    assert Activity.objects.filter(project=project, verb="project.transition").count() == 5


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("requirements", "production"),
        ("design", "delivered"),
        ("delivered", "on_hold"),
        ("closed", "requirements"),
        ("qa", "design"),
    ],
)
def test_project_transition_refuses_illegal_moves_naming_the_allowed_ones(lead, start, target):
    project = ProjectFactory(lead=lead, phase=start)
    with pytest.raises(IllegalTransition) as excinfo:
        project_transition(project=project, to_phase=target, actor=lead)
    assert f"from {start} to {target}" in str(excinfo.value)
    project.refresh_from_db()
    assert project.phase == start
    assert not PhaseTransition.objects.filter(project=project).exists()


def test_project_transition_guards_explain_what_is_missing(lead):
    project = ProjectFactory(lead=lead, phase="design")
    with pytest.raises(IllegalTransition, match="no label schema; the project has no guideline"):
        project_transition(project=project, to_phase="pilot", actor=lead)


def test_project_transition_to_production_needs_items_and_annotators(project, lead):
    project_transition(project=project, to_phase="pilot", actor=lead)
    with pytest.raises(IllegalTransition, match="no items"):
        project_transition(project=project, to_phase="production", actor=lead)


def test_project_transition_unknown_phase(project, lead):
    with pytest.raises(QuorumError, match="'shipping' is not a phase"):
        project_transition(project=project, to_phase="shipping", actor=lead)


def test_project_transition_only_by_lead(project, annotator, other_lead):
    for actor in (annotator, other_lead):
        with pytest.raises(NotAllowed):
            project_transition(project=project, to_phase="requirements", actor=actor)


def test_project_hold_opens_blocker_and_resume_needs_it_resolved(project, lead):
    with pytest.raises(IllegalTransition, match="needs a reason"):
        project_transition(project=project, to_phase="on_hold", actor=lead)
    project = project_transition(
        project=project, to_phase="on_hold", actor=lead, reason="Legal review of the data source"
    )
    assert project.phase == "on_hold" and project.phase_before_hold == "design"
    blocker = project.blockers.get()
    assert blocker.title == "Legal review of the data source" and blocker.status == "open"
    with pytest.raises(IllegalTransition, match="from on_hold it can go to design"):
        project_transition(project=project, to_phase="pilot", actor=lead)
    with pytest.raises(IllegalTransition, match="open blockers must be resolved first"):
        project_transition(project=project, to_phase="design", actor=lead)
    blocker_resolve(blocker=blocker, actor=lead, resolution="Legal approved")
    project = project_transition(project=project, to_phase="design", actor=lead)
    assert project.phase == "design" and project.phase_before_hold == ""


def test_blocker_open_and_resolve_records_time_and_owner(project, lead, annotator):
    blocker = blocker_open(
        project=project, actor=annotator, title="Images fail to load", severity=Blocker.Severity.HIGH, owner=lead
    )
    assert blocker.opened_by == annotator and blocker.status == "open"
    with pytest.raises(NotAllowed):
        blocker_resolve(blocker=blocker, actor=annotator, resolution="works for me")
    blocker = blocker_resolve(blocker=blocker, actor=lead, resolution="CDN allow-list fixed")
    assert blocker.status == "resolved" and blocker.resolved_by == lead
    assert blocker.time_to_resolve is not None and blocker.time_to_resolve.total_seconds() >= 0
    with pytest.raises(IllegalTransition, match="already resolved"):
        blocker_resolve(blocker=blocker, actor=lead, resolution="again")


def test_blocker_open_refuses_outsiders_and_foreign_owner(project, lead):
    outsider = UserFactory(username="outsider", role=User.Role.ANNOTATOR)
    with pytest.raises(NotAllowed):
        blocker_open(project=project, actor=outsider, title="x")
    with pytest.raises(QuorumError, match="owner: outsider is not a member"):
        blocker_open(project=project, actor=lead, title="x", owner=outsider)


def test_system_risk_needs_rule(project):
    with pytest.raises(QuorumError, match="must name its rule"):
        blocker_open(project=project, actor=None, title="late", kind="risk")
    risk = blocker_open(project=project, actor=None, title="Forecast past deadline", kind="risk", rule="forecast_late")
    assert risk.opened_by is None and risk.rule == "forecast_late"


def test_project_progress_refresh_counts_items_and_annotations(
    project, lead, annotator, django_capture_on_commit_callbacks
):
    batch = annotation_services.batch_create(project=project, name="b1", actor=lead)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        annotation_services.items_add(
            batch=batch, rows=[{"external_id": f"x{i}", "text": "hello"} for i in range(4)], actor=lead
        )
    assert len(callbacks) == 1  # the progress refresh task, queued after commit
    project.refresh_from_db()
    assert project.items_total == 4 and project.annotations_required == 12
    item = project.items.first()
    assignment = annotation_services.assignment_create(item=item, annotator=annotator)
    annotation_services.annotation_submit(assignment=assignment, labels=["safe"], actor=annotator, time_spent_ms=1200)
    figures = project_progress_refresh(project_id=project.pk)
    assert figures == {"items_total": 4, "annotations_required": 12, "items_completed": 0, "annotations_done": 1}


def test_membership_add_is_idempotent(project, lead):
    person = UserFactory(username="new-annotator")
    first = project_services.membership_add(project=project, user=person, role="annotator", actor=lead)
    second = project_services.membership_add(project=project, user=person, role="annotator", actor=lead)
    assert first.pk == second.pk and Membership.objects.filter(user=person).count() == 1


def test_milestone_create_and_reach(project, lead):
    milestone = milestone_create(project=project, name="Pilot done", planned_date=TODAY, actor=lead)
    milestone = milestone_update(milestone=milestone, actor=lead, actual_date=TODAY + dt.timedelta(days=2))
    assert milestone.slip_days == 2


def test_data_request_factory_is_valid(requester):
    data_request = DataRequestFactory(requester=requester)
    data_request.full_clean()


def test_project_update_changes_settings_and_logs(project, lead, annotator):
    project = project_update(project=project, actor=lead, require_language_match=True, languages=["es"])
    assert project.require_language_match and project.languages == ["es"]
    assert Activity.objects.filter(project=project, verb="project.updated").count() == 1
    with pytest.raises(QuorumError, match="unknown project field"):
        project_update(project=project, actor=lead, phase="closed")
    with pytest.raises(NotAllowed):
        project_update(project=project, actor=annotator, priority=4)
    with pytest.raises(Exception, match="max_overlap"):
        project_update(project=project, actor=lead, max_overlap=1)


def test_project_progress_leaves_gold_out(project, lead, annotator, django_capture_on_commit_callbacks):
    batch = annotation_services.batch_create(project=project, name="g", actor=lead)
    annotation_services.items_add(
        batch=batch,
        rows=[{"external_id": "r", "text": "x"}, {"external_id": "g", "text": "y", "gold_label": "hate"}],
        actor=lead,
    )
    gold = project.items.get(external_id="g")
    assignment = annotation_services.assignment_create(item=gold, annotator=annotator)
    annotation_services.annotation_submit(assignment=assignment, labels=["hate"], actor=annotator)
    figures = project_progress_refresh(project_id=project.pk)
    assert figures == {"items_total": 1, "annotations_required": 3, "items_completed": 0, "annotations_done": 0}
