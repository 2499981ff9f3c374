"""The quality gate (do the project's bars hold?) and the root-cause view of its disagreement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model

from annotation.models import Guideline
from projects.models import Project
from quality.models import AgreementReport
from quality.selectors.accuracy import AuditAccuracy, GoldAccuracy, audit_accuracy, gold_accuracy
from quality.selectors.reports import agreement_report_is_stale, agreement_report_latest


@dataclass(frozen=True)
class GateCheck:
    name: str  # alpha, gold_accuracy, audit_accuracy
    threshold: float | None  # None: the project sets no bar, so the check passes
    value: float | None
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]  # why it fails; empty when it passes
    checks: list[GateCheck]


NO_REPORT = "no agreement report yet"
NO_GOLD = "no gold answers yet"
NO_AUDIT = "no reviewed audit samples in the random stratum yet"


def quality_gate(
    *,
    project_id: int,
    gold: GoldAccuracy | None = None,
    audit: AuditAccuracy | None = None,
    report: AgreementReport | None = None,
    annotation_state: dict[str, Any] | None = None,
) -> GateResult:
    """Do the project's quality bars hold? Each bar the project sets is checked:

    - alpha (the latest project-scope report's nominal alpha, point estimate) ≥ min_alpha; no
      report, an undefined alpha, or a report older than the latest annotations fail;
    - pooled gold accuracy ≥ min_gold_accuracy; no gold answers fail;
    - audit accuracy of the random stratum ≥ min_audit_accuracy; no reviewed random samples fail.
    A bar left empty passes (nothing to hold). Overrides are the delivery's business, not this.
    `gold`, `audit`, `report` (the latest project report) and `annotation_state`
    (project_annotation_state): what the caller already has (a page showing them too), else read.
    """
    project = Project.objects.get(pk=project_id)
    checks: list[GateCheck] = []
    if project.min_alpha is None:
        checks.append(GateCheck("alpha", None, None, True))
    else:
        report = report or agreement_report_latest(project_id=project_id)
        value = report.alpha if report else None
        if report is None:
            reason = NO_REPORT
        elif value is None:
            reason = f"alpha is undefined: {(report.details.get('alpha') or {}).get('reason') or 'no pairable items'}"
        elif agreement_report_is_stale(report, state=annotation_state):
            reason = (
                f"the agreement report of {report.computed_at:%Y-%m-%d %H:%M} is older than the latest annotations; "
                "recompute it"
            )
        elif value < project.min_alpha:
            reason = f"alpha {value:.3f} is under the bar {project.min_alpha:.3f}"
        else:
            reason = ""
        checks.append(GateCheck("alpha", project.min_alpha, value, not reason, reason))
    if project.min_gold_accuracy is None:
        checks.append(GateCheck("gold_accuracy", None, None, True))
    else:
        overall = (gold or gold_accuracy(project_id=project_id)).overall
        value = overall["accuracy"]
        if value is None:
            reason = NO_GOLD
        elif value < project.min_gold_accuracy:
            reason = (
                f"gold accuracy {value:.3f} is under the bar {project.min_gold_accuracy:.3f} ({overall['n']} answers)"
            )
        else:
            reason = ""
        checks.append(GateCheck("gold_accuracy", project.min_gold_accuracy, value, not reason, reason))
    if project.min_audit_accuracy is None:
        checks.append(GateCheck("audit_accuracy", None, None, True))
    else:
        overall = (audit or audit_accuracy(project_id=project_id)).overall
        value = overall["accuracy"]
        if value is None:
            reason = NO_AUDIT
        elif value < project.min_audit_accuracy:
            reason = (
                f"audit accuracy {value:.3f} is under the bar {project.min_audit_accuracy:.3f} "
                f"({overall['n']} reviewed random samples)"
            )
        else:
            reason = ""
        checks.append(GateCheck("audit_accuracy", project.min_audit_accuracy, value, not reason, reason))
    reasons = [check.reason for check in checks if not check.passed]
    return GateResult(passed=not reasons, reasons=reasons, checks=checks)


# --- Root cause -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RootCause:
    """Where the disagreement comes from, for the lead: which labels, which label pairs, which
    annotators, which error causes, and whether guideline versions helped."""

    report: AgreementReport | None
    labels: list[dict[str, Any]]  # per-label alpha, worst first
    confused_pairs: list[dict[str, Any]]
    annotators: list[dict[str, Any]]  # agreement, gold and audit accuracy; weakest first
    error_causes: list[dict[str, Any]]
    guideline_versions: list[dict[str, Any]]  # alpha under each version and the change from the one before


def root_cause(*, project_id: int) -> RootCause:
    """Gather the root-cause view from the latest project report, gold accuracy and reviews."""
    report = agreement_report_latest(project_id=project_id)
    details = report.details if report else {}
    per_label = details.get("per_label_alpha", {})
    labels = sorted(
        ({"key": key, "alpha": value} for key, value in per_label.items()),
        key=lambda row: (row["alpha"] is None, row["alpha"] if row["alpha"] is not None else 0.0),
    )
    gold_figures = gold_accuracy(project_id=project_id)
    audit = audit_accuracy(project_id=project_id)
    people: dict[int, dict[str, Any]] = {}

    def person(annotator_id: int) -> dict[str, Any]:
        return people.setdefault(
            annotator_id,
            {
                "annotator_id": annotator_id,
                "username": "",
                "agreement": None,
                "kappa": None,
                "n_annotations": 0,
                "gold_accuracy": None,
                "gold_n": 0,
                "gold_flagged": False,
                "audit_accuracy": None,
                "audit_n": 0,
            },
        )

    for row in details.get("annotators", []):
        entry = person(row["annotator_id"])
        entry.update(agreement=row.get("agreement"), kappa=row.get("kappa"), n_annotations=row.get("n_annotations", 0))
    for row in gold_figures.annotators:
        entry = person(row["annotator_id"])
        entry.update(gold_accuracy=row["accuracy"], gold_n=row["n"], gold_flagged=row["flagged"])
    for row in audit.annotators:
        entry = person(row["annotator_id"])
        entry.update(audit_accuracy=row["accuracy"], audit_n=row["n"])
    names = dict(get_user_model().objects.filter(pk__in=list(people)).values_list("pk", "username"))
    for annotator_id, entry in people.items():
        entry["username"] = names.get(annotator_id, "")

    def weakness(entry: dict[str, Any]) -> tuple:
        figures = [entry[name] for name in ("gold_accuracy", "audit_accuracy", "agreement") if entry[name] is not None]
        return (not entry["gold_flagged"], min(figures) if figures else 1.0, entry["annotator_id"])

    by_version = details.get("by_guideline_version", {})
    versions = []
    previous: float | None = None
    for guideline in Guideline.objects.filter(project_id=project_id).order_by("version"):
        figures = by_version.get(str(guideline.version)) or {}
        alpha = figures.get("alpha")
        versions.append(
            {
                "version": guideline.version,
                "published_at": guideline.created_at,
                "note": guideline.note,
                "alpha": alpha,
                "n_annotations": figures.get("n_annotations", 0),
                "alpha_before": previous,
                "change": alpha - previous if alpha is not None and previous is not None else None,
            }
        )
        if alpha is not None:
            previous = alpha
    return RootCause(
        report=report,
        labels=labels,
        confused_pairs=details.get("confused_pairs", []),
        annotators=sorted(people.values(), key=weakness),
        error_causes=audit.error_causes,
        guideline_versions=versions,
    )
