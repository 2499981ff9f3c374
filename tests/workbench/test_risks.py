"""Automatic risks with fixed clocks and fixed data: the pure rules, then the sweep that opens
and closes risks through the services."""

from __future__ import annotations

import datetime as dt

import pytest

from annotation.models import Flag
from projects.models import Activity, Blocker, DailyRollup, Project
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.projects.factories import ProjectFactory
from workbench import risks
from workbench.forecast import forecast_finish
from workbench.risks import RiskFigures, risk_causes

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def _figures(**overrides) -> RiskFigures:
    fields = {
        "forecast": None,
        "alpha": None,
        "gold_n": 0,
        "gold_accuracy": None,
        "last_annotation_at": NOW,
        "old_flags": 0,
        "oldest_flag_at": None,
    }
    fields.update(overrides)
    return RiskFigures(**fields)


def _project(**fields) -> Project:
    defaults = {"phase": Project.Phase.PRODUCTION, "deadline": TODAY + dt.timedelta(days=10), "gold_min_items": 10}
    defaults.update(fields)
    return Project(name="P", **defaults)


def test_risk_causes_forecast_late_only_in_production_with_its_figures():
    late = forecast_finish(remaining=1000, daily=[50] * 14, today=TODAY, deadline=TODAY + dt.timedelta(days=10))
    causes = risk_causes(project=_project(), figures=_figures(forecast=late), now=NOW)
    assert list(causes) == [risks.FORECAST_LATE]
    description = causes[risks.FORECAST_LATE].description
    assert "1000 annotations remain at 50 ± 0 annotations/day" in description
    assert "forecast finish 2026-12-12" in description and "10 days late" in description
    assert risk_causes(project=_project(phase="qa"), figures=_figures(forecast=late), now=NOW) == {}


def test_risk_causes_quality_under_the_bar_needs_enough_gold():
    project = _project(min_alpha=0.7, min_gold_accuracy=0.9)
    causes = risk_causes(project=project, figures=_figures(alpha=0.55, gold_n=5, gold_accuracy=0.5), now=NOW)
    assert causes[risks.QUALITY_BELOW_BAR].description == "Alpha 0.550 is under the bar 0.70."
    causes = risk_causes(project=project, figures=_figures(alpha=0.8, gold_n=40, gold_accuracy=0.85), now=NOW)
    assert "Gold accuracy 85.0% over 40 answers is under the bar 90%" in causes[risks.QUALITY_BELOW_BAR].description
    assert risk_causes(project=project, figures=_figures(alpha=0.8, gold_n=40, gold_accuracy=0.95), now=NOW) == {}


def test_risk_causes_no_activity_counts_from_the_later_of_last_annotation_and_phase_change():
    project = _project(risk_idle_hours=24, phase_changed_at=NOW - dt.timedelta(hours=30))
    idle = _figures(last_annotation_at=NOW - dt.timedelta(hours=72))
    causes = risk_causes(project=project, figures=idle, now=NOW)
    assert "No annotation for 30 hours in production (allowed: 24 hours)" in causes[risks.NO_ACTIVITY].description
    fresh = _project(risk_idle_hours=24, phase_changed_at=NOW - dt.timedelta(hours=3))
    assert risk_causes(project=fresh, figures=idle, now=NOW) == {}
    assert risk_causes(project=_project(phase="pilot", phase_changed_at=NOW - dt.timedelta(days=9)),
                       figures=idle, now=NOW) == {}  # fmt: skip


def test_risk_causes_unanswered_flags():
    figures = _figures(old_flags=2, oldest_flag_at=NOW - dt.timedelta(days=3))
    causes = risk_causes(project=_project(risk_flag_hours=48), figures=figures, now=NOW)
    assert (
        causes[risks.FLAGS_UNANSWERED].description
        == "2 questions waiting longer than 48 hours; the oldest for 3.0 days."
    )
    assert risk_causes(project=_project(phase="delivered"), figures=figures, now=NOW) == {}


@pytest.mark.django_db
def test_project_risks_sync_opens_once_and_closes_when_the_cause_is_gone(lead, annotator):
    project = ProjectFactory(
        lead=lead, phase=Project.Phase.PRODUCTION, phase_changed_at=NOW - dt.timedelta(days=5),
        deadline=TODAY + dt.timedelta(days=30), risk_flag_hours=48,
    )  # fmt: skip
    DailyRollup.objects.create(
        project=project, day=TODAY - dt.timedelta(days=4), last_submitted_at=NOW - dt.timedelta(days=4)
    )
    item = ItemFactory(batch=BatchFactory(project=project))
    flag = Flag.objects.create(project=project, item=item, raised_by=annotator, question="Satire?")
    Flag.objects.filter(pk=flag.pk).update(created_at=NOW - dt.timedelta(days=3))

    result = risks.project_risks_sync(project=project, now=NOW)
    assert sorted(result["opened"]) == [risks.FLAGS_UNANSWERED, risks.NO_ACTIVITY]
    idle = Blocker.objects.get(project=project, rule=risks.NO_ACTIVITY)
    assert idle.kind == Blocker.Kind.RISK and idle.opened_by is None and "4.0 days" in idle.description
    # A second sweep with the same causes opens nothing new; the open risk's figures move on.
    assert risks.project_risks_sync(project=project, now=NOW + dt.timedelta(days=1)) == {"opened": [], "closed": []}
    idle.refresh_from_db()
    assert "5.0 days" in idle.description

    Flag.objects.filter(pk=flag.pk).update(status=Flag.Status.ANSWERED, answer="Yes", answered_at=NOW)
    DailyRollup.objects.filter(project=project).update(last_submitted_at=NOW - dt.timedelta(hours=1))
    later = NOW + dt.timedelta(minutes=15)
    assert sorted(risks.project_risks_sync(project=project, now=later)["closed"]) == [
        risks.FLAGS_UNANSWERED,
        risks.NO_ACTIVITY,
    ]
    idle.refresh_from_db()
    assert idle.status == Blocker.Status.RESOLVED and idle.resolution.startswith("Closed by Quorum")
    assert Activity.objects.filter(project=project, verb="risk.resolved").count() == 2


@pytest.mark.django_db
def test_risk_sweep_task_skips_closed_projects(lead):
    ProjectFactory(lead=lead, phase=Project.Phase.CLOSED)
    ProjectFactory(lead=lead, phase=Project.Phase.DESIGN)
    from workbench.tasks import risk_sweep

    assert risk_sweep.delay().get() == {"projects": 1, "opened": 0, "closed": 0}
