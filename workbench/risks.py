"""Automatic risks: the rules, and the sweep that opens and closes them.

`risk_causes` is pure: given a project's figures and the time, it says which rules hold and why,
with the figures. `risk_sweep` (the projects.risk_sweep beat task) gathers those figures for every
project still in work, opens a risk (Blocker kind=risk, `rule` set, opened by the system) for each
rule that holds and has none open, and resolves the open ones whose cause is gone. A risk the lead
resolves by hand while its cause holds is raised again on the next sweep: the cause is the truth.
An open risk whose cause still holds gets the sweep's current figures in its description.

Rules:
- forecast_late: in production, the forecast finish is after the deadline (workbench.forecast);
- quality_below_bar: in pilot, production or QA, the latest project alpha is under min_alpha, or
  gold accuracy (once gold_min_items gold answers exist) is under min_gold_accuracy;
- no_activity: in production, no annotation for risk_idle_hours (counted from the later of the
  last annotation and the move into production);
- flags_unanswered: an annotator's question has waited longer than risk_flag_hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone

from annotation.models import Flag
from projects.models import Blocker, DailyRollup, Project
from quality.selectors.accuracy import gold_accuracy
from quality.selectors.reports import agreement_report_latest
from workbench import forecast as forecasting
from workbench import selectors
from workbench.services.blockers import blocker_open, blocker_resolve

if TYPE_CHECKING:
    from workbench.forecast import Forecast

Phase = Project.Phase
FORECAST_LATE = "forecast_late"
QUALITY_BELOW_BAR = "quality_below_bar"
NO_ACTIVITY = "no_activity"
FLAGS_UNANSWERED = "flags_unanswered"
RULES = (FORECAST_LATE, QUALITY_BELOW_BAR, NO_ACTIVITY, FLAGS_UNANSWERED)


@dataclass(frozen=True)
class Cause:
    rule: str
    title: str
    description: str
    severity: int


@dataclass(frozen=True)
class RiskFigures:
    """What the rules read about one project."""

    forecast: Forecast | None
    alpha: float | None
    gold_n: int
    gold_accuracy: float | None
    last_annotation_at: datetime | None
    old_flags: int
    oldest_flag_at: datetime | None


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} hours"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def risk_causes(*, project: Project, figures: RiskFigures, now: datetime) -> dict[str, Cause]:
    """The rules that hold for `project` now, each with its cause and figures. Pure."""
    causes: dict[str, Cause] = {}
    forecast = figures.forecast
    if project.phase == Phase.PRODUCTION and forecast and forecast.status == forecasting.Status.LATE:
        rate = f"{forecast.rate:.0f} ± {forecast.spread:.0f} annotations/day over the last {forecast.days} days"
        causes[FORECAST_LATE] = Cause(
            FORECAST_LATE,
            "Forecast finish after the deadline",
            f"{forecast.remaining} annotations remain at {rate}: forecast finish {forecast.finish} "
            f"(range {forecast.earliest} to {forecast.latest or 'open'}), deadline {forecast.deadline}, "
            f"{-(forecast.slack_days or 0)} days late.",
            Blocker.Severity.HIGH,
        )
    if project.phase in (Phase.PILOT, Phase.PRODUCTION, Phase.QA):
        problems = []
        if project.min_alpha is not None and figures.alpha is not None and figures.alpha < project.min_alpha:
            problems.append(f"alpha {figures.alpha:.3f} is under the bar {project.min_alpha:.2f}")
        if (
            project.min_gold_accuracy is not None
            and figures.gold_accuracy is not None
            and figures.gold_n >= project.gold_min_items
            and figures.gold_accuracy < project.min_gold_accuracy
        ):
            problems.append(
                f"gold accuracy {figures.gold_accuracy:.1%} over {figures.gold_n} answers is under the bar "
                f"{project.min_gold_accuracy:.0%}"
            )
        if problems:
            causes[QUALITY_BELOW_BAR] = Cause(
                QUALITY_BELOW_BAR,
                "Quality under the project's bar",
                _sentence("; ".join(problems)),
                Blocker.Severity.HIGH,
            )
    if project.phase == Phase.PRODUCTION:
        since = max(filter(None, [figures.last_annotation_at, project.phase_changed_at]), default=None)
        idle = timedelta(hours=project.risk_idle_hours)
        if since is not None and now - since > idle:
            last = figures.last_annotation_at
            causes[NO_ACTIVITY] = Cause(
                NO_ACTIVITY,
                "No annotation activity",
                f"No annotation for {_hours(now - since)} in production (allowed: {project.risk_idle_hours} hours); "
                f"last annotation {last.isoformat(timespec='minutes') if last else 'never'}.",
                Blocker.Severity.MEDIUM,
            )
    if project.phase not in (Phase.DELIVERED, Phase.CLOSED) and figures.old_flags and figures.oldest_flag_at:
        causes[FLAGS_UNANSWERED] = Cause(
            FLAGS_UNANSWERED,
            "Annotators' questions unanswered",
            f"{figures.old_flags} question{'s' if figures.old_flags != 1 else ''} waiting longer than "
            f"{project.risk_flag_hours} hours; the oldest for {_hours(now - figures.oldest_flag_at)}.",
            Blocker.Severity.MEDIUM,
        )
    return causes


def risk_figures(*, project: Project, now: datetime) -> RiskFigures:
    """Gather what the rules read: forecast and last activity from the rollups, alpha and gold
    accuracy from quality.selectors, old open flags. A handful of queries."""
    today = now.date()
    window = max(settings.QUORUM_FORECAST_WINDOW_DAYS, 7)
    counts = selectors.rollup_daily_counts(project_ids=[project.pk], start=today - timedelta(days=window), end=today)
    forecast = selectors.project_forecast(project=project, counts=counts.get(project.pk, {}), today=today)
    last = DailyRollup.objects.filter(project=project).aggregate(last=Max("last_submitted_at"))["last"]
    report = agreement_report_latest(project_id=project.pk)
    gold_n, gold_acc = 0, None
    if project.min_gold_accuracy is not None:
        overall = gold_accuracy(project_id=project.pk, min_items=project.gold_min_items).overall
        gold_n, gold_acc = overall["n"], overall["accuracy"]
    flags = Flag.objects.filter(
        project=project, status=Flag.Status.OPEN, created_at__lt=now - timedelta(hours=project.risk_flag_hours)
    ).aggregate(n=Count("id"), oldest=Min("created_at"))
    return RiskFigures(
        forecast=forecast,
        alpha=report.alpha if report else None,
        gold_n=gold_n,
        gold_accuracy=gold_acc,
        last_annotation_at=last,
        old_flags=flags["n"],
        oldest_flag_at=flags["oldest"],
    )


def project_risks_sync(*, project: Project, now: datetime | None = None) -> dict[str, list[str]]:
    """Open the risks whose rule holds and has none open; resolve the open ones whose cause is
    gone. Returns the rules opened and closed."""
    now = now or timezone.now()
    causes = risk_causes(project=project, figures=risk_figures(project=project, now=now), now=now)
    open_risks = {
        risk.rule: risk
        for risk in Blocker.objects.filter(project=project, kind=Blocker.Kind.RISK, status=Blocker.Status.OPEN)
        .exclude(rule="")
        .order_by("opened_at")
    }
    opened, closed = [], []
    for rule, cause in causes.items():
        risk = open_risks.get(rule)
        if risk is not None and (risk.description, risk.severity) != (cause.description, cause.severity):
            # Still holding, with new figures: the open risk says what holds now. Figures drift on
            # every sweep, so this is not an activity line.
            risk.description, risk.severity = cause.description, cause.severity
            risk.save(update_fields=["description", "severity"])
        if rule not in open_risks:
            blocker_open(
                project=project,
                actor=None,
                kind=Blocker.Kind.RISK,
                title=cause.title,
                description=cause.description,
                severity=cause.severity,
                rule=rule,
            )
            opened.append(rule)
    for rule, risk in open_risks.items():
        if rule in RULES and rule not in causes:
            blocker_resolve(
                blocker=risk, actor=None, resolution=f"Closed by Quorum: the cause is gone ({now:%Y-%m-%d %H:%M} UTC)."
            )
            closed.append(rule)
    return {"opened": opened, "closed": closed}


def risk_sweep(*, now: datetime | None = None) -> dict[str, Any]:
    """Sync the automatic risks of every project not yet closed."""
    now = now or timezone.now()
    opened = closed = 0
    projects = Project.objects.exclude(phase=Phase.CLOSED).order_by("pk")
    for project in projects:
        result = project_risks_sync(project=project, now=now)
        opened += len(result["opened"])
        closed += len(result["closed"])
    return {"projects": len(projects), "opened": opened, "closed": closed}
