"""Reads of the projects app, already scoped to what the user may see and loaded for display."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    CharField,
    Count,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    prefetch_related_objects,
)

from projects import access
from projects.models import (
    Activity,
    AnnotatorDailyRollup,
    Blocker,
    DailyRollup,
    DataRequest,
    Membership,
    Project,
    RequestComment,
    RollupWatermark,
)
from quality.models import AgreementReport
from quality.selectors.accuracy import GoldAccuracy, accuracy_rate, gold_accuracy, gold_annotator_row
from workbench import forecast as forecasting
from workbench.rollups import WATERMARK, histogram_add, histogram_quantile

if TYPE_CHECKING:
    from accounts.models import User


def project_list(*, user: User) -> QuerySet[Project]:
    """Projects `user` may see, with their lead and request loaded and open blockers counted."""
    return (
        access.visible_projects(user)
        .select_related("lead", "request", "label_schema")
        .annotate(
            open_blockers=Count(
                "blockers", filter=Q(blockers__status=Blocker.Status.OPEN, blockers__kind=Blocker.Kind.BLOCKER)
            ),
            open_risks=Count(
                "blockers", filter=Q(blockers__status=Blocker.Status.OPEN, blockers__kind=Blocker.Kind.RISK)
            ),
        )
        # Aggregation drops Meta.ordering, so the order is stated (pages need a stable one).
        .order_by("deadline", "name", "id")
    )


def project_get(*, user: User, pk: int) -> Project:
    """One project `user` may see (Project.DoesNotExist otherwise, so other projects do not leak)."""
    return (
        project_list(user=user)
        .prefetch_related(
            Prefetch("memberships", queryset=Membership.objects.select_related("user").filter(is_active=True)),
            "milestones",
        )
        .get(pk=pk)
    )


def datarequest_list(*, user: User) -> QuerySet[DataRequest]:
    """Requests `user` may see (access.visible_requests: leads all, others their own and their team's).

    Each row carries `stage` (DataRequest.Stage): its status until accepted; delivered once a
    delivery of its project is done (`delivered_at`) or the project is delivered or closed; else
    where its project is: production or QA (or on hold from them) is in production. Its project,
    with the progress rollup, is loaded with it.
    """
    Phase = Project.Phase
    working, done = [Phase.PRODUCTION, Phase.QA], [Phase.DELIVERED, Phase.CLOSED]
    Stage = DataRequest.Stage
    stage = Case(
        When(status=DataRequest.Status.SUBMITTED, then=Value(Stage.SUBMITTED)),
        When(status=DataRequest.Status.REJECTED, then=Value(Stage.REJECTED)),
        When(Q(delivered_at__isnull=False) | Q(project__phase__in=done), then=Value(Stage.DELIVERED)),
        When(
            Q(project__phase__in=working) | Q(project__phase=Phase.ON_HOLD, project__phase_before_hold__in=working),
            then=Value(Stage.IN_PRODUCTION),
        ),
        default=Value(Stage.ACCEPTED),
        output_field=CharField(),
    )
    requests = DataRequest.objects.select_related("requester", "team", "label_schema", "decided_by", "project")
    return access.visible_requests(user, requests.annotate(stage=stage))


def blocker_list(*, user: User) -> QuerySet[Blocker]:
    """Blockers and risks of the projects `user` may see."""
    return Blocker.objects.filter(project_id__in=access.visible_project_ids(user)).select_related(
        "project", "owner", "opened_by", "resolved_by"
    )


def activity_list(*, project: Project, limit: int = 50) -> QuerySet[Activity]:
    return Activity.objects.filter(project=project).select_related("actor")[:limit]


def project_page_get(*, user: User, pk: int) -> Project:
    """One project for its page: project_get, plus its open blockers and risks (`blockers_open`,
    most severe first) and its ten latest resolved ones (`blockers_resolved`), people loaded."""
    project = project_get(user=user, pk=pk)
    people = Blocker.objects.select_related("owner", "opened_by", "resolved_by")
    prefetch_related_objects(
        [project],
        Prefetch("blockers", queryset=people.filter(status=Blocker.Status.OPEN), to_attr="blockers_open"),
        Prefetch(
            "blockers",
            queryset=people.filter(status=Blocker.Status.RESOLVED).order_by("-resolved_at", "-id")[:10],
            to_attr="blockers_resolved",
        ),
    )
    return project


def project_lead_list(*, user: User) -> QuerySet[User]:
    """The leads of the projects `user` may see (the portfolio's lead filter offers these)."""
    return (
        get_user_model()
        .objects.filter(led_projects__in=access.visible_project_ids(user))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def request_comment_list(*, data_request: DataRequest) -> QuerySet[RequestComment]:
    """The comment thread of a request the caller may see (fetch it through datarequest_list),
    oldest first, authors loaded."""
    return RequestComment.objects.filter(request=data_request).select_related("author").order_by("created_at", "id")


# --- Dashboard figures: read from the daily rollups (workbench.rollups), never from annotations --------


def _latest_project_report() -> QuerySet[AgreementReport]:
    return AgreementReport.objects.filter(
        project=OuterRef("pk"), scope=AgreementReport.Scope.PROJECT, window_start__isnull=True
    ).order_by("-computed_at", "-id")


def project_portfolio_list(*, user: User) -> QuerySet[Project]:
    """project_list with the latest project-scope alpha (and when it was computed) annotated."""
    latest = _latest_project_report()
    return project_list(user=user).annotate(
        alpha=Subquery(latest.values("alpha")[:1]), alpha_computed_at=Subquery(latest.values("computed_at")[:1])
    )


def rollup_daily_counts(*, project_ids: list[int], start: date, end: date) -> dict[int, dict[date, int]]:
    """Regular annotations per project and day in [start, end], from the rollups. One query."""
    counts: dict[int, dict[date, int]] = defaultdict(dict)
    rows = DailyRollup.objects.filter(project_id__in=project_ids, day__gte=start, day__lte=end).values_list(
        "project_id", "day", "annotations"
    )
    for project_id, day, done in rows:
        counts[project_id][day] = done
    return counts


def project_forecast(*, project: Project, counts: dict[date, int], today: date) -> forecasting.Forecast:
    """The project's finish forecast from its daily counts (as rollup_daily_counts returns them)."""
    window = settings.QUORUM_FORECAST_WINDOW_DAYS
    daily = forecasting.daily_series(counts, end=today - timedelta(days=1), days=window)
    if not project.annotations_required:
        # Nothing imported yet: there is nothing to forecast, which is not "done".
        return forecasting.Forecast(
            0, 0.0, 0.0, len(daily), None, None, None, project.deadline, forecasting.Status.UNKNOWN
        )
    remaining = max(project.annotations_required - project.annotations_done, 0)
    return forecasting.forecast_finish(remaining=remaining, daily=daily, today=today, deadline=project.deadline)


def _rollup_totals(project_ids: list[int]) -> dict[int, dict[str, int]]:
    """All-time sums of the daily rollups per project: regular annotations, items completed, gold
    answered and correct. One query."""
    return {
        row["project_id"]: row
        for row in DailyRollup.objects.filter(project_id__in=project_ids)
        .values("project_id")
        .annotate(
            annotations=Sum("annotations"),
            completed=Sum("items_completed"),
            answered=Sum("gold_answered"),
            correct=Sum("gold_correct"),
        )
        .order_by("project_id")
    }


def _done_from(project: Project, totals: dict[str, int] | None) -> None:
    project.annotations_done = (totals or {}).get("annotations") or 0
    project.items_completed = (totals or {}).get("completed") or 0


def project_done_attach(*, projects: list[Project]) -> list[Project]:
    """Set each project's done figures (`annotations_done`, `items_completed`) to the rollups'
    all-time sums, the source the burn-up, the throughput, the retrospective and the portfolio
    read, so a page never shows two counts of the same work. The stored counters on the row are
    recounted only every QUORUM_PROGRESS_REFRESH_SECONDS (and after an import), so they lag; the
    required figures (`annotations_required`, `items_total`) change only with imports, whose
    refresh recounts them, and stay as stored. In memory only; one query."""
    totals = _rollup_totals([project.pk for project in projects])
    for project in projects:
        _done_from(project, totals.get(project.pk))
    return projects


def throughput_days(*, counts: dict[date, int], today: date) -> dict[str, int]:
    """The 7-day throughput as pages show it: the last seven full UTC days, yesterday back
    (`last_7_days`, today left out, so a morning does not look like a slow week), and `today`
    so far."""
    return {
        "last_7_days": sum(counts.get(today - timedelta(days=offset), 0) for offset in range(1, 8)),
        "today": counts.get(today, 0),
    }


def portfolio_figures(*, projects: list[Project], today: date) -> list[Project]:
    """Attach to each project its 7-day throughput (full days to yesterday), forecast, gold
    accuracy and done figures (project_done_attach), from the rollups. Two queries whatever the
    number of projects."""
    window = max(settings.QUORUM_FORECAST_WINDOW_DAYS, 7)
    ids = [project.pk for project in projects]
    counts = rollup_daily_counts(project_ids=ids, start=today - timedelta(days=window), end=today)
    gold = _rollup_totals(ids)
    for project in projects:
        own = counts.get(project.pk, {})
        project.throughput_7d = throughput_days(counts=own, today=today)["last_7_days"]
        _done_from(project, gold.get(project.pk))
        project.forecast = project_forecast(project=project, counts=own, today=today)
        figures = gold.get(project.pk)
        project.gold_answered = figures["answered"] if figures else 0
        project.gold_accuracy = figures["correct"] / figures["answered"] if figures and figures["answered"] else None
    return projects


PORTFOLIO_SORTS: dict[str, Any] = {
    "deadline": lambda p: (p.deadline is None, p.deadline or date.max, p.name),
    "-deadline": lambda p: (p.deadline is None, -(p.deadline or date.min).toordinal(), p.name),
    "phase": lambda p: (list(Project.Phase.values).index(p.phase), p.name),
    "lead": lambda p: (p.lead.display_name.lower(), p.name),
    "status": lambda p: (forecasting.Status.ORDER[p.forecast.status], p.deadline or date.max, p.name),
    "progress": lambda p: (p.progress, p.name),
    "name": lambda p: (p.name.lower(),),
}


def portfolio_rows(*, projects: QuerySet[Project], today: date, status: str = "", sort: str = "") -> list[Project]:
    """The portfolio table: projects (already filtered by ProjectFilterSet) with their figures,
    kept to one forecast `status` if given and sorted by `sort` (a key of PORTFOLIO_SORTS)."""
    rows = portfolio_figures(projects=list(projects), today=today)
    if status:
        rows = [project for project in rows if project.forecast.status == status]
    if sort in PORTFOLIO_SORTS:
        rows.sort(key=PORTFOLIO_SORTS[sort])
    return rows


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _label_chart(*, project: Project, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The label distribution chart: each label's share of the votes in `rows` (daily rollups)
    against its share of the volume the request asked for."""
    votes: dict[str, int] = defaultdict(int)
    for row in rows:
        for label, count in (row["label_votes"] or {}).items():
            votes[label] += count
    requested = {str(k): int(v) for k, v in (project.request.volume_per_class if project.request else {}).items()}
    labels = sorted(set(votes) | set(requested))
    total_votes, total_requested = sum(votes.values()), sum(requested.values())
    return {
        "labels": labels,
        "done": [_percent(votes.get(label, 0), total_votes) for label in labels],
        "requested": [_percent(requested.get(label, 0), total_requested) for label in labels],
    }


def _quality_chart(*, project: Project, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The quality trend chart: alpha from the stored project reports (one query) and gold
    accuracy per day from `rows` (daily rollups), against the project's bars."""
    trend = AgreementReport.objects.filter(
        project=project, scope=AgreementReport.Scope.PROJECT, scope_key="", window_start__isnull=True
    ).order_by("-computed_at", "-id")
    # The newest report of each day, oldest day first.
    alpha_by_day: dict[date, float] = {}
    for computed_at, alpha in trend.values_list("computed_at", "alpha")[:200]:
        if alpha is not None:
            alpha_by_day.setdefault(computed_at.date(), alpha)
    gold_by_day = {
        row["day"]: round(row["gold_correct"] / row["gold_answered"], 4) for row in rows if row["gold_answered"]
    }
    quality_days = sorted(set(alpha_by_day) | set(gold_by_day))
    return {
        "days": [day.isoformat() for day in quality_days],
        "alpha": [alpha_by_day.get(day) for day in quality_days],
        "gold": [gold_by_day.get(day) for day in quality_days],
        "min_alpha": project.min_alpha,
        "min_gold_accuracy": project.min_gold_accuracy,
    }


def _milestone_marks(*, project: Project) -> list[dict[str, Any]]:
    """The milestones drawn on the burn-up, planned and reached. project_get prefetches the
    milestones, so this costs no query there."""
    return [
        {
            "name": milestone.name,
            "planned": milestone.planned_date.isoformat(),
            "actual": milestone.actual_date.isoformat() if milestone.actual_date else None,
        }
        for milestone in project.milestones.all()
    ]


def project_dashboard(*, project: Project, today: date, history_days: int = 120) -> dict[str, Any]:
    """The project page's figures and chart data, from the rollups and the stored agreement
    reports: forecast, burn-up against the plan, throughput per day, quality trend, label
    distribution against the requested volume. Three queries; the milestones come from project_get's prefetch. The project's done figures
    are brought to the rollups' first (project_done_attach), so the header cards, the forecast and
    the charts count the same annotations."""
    project_done_attach(projects=[project])
    start = today - timedelta(days=history_days)
    rows = list(
        DailyRollup.objects.filter(project=project, day__gte=start, day__lte=today)
        .order_by("day")
        .values("day", "annotations", "items_completed", "gold_answered", "gold_correct", "label_votes")
    )
    # Items completed before the charted window: the all-time total less the window's.
    earlier = {"items": project.items_completed - sum(row["items_completed"] for row in rows)}
    counts = {row["day"]: row["annotations"] for row in rows}
    by_day = {row["day"]: row for row in rows}
    first_day = rows[0]["day"] if rows else today
    plan_start = max(min(first_day, project.created_at.date()), start)
    days = [plan_start + timedelta(days=offset) for offset in range((today - plan_start).days + 1)]
    # The burn-up runs on to the deadline (at most a year ahead) so the plan line reaches it.
    horizon = min(max(project.deadline or today, today), today + timedelta(days=365))
    axis = days + [today + timedelta(days=offset) for offset in range(1, (horizon - today).days + 1)]
    completed, cumulative = [], earlier["items"] or 0
    for day in days:
        cumulative += by_day[day]["items_completed"] if day in by_day else 0
        completed.append(cumulative)
    plan: list[float | None] = []
    if project.deadline and project.items_total and project.deadline > plan_start:
        span = (project.deadline - plan_start).days
        plan = [round(project.items_total * min((day - plan_start).days / span, 1.0), 1) for day in axis]
    labels = _label_chart(project=project, rows=rows)
    quality = _quality_chart(project=project, rows=rows)
    charts = {
        "burnup": {
            "days": [day.isoformat() for day in axis],
            "completed": completed,
            "plan": plan,
            "total": project.items_total,
        },
        "throughput": {
            "days": [day.isoformat() for day in days],
            "annotations": [by_day[day]["annotations"] if day in by_day else 0 for day in days],
        },
        "quality": quality,
        "milestones": _milestone_marks(project=project),
        "today": today.isoformat(),
        "labels": labels,
    }
    days_done = throughput_days(counts=counts, today=today)
    return {
        "forecast": project_forecast(project=project, counts=counts, today=today),
        "throughput_7d": days_done["last_7_days"],
        "throughput_today": days_done["today"],
        "as_of": RollupWatermark.objects.filter(name=WATERMARK).values_list("refreshed_at", flat=True).first(),
        "charts": charts,
    }


def project_gold_figures(*, project: Project) -> GoldAccuracy:
    """The project's gold accuracy for its page, from the per-annotator daily rollups (scored as
    quality.selectors.accuracy.gold_accuracy scores) instead of a pass over the gold annotations. Annotators
    a lead reinstated are judged on the gold they answered since, read exactly for them alone.
    No per-label rows (the root-cause page has them). Three queries, two more with reinstatements."""
    sums = {
        row["annotator_id"]: row
        for row in AnnotatorDailyRollup.objects.filter(project=project, gold_answered__gt=0)
        .values("annotator_id")
        .annotate(n=Sum("gold_answered"), correct=Sum("gold_correct"))
    }
    reinstated = dict(
        Membership.objects.filter(
            project=project, role=Membership.Role.ANNOTATOR, paused_at__isnull=True, reinstated_at__isnull=False
        ).values_list("user_id", "reinstated_at")
    )
    since = {}
    if reinstated:
        exact = gold_accuracy(project_id=project.pk, answered_after=reinstated, annotators=list(reinstated))
        since = {row["annotator_id"]: row for row in exact.annotators}
    names = dict(get_user_model().objects.filter(pk__in=list(sums)).values_list("pk", "username"))
    bar, min_items = project.min_gold_accuracy, project.gold_min_items
    rows = []
    for annotator_id, figures in sorted(sums.items()):
        if annotator_id in reinstated:
            if annotator_id in since:
                rows.append(since[annotator_id])
            continue
        rows.append(
            gold_annotator_row(
                annotator_id=annotator_id, username=names.get(annotator_id, ""), n=figures["n"],
                correct=figures["correct"], bar=bar, min_items=min_items,
            )
        )  # fmt: skip
    answered = sum(figures["n"] for figures in sums.values())
    correct = sum(figures["correct"] for figures in sums.values())
    overall = accuracy_rate(answered, correct)
    return GoldAccuracy(bar=bar, min_items=min_items, overall=overall, annotators=rows, since_reinstatement=True)


def project_annotator_rows(
    *,
    project: Project,
    agreement: dict[int, float | None] | None = None,
    audit: dict[int, float | None] | None = None,
) -> list[dict[str, Any]]:
    """One row per annotator of the project from the per-annotator rollups: annotations done,
    median and p90 handling time (seconds, exact to one histogram bucket), gold accuracy, flags
    raised; agreement and audit accuracy come from the caller (quality figures). Two queries."""
    totals: dict[int, dict[str, Any]] = {}
    rows = AnnotatorDailyRollup.objects.filter(project=project).values_list(
        "annotator_id", "annotations", "time_histogram", "gold_answered", "gold_correct", "flags_raised"
    )
    for annotator_id, done, histogram, gold_answered, gold_correct, flags in rows:
        entry = totals.setdefault(
            annotator_id, {"annotations": 0, "histogram": [], "gold_answered": 0, "gold_correct": 0, "flags": 0}
        )
        entry["annotations"] += done
        entry["histogram"] = histogram_add(entry["histogram"], histogram or [])
        entry["gold_answered"] += gold_answered
        entry["gold_correct"] += gold_correct
        entry["flags"] += flags
    people = get_user_model().objects.in_bulk(list(totals))
    agreement, audit = agreement or {}, audit or {}
    out = []
    for annotator_id, entry in totals.items():
        median = histogram_quantile(entry["histogram"], 0.5)
        p90 = histogram_quantile(entry["histogram"], 0.9)
        person = people.get(annotator_id)
        out.append(
            {
                "annotator_id": annotator_id,
                "name": person.display_name if person else str(annotator_id),
                "annotations": entry["annotations"],
                "median_s": round(median / 1000, 1) if median is not None else None,
                "p90_s": round(p90 / 1000, 1) if p90 is not None else None,
                "gold_answered": entry["gold_answered"],
                "gold_accuracy": entry["gold_correct"] / entry["gold_answered"] if entry["gold_answered"] else None,
                "audit_accuracy": audit.get(annotator_id),
                "agreement": agreement.get(annotator_id),
                "flags": entry["flags"],
            }
        )
    out.sort(key=lambda row: (-row["annotations"], row["name"]))
    return out


def datarequest_forecasts_attach(*, data_requests: list[DataRequest], today: date) -> list[DataRequest]:
    """Give the project of each accepted request its finish forecast (`project.forecast`, from
    project_forecast over the daily rollups), for the requesters who follow it. One query. (The
    API's progress figures are the stored counters, with `progress_refreshed_at` saying how old
    they are.)"""
    accepted = (_project_of(r) for r in data_requests if r.status == DataRequest.Status.ACCEPTED)
    projects = [project for project in accepted if project is not None]
    if not projects:
        return data_requests
    window = max(settings.QUORUM_FORECAST_WINDOW_DAYS, 7)
    counts = rollup_daily_counts(project_ids=[p.pk for p in projects], start=today - timedelta(days=window), end=today)
    for project in projects:
        project.forecast = project_forecast(project=project, counts=counts.get(project.pk, {}), today=today)
    return data_requests


def datarequest_page_progress(*, data_request: DataRequest) -> DataRequest:
    """The request page's progress of its project: done figures from the rollups
    (project_done_attach), as the project's own page shows them. One query, none without a project."""
    project = _project_of(data_request) if data_request.status == DataRequest.Status.ACCEPTED else None
    if project is not None:
        project_done_attach(projects=[project])
    return data_request


def _project_of(data_request: DataRequest) -> Project | None:
    """The request's project as datarequest_list loaded it, or None (the reverse one-to-one raises)."""
    try:
        return data_request.project
    except Project.DoesNotExist:
        return None
