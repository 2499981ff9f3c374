"""Reads of agreement reports: the list, the latest per scope, the trend, the project's annotation
state and whether a report is stale, and the projects the periodic refresh recomputes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Count, F, Max, OuterRef, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber

from annotation.models import Annotation
from projects import access
from projects.models import Project
from quality.models import AgreementReport

if TYPE_CHECKING:
    from accounts.models import User

Scope = AgreementReport.Scope


def agreement_report_list(*, user: User) -> QuerySet[AgreementReport]:
    """Reports of the projects `user` may see, newest first."""
    return AgreementReport.objects.filter(project_id__in=access.visible_project_ids(user)).select_related("project")


def agreement_report_latest(
    *, project_id: int, scope: str = Scope.PROJECT, scope_key: str = ""
) -> AgreementReport | None:
    """The newest report of a scope over all of its annotations (window reports only for the
    window scope, where the newest window is returned)."""
    reports = AgreementReport.objects.filter(project_id=project_id, scope=scope, scope_key=str(scope_key))
    if scope != Scope.WINDOW:
        reports = reports.filter(window_start__isnull=True)
    return reports.order_by("-computed_at", "-id").first()


def agreement_report_latest_list(*, project_id: int) -> list[AgreementReport]:
    """The newest report of every scope (and window) the project has, in one query."""
    ranked = AgreementReport.objects.filter(project_id=project_id).annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("scope"), F("scope_key"), F("window_start"), F("window_end")],
            order_by=[F("computed_at").desc(), F("id").desc()],
        )
    )
    return list(ranked.filter(rank=1).order_by("scope", "scope_key", "window_start"))


def agreement_trend(
    *, project_id: int, scope: str = Scope.PROJECT, scope_key: str = "", limit: int = 200
) -> list[dict[str, Any]]:
    """A scope's alpha over time (oldest first, the last `limit` reports), for a chart."""
    rows = (
        AgreementReport.objects.filter(
            project_id=project_id, scope=scope, scope_key=str(scope_key), window_start__isnull=True
        )
        .order_by("-computed_at", "-id")
        .values("id", "computed_at", "alpha", "alpha_low", "alpha_high", "n_annotations", "n_items")[:limit]
    )
    return list(reversed(rows))


def project_annotation_state(*, project_id: int) -> dict[str, Any]:
    """How many annotations the project has and when the last was submitted (gold included)."""
    return Annotation.objects.filter(project_id=project_id).aggregate(n=Count("id"), last=Max("submitted_at"))


def latest_submission(project_id: int) -> Any:
    """When the project's newest annotation was submitted: one look-up on (project, submitted_at)."""
    return Annotation.objects.filter(project_id=project_id).aggregate(last=Max("submitted_at"))["last"]


def project_annotation_state_for_page(*, project_id: int, report: AgreementReport | None) -> dict[str, Any]:
    """project_annotation_state as pages use it, without counting the annotations: one index
    look-up of the newest submission. Equal to the report's newest, the report's own count is
    taken (a deletion or a back-dated write since is not seen here: the API's and the delivery's
    gate count); newer, the count is left unknown (-1), which makes the report stale."""
    last = latest_submission(project_id)
    same = report is not None and last == report.source_last_submitted_at
    return {"n": report.source_annotations if same else -1, "last": last}


def agreement_report_is_stale(report: AgreementReport, *, state: dict[str, Any] | None = None) -> bool:
    """Whether annotations were added since the report read them."""
    state = state if state is not None else project_annotation_state(project_id=report.project_id)
    return state["n"] != report.source_annotations or state["last"] != report.source_last_submitted_at


def agreement_stale_project_ids() -> list[int]:
    """Projects (not closed) with annotations whose project-scope report is missing or older than
    their latest annotations: what the periodic refresh recomputes. Two queries."""

    latest = AgreementReport.objects.filter(
        project=OuterRef("pk"), scope=Scope.PROJECT, window_start__isnull=True
    ).order_by("-computed_at", "-id")
    reports = {
        row["pk"]: row
        for row in Project.objects.exclude(phase=Project.Phase.CLOSED).values(
            "pk",
            n=Subquery(latest.values("source_annotations")[:1]),
            last=Subquery(latest.values("source_last_submitted_at")[:1]),
        )
    }
    states = (
        Annotation.objects.filter(project_id__in=list(reports))
        .values("project_id")
        .annotate(n=Count("id"), last=Max("submitted_at"))
        .order_by("project_id")
    )
    return [
        state["project_id"]
        for state in states
        if (reports[state["project_id"]]["n"], reports[state["project_id"]]["last"]) != (state["n"], state["last"])
    ]
