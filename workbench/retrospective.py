"""The project retrospective: what was planned against what happened, as a page and as Markdown.

`retrospective_get` gathers it (reads only: milestones, phase transitions, the daily rollups,
the stored agreement reports, audit reviews and blockers); `retrospective_markdown` renders it as
text (pure); `project_lessons_update` is the one write, the lead's lessons.

Phases carry no planned dates in Quorum: a phase's plan is the milestone the lead planned for it,
so the report shows milestones planned against reached, and each phase's actual span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Max, Min, Sum
from django.utils import timezone

from projects import access
from projects.models import Blocker, DailyRollup, Project
from projects.services import activity_record
from quality.models import AgreementReport, Review
from quality.selectors.accuracy import audit_accuracy
from workbench.rollups import histogram_add, histogram_quantile

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True)
class Retrospective:
    project: Project
    generated_at: datetime
    milestones: list[dict[str, Any]]
    phases: list[dict[str, Any]]
    throughput: dict[str, Any]
    quality: dict[str, Any]
    alpha_trend: list[dict[str, Any]]
    blockers: list[dict[str, Any]]
    error_causes: list[dict[str, Any]] = field(default_factory=list)


def _phases(project: Project, now: datetime) -> list[dict[str, Any]]:
    """Each stay in a phase: entered, left (None while in it) and days, from the transitions."""
    stays = []
    entered = project.created_at
    for move in project.transitions.order_by("created_at", "id"):
        stays.append({"phase": Project.Phase(move.from_phase).label, "entered": entered, "left": move.created_at})
        entered = move.created_at
    stays.append({"phase": Project.Phase(project.phase).label, "entered": entered, "left": None})
    for stay in stays:
        stay["days"] = round(((stay["left"] or now) - stay["entered"]).total_seconds() / 86400, 1)
    return stays


def _throughput(project: Project) -> dict[str, Any]:
    rows = list(DailyRollup.objects.filter(project=project).values_list("day", "annotations", "time_histogram"))
    totals = DailyRollup.objects.filter(project=project).aggregate(
        annotations=Sum("annotations"), items=Sum("items_completed"), first=Min("day"), last=Max("day")
    )
    active = [(day, count) for day, count, _ in rows if count]
    histogram: list[int] = []
    for _day, _count, day_histogram in rows:
        histogram = histogram_add(histogram, day_histogram or [])
    span = (totals["last"] - totals["first"]).days + 1 if totals["first"] else 0
    best = max(active, key=lambda pair: pair[1]) if active else None
    median = histogram_quantile(histogram, 0.5)
    return {
        "annotations": totals["annotations"] or 0,
        "items_completed": totals["items"] or 0,
        "first_day": totals["first"],
        "last_day": totals["last"],
        "active_days": len(active),
        "per_active_day": round((totals["annotations"] or 0) / len(active), 1) if active else None,
        "per_calendar_day": round((totals["annotations"] or 0) / span, 1) if span else None,
        "best_day": best,
        "median_seconds": round(median / 1000, 1) if median is not None else None,
    }


def _blockers(project: Project, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for blocker in project.blockers.select_related("owner").order_by("opened_at", "id"):
        end = blocker.resolved_at or now
        rows.append(
            {
                "title": blocker.title,
                "kind": blocker.get_kind_display(),
                "severity": blocker.get_severity_display(),
                "rule": blocker.rule,
                "owner": blocker.owner.display_name if blocker.owner else "",
                "opened_at": blocker.opened_at,
                "resolved_at": blocker.resolved_at,
                "resolution": blocker.resolution,
                "days": round((end - blocker.opened_at).total_seconds() / 86400, 1),
                "open": blocker.status == Blocker.Status.OPEN,
            }
        )
    return rows


def retrospective_get(*, project: Project, now: datetime | None = None) -> Retrospective:
    """Gather the retrospective of `project` (the caller has checked the user may see it)."""
    now = now or timezone.now()
    trend = list(
        AgreementReport.objects.filter(
            project=project, scope=AgreementReport.Scope.PROJECT, scope_key="", window_start__isnull=True
        )
        .order_by("computed_at", "id")
        .values("computed_at", "alpha", "alpha_low", "alpha_high", "n_annotations")
    )
    gold = DailyRollup.objects.filter(project=project).aggregate(n=Sum("gold_answered"), correct=Sum("gold_correct"))
    audit = audit_accuracy(project_id=project.pk)
    labels = dict(Review.ErrorCause.choices)
    causes = [{**row, "label": labels.get(row["cause"], row["cause"])} for row in audit.error_causes[:5]]
    milestones = [
        {
            "name": milestone.name,
            "planned": milestone.planned_date,
            "actual": milestone.actual_date,
            "slip_days": milestone.slip_days,
        }
        for milestone in project.milestones.order_by("planned_date", "id")
    ]
    return Retrospective(
        project=project,
        generated_at=now,
        milestones=milestones,
        phases=_phases(project, now),
        throughput=_throughput(project),
        quality={
            "alpha": trend[-1]["alpha"] if trend else None,
            "alpha_first": trend[0]["alpha"] if trend else None,
            "min_alpha": project.min_alpha,
            "gold_n": gold["n"] or 0,
            "gold_accuracy": (gold["correct"] or 0) / gold["n"] if gold["n"] else None,
            "min_gold_accuracy": project.min_gold_accuracy,
            "audit_n": audit.overall["n"],
            "audit_accuracy": audit.overall["accuracy"],
            "min_audit_accuracy": project.min_audit_accuracy,
        },
        alpha_trend=trend,
        blockers=_blockers(project, now),
        error_causes=causes,
    )


# Names and titles are typed in by people (a project's, a milestone's, a blocker's, a user's), and
# a Markdown viewer renders raw HTML and links: `<img src=x onerror=...>` or `[here](javascript:...)`
# in a title would be live in the download. Text from the database is escaped to plain text: HTML's
# three characters as entities, Markdown's link brackets and backslash with a backslash, and the
# pipe and line breaks, which would end a table cell or row.
_MARKDOWN_TEXT = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "\\": "\\\\",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
        "\r": " ",
        "\n": " ",
    }
)
# The lead's lessons are Markdown (lists, emphasis, links stay), but not HTML.
_NO_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _cell(value: Any) -> str:
    """Text from the database as plain Markdown text (a table cell or a phrase): no raw HTML, no
    links, nothing that ends the cell or the row."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, date):
        value = value.isoformat()
    return str(value).translate(_MARKDOWN_TEXT)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _markdown_milestones(retro: Retrospective) -> list[str]:
    rows = [
        f"| {_cell(m['name'])} | {_cell(m['planned'])} | {_cell(m['actual'])} | {_cell(m['slip_days'])} |"
        for m in retro.milestones
    ] or ["| — | — | — | — |"]
    return [
        "## Milestones: planned against reached",
        "",
        "| Milestone | Planned | Reached | Slip (days) |",
        "|---|---|---|---|",
        *rows,
    ]


def _markdown_phases(retro: Retrospective) -> list[str]:
    rows = [
        f"| {p['phase']} | {_cell(p['entered'])} | {_cell(p['left']) if p['left'] else 'now'} | {p['days']} |"
        for p in retro.phases
    ]
    return ["## Phases", "", "| Phase | Entered | Left | Days |", "|---|---|---|---|", *rows]


def _markdown_throughput(retro: Retrospective) -> list[str]:
    t = retro.throughput
    best = f"{t['best_day'][1]} on {t['best_day'][0]}" if t["best_day"] else "—"
    return [
        "## Throughput",
        "",
        f"- Annotations: {t['annotations']} (items completed: {t['items_completed']})",
        f"- From {_cell(t['first_day'])} to {_cell(t['last_day'])}: {t['active_days']} active days, "
        f"{_cell(t['per_active_day'])} per active day, {_cell(t['per_calendar_day'])} per calendar day",
        f"- Best day: {best}",
        f"- Median handling time: {_cell(t['median_seconds'])} s",
    ]


def _markdown_quality(retro: Retrospective) -> list[str]:
    q = retro.quality
    trend = [
        f"| {_cell(r['computed_at'])} | {_num(r['alpha'])} | {_num(r['alpha_low'])} – {_num(r['alpha_high'])} "
        f"| {r['n_annotations']} |"
        for r in retro.alpha_trend
    ] or ["| — | — | — | — |"]
    causes = [f"- {_cell(c['label'])}: {c['n']} ({c['share']:.0%} of the errors)" for c in retro.error_causes] or [
        "- None recorded."
    ]
    return [
        "## Quality",
        "",
        f"- Krippendorff's alpha: {_num(q['alpha'])} (first report {_num(q['alpha_first'])}; bar {_num(q['min_alpha'], 2)})",
        f"- Gold accuracy: {_pct(q['gold_accuracy'])} over {q['gold_n']} answers (bar {_pct(q['min_gold_accuracy'])})",
        f"- Audit accuracy (random stratum): {_pct(q['audit_accuracy'])} over {q['audit_n']} reviews "
        f"(bar {_pct(q['min_audit_accuracy'])})",
        "",
        "### Alpha trend",
        "",
        "| Computed | Alpha | 95% interval | Annotations |",
        "|---|---|---|---|",
        *trend,
        "",
        "### Top audit error causes",
        "",
        *causes,
    ]


def _markdown_blockers(retro: Retrospective) -> list[str]:
    rows = [
        f"| {_cell(b['title'])} | {b['kind']} | {b['severity']} | {_cell(b['opened_at'])} | "
        f"{_cell(b['resolved_at']) if not b['open'] else 'open'} | {b['days']}{' so far' if b['open'] else ''} "
        f"| {_cell(b['resolution'])} |"
        for b in retro.blockers
    ] or ["| — | — | — | — | — | — | — |"]
    return [
        "## Blockers and risks",
        "",
        "| Title | Kind | Severity | Opened | Resolved | Days to resolve | Resolution |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]


def retrospective_markdown(retro: Retrospective) -> str:
    """The retrospective as a Markdown document, one section after another. Pure."""
    project = retro.project
    out = [
        f"# Retrospective: {_cell(project.name)}",
        "",
        f"Generated {retro.generated_at:%Y-%m-%d %H:%M} UTC. Phase: {project.get_phase_display()}. "
        f"Deadline: {_cell(project.deadline)}. Lead: {_cell(project.lead.display_name)}.",
        "",
        *_markdown_milestones(retro),
        "",
        *_markdown_phases(retro),
        "",
        *_markdown_throughput(retro),
        "",
        *_markdown_quality(retro),
        "",
        *_markdown_blockers(retro),
        "",
        "## Lessons",
        "",
        project.lessons.strip().translate(_NO_HTML) or "_None written yet._",
        "",
    ]
    return "\n".join(out)


@transaction.atomic
def project_lessons_update(*, project: Project, lessons: str, actor: User) -> Project:
    """Store the lead's lessons for the retrospective (replacing the previous text) and log it."""
    access.require_lead(actor, project)
    project.lessons = (lessons or "").strip()
    project.full_clean()
    project.save(update_fields=["lessons", "updated_at"])
    activity_record(
        actor=actor, verb="project.lessons", project=project, summary=f"{actor.username} wrote the lessons learned"
    )
    return project
