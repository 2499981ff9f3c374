"""Audits: the seeded coin per annotation, drawing audit samples by stratum, and recording a
reviewer's verdict on one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import transaction

from annotation.models import LabelSchema
from annotation.validation import labels_chosen_check
from core.errors import NotAllowed, QuorumError
from projects.access import require_lead, require_reviewer
from quality.models import AuditSample, Review
from quality.selectors.accuracy import gold_accuracy
from quality.services.common import project_get, regular_annotations

if TYPE_CHECKING:
    from accounts.models import User

# Audits: annotators with fewer annotations than this in the project count as new.
NEW_ANNOTATOR_ANNOTATIONS = 100
# New annotators and those under the gold bar get this many times the project's audit share.
TARGETED_SHARE_FACTOR = 3.0


def seeded_uniform(ids: np.ndarray, seed: int) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per id (SplitMix64 of the id and the seed).

    The random stratum takes an annotation when its number is under the share: a coin flip per
    annotation that does not depend on when the draw runs, on the other strata or on how many
    annotations there are, so repeated draws agree and the stratum stays a plain random sample.
    Deliveries split items with it for the same reasons (delivery.services.plan.split_assign).
    """
    with np.errstate(over="ignore"):
        x = ids.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 64))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


# Strata in the order they draw (an annotation is drawn once, by the first stratum that takes it).
STRATA = (
    AuditSample.Stratum.RANDOM,
    AuditSample.Stratum.UNDER_BAR,
    AuditSample.Stratum.NEW_ANNOTATOR,
    AuditSample.Stratum.ANNOTATOR_LABEL,
)
# The random stratum alone estimates the project's audit accuracy, so it keeps at least this part
# of a draw that cannot give every stratum all it asks for (as far as it asks for that much).
RANDOM_PART = 0.5


@dataclass(frozen=True)
class AuditPlan:
    """What a draw takes, before it takes it (audit_sample_plan), or what it took.

    `target` = ⌈share × annotations⌉: the samples the project should have in all at this share;
    `to_draw` = target less those drawn before (never below 0). `strata` lists, per stratum in
    draw order, what it asks for (`wanted`) and what it is given (`planned`), which add up to
    `to_draw` unless the strata ask for less."""

    share: float
    seed: int
    annotations: int
    target: int
    drawn_before: int
    to_draw: int
    strata: list[dict[str, Any]]
    rows: dict[str, np.ndarray] = field(repr=False, compare=False)  # annotation ids per stratum

    @property
    def by_stratum(self) -> dict[str, int]:
        return {row["stratum"]: row["planned"] for row in self.strata if row["planned"]}

    @property
    def planned(self) -> int:
        return sum(row["planned"] for row in self.strata)


def stratum_allocation(wanted: dict[str, int], budget: int) -> dict[str, int]:
    """Share `budget` samples among strata that ask for `wanted` (in STRATA order), never giving a
    stratum more than it asks for nor more than `budget` in all. When they ask for no more than
    the budget, each gets what it asks. Otherwise: one each first (in draw order, while the budget
    lasts), then the random stratum is brought up to RANDOM_PART of the budget, then the rest is
    shared in proportion to what each still asks for (largest remainders; ties in draw order)."""
    budget = max(0, int(budget))
    wanted = {name: max(0, int(wanted.get(name, 0))) for name in STRATA}
    if sum(wanted.values()) <= budget:
        return wanted
    given = dict.fromkeys(STRATA, 0)
    left = budget
    for name in STRATA:
        if left and wanted[name]:
            given[name], left = 1, left - 1
    random_floor = min(wanted[AuditSample.Stratum.RANDOM], math.ceil(budget * RANDOM_PART))
    extra = min(left, max(0, random_floor - given[AuditSample.Stratum.RANDOM]))
    given[AuditSample.Stratum.RANDOM] += extra
    left -= extra
    need = {name: wanted[name] - given[name] for name in STRATA}
    total = sum(need.values())
    if left and total:
        exact = {name: left * need[name] / total for name in STRATA}
        share = {name: math.floor(exact[name]) for name in STRATA}
        rest = left - sum(share.values())
        for name in sorted(STRATA, key=lambda n: (-(exact[n] - share[n]), STRATA.index(n)))[:rest]:
            share[name] += 1
        for name in STRATA:
            given[name] += share[name]
    return given


def _audit_selection(
    *, project_id: int, share: float, seed: int, quotas: dict[str, int] | None
) -> tuple[int, int, dict[str, np.ndarray]]:
    """The annotations each stratum takes (ids per stratum), as many as each asks for when
    `quotas` is None, else at most its quota; with the total of regular annotations and the
    number drawn before. Deterministic in (share, seed, the annotations and the samples so far).

    - `random`: annotations whose fixed coin (seeded_uniform) is under the share; a quota keeps
      those with the smallest coins, so it stays a plain random sample of the annotations not
      drawn before and the project's audit accuracy is estimated from it alone, without bias;
    - `under_bar`: annotators whose gold accuracy is under the project's bar (after the minimum
      number of gold items) are topped up to TARGETED_SHARE_FACTOR × share of their annotations;
    - `new_annotator`: annotators with fewer than NEW_ANNOTATOR_ANNOTATIONS annotations, likewise;
    - `annotator_label`: every (annotator, label) cell is topped up to `share` of its annotations
      (at least one), so rare labels and light annotators are reviewed too.
    A top-up under a quota takes one annotation per group in turn (annotator, or cell), so a
    short quota still reaches as many groups as it can.
    """
    rows = list(regular_annotations(project_id).order_by("id").values_list("id", "annotator_id", "labels"))
    drawn_before = AuditSample.objects.filter(project_id=project_id).count()
    if not rows:
        return 0, drawn_before, {name: np.array([], dtype=np.int64) for name in STRATA}
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    annotators = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
    # The (annotator, label) cell of each annotation; a multi-choice answer counts under its first key.
    label_codes: dict[str, int] = {}
    first_labels = np.fromiter(
        (label_codes.setdefault(min(row[2]) if row[2] else "", len(label_codes)) for row in rows),
        dtype=np.int64,
        count=len(rows),
    )
    cells = annotators * (len(label_codes) + 1) + first_labels
    taken = np.isin(
        ids,
        np.fromiter(
            AuditSample.objects.filter(project_id=project_id).values_list("annotation_id", flat=True), dtype=np.int64
        ),
    )
    chosen: dict[str, np.ndarray] = {}

    def quota(name: str) -> int | None:
        return None if quotas is None else quotas.get(name, 0)

    def take(rows_chosen: np.ndarray, name: str) -> None:
        rows_chosen = rows_chosen[~taken[rows_chosen]]
        limit = quota(name)
        if limit is not None:
            rows_chosen = rows_chosen[:limit]
        taken[rows_chosen] = True
        chosen[name] = ids[rows_chosen]

    coins = seeded_uniform(ids, seed)
    under = np.flatnonzero(coins < share)
    take(under[np.argsort(coins[under], kind="stable")], AuditSample.Stratum.RANDOM)
    rng = np.random.default_rng([int(seed), project_id])

    def top_up(groups: np.ndarray, members: np.ndarray, rate: float, name: str) -> None:
        """Within each group (of the rows where `members`), draw until `rate` of its rows are
        taken; the picks are taken one per group in turn (first picks of every group, then
        second picks, ...)."""
        rows_in = np.flatnonzero(members)
        order = rows_in[np.argsort(groups[rows_in], kind="stable")]
        bounds = np.flatnonzero(np.diff(groups[order])) + 1
        picks: list[np.ndarray] = []
        for in_group in np.split(order, bounds) if len(order) else []:  # a loop over groups
            need = math.ceil(rate * len(in_group) - 1e-9) - int(taken[in_group].sum())
            free = in_group[~taken[in_group]]
            if need > 0 and len(free):
                picks.append(rng.choice(free, size=min(need, len(free)), replace=False))
        turns = [
            group[turn]
            for turn in range(max((len(g) for g in picks), default=0))
            for group in picks
            if turn < len(group)
        ]
        take(np.asarray(turns, dtype=np.int64), name)

    targeted = min(1.0, share * TARGETED_SHARE_FACTOR)
    gold = gold_accuracy(project_id=project_id)
    under_bar = np.isin(annotators, [row["annotator_id"] for row in gold.annotators if row["flagged"]])
    top_up(annotators, under_bar, targeted, AuditSample.Stratum.UNDER_BAR)
    known, per_annotator = np.unique(annotators, return_counts=True)
    new = np.isin(annotators, known[per_annotator < NEW_ANNOTATOR_ANNOTATIONS])
    top_up(annotators, new, targeted, AuditSample.Stratum.NEW_ANNOTATOR)
    top_up(cells, np.ones(len(ids), dtype=bool), share, AuditSample.Stratum.ANNOTATOR_LABEL)
    return len(rows), drawn_before, chosen


def _share_check(share: Any) -> float:
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise QuorumError(f"share: {share!r} is not a number above 0 and at most 1", field="share")
    return float(share)


def _audit_plan(*, project_id: int, share: float, seed: int) -> AuditPlan:
    annotations, drawn_before, wanted_rows = _audit_selection(
        project_id=project_id, share=share, seed=seed, quotas=None
    )
    target = math.ceil(share * annotations - 1e-9) if annotations else 0
    to_draw = max(0, target - drawn_before)
    wanted = {name: len(wanted_rows.get(name, ())) for name in STRATA}
    given = stratum_allocation(wanted, to_draw)
    if given == wanted:
        rows = wanted_rows
    else:
        _, _, rows = _audit_selection(project_id=project_id, share=share, seed=seed, quotas=given)
    names = dict(AuditSample.Stratum.choices)
    strata = [
        {"stratum": name, "name": names[name], "wanted": wanted[name], "planned": len(rows.get(name, ()))}
        for name in STRATA
    ]
    return AuditPlan(
        share=share,
        seed=seed,
        annotations=annotations,
        target=target,
        drawn_before=drawn_before,
        to_draw=to_draw,
        strata=strata,
        rows={name: rows.get(name, np.array([], dtype=np.int64)) for name in STRATA},
    )


def audit_sample_plan(*, project_id: int, share: float, seed: int = 0, actor: User | None = None) -> AuditPlan:
    """What audit_sample_draw would draw now with this share and seed, per stratum, without
    drawing (the lead's preview and the API's dry run). Leads only (None: system)."""
    share = _share_check(share)
    project = project_get(project_id)
    require_lead(actor, project)
    return _audit_plan(project_id=project.pk, share=share, seed=seed)


def audit_plan_data(plan: AuditPlan, *, drawn: int, dry_run: bool) -> dict[str, Any]:
    """A plan as the API and the page show it (plain data, no annotation ids)."""
    return {
        "dry_run": dry_run,
        "drawn": drawn,
        "planned": plan.planned,
        "by_stratum": plan.by_stratum,
        "annotations": plan.annotations,
        "target": plan.target,
        "drawn_before": plan.drawn_before,
        "strata": [dict(row) for row in plan.strata],
    }


def audit_sample_draw(*, project_id: int, share: float, seed: int = 0, actor: User | None = None) -> list[AuditSample]:
    """Draw annotations of a project for reviewers to audit; returns the new samples (see
    audit_sample_draw_planned)."""
    return audit_sample_draw_planned(project_id=project_id, share=share, seed=seed, actor=actor)[1]


@transaction.atomic
def audit_sample_draw_planned(
    *, project_id: int, share: float, seed: int = 0, actor: User | None = None
) -> tuple[AuditPlan, list[AuditSample]]:
    """Draw annotations of a project for reviewers to audit; returns the plan it followed and the
    new samples.

    The share means what it says: after the draw the project has ⌈share × its regular
    annotations⌉ samples in all (or more, if an earlier draw had a larger share). Those are
    shared among the strata by stratum_allocation (every stratum that asks gets one, the random
    stratum at least RANDOM_PART, the rest in proportion to what each asks for); what each stratum
    asks for, and which annotations it takes, is _audit_selection's. audit_sample_plan shows the
    same numbers before drawing.
    Idempotent: annotations already drawn are never drawn again and the total counts what was
    drawn before, so running it again with the same share and seed draws only for new annotations.
    Concurrent draws of one project are serialised on the project row. Leads only (None: system).
    """
    share = _share_check(share)
    project = project_get(project_id, lock=True)
    require_lead(actor, project)
    plan = _audit_plan(project_id=project.pk, share=share, seed=seed)
    samples = [
        AuditSample(project_id=project.pk, annotation_id=int(annotation_id), stratum=name)
        for name in STRATA
        for annotation_id in plan.rows[name]
    ]
    return plan, AuditSample.objects.bulk_create(samples, batch_size=2000)


@transaction.atomic
def review_record(
    *,
    sample: AuditSample,
    reviewer: User,
    verdict: str,
    correct_labels: list[str] | str | None = None,
    error_cause: str = "",
    note: str = "",
) -> Review:
    """Record a reviewer's verdict on an audit sample, and mark the sample reviewed.

    Invariants: the reviewer is a reviewer (or lead) of the project, not the annotation's author,
    and the one the sample is assigned to if it is assigned; one review per sample (recording the
    same verdict again returns the stored review; a different one is refused). A correct verdict
    has no error cause and keeps the annotation's labels; an incorrect one names the cause and
    the right labels (checked against the annotation's schema version), which differ from the
    annotation's.
    """
    sample = (
        AuditSample.objects.select_for_update(of=("self",))
        .select_related("project", "annotation__schema_version__schema")
        .get(pk=sample.pk)
    )
    annotation = sample.annotation
    require_reviewer(reviewer, sample.project)
    if annotation.annotator_id == reviewer.pk:
        raise NotAllowed(f"{reviewer.username} wrote annotation {annotation.pk}; another reviewer audits it")
    existing = Review.objects.filter(sample=sample).select_related("reviewer").first()
    if existing is None and sample.reviewer_id is not None and sample.reviewer_id != reviewer.pk:
        raise NotAllowed(f"audit sample {sample.pk} is assigned to another reviewer")
    if verdict not in Review.Verdict.values:
        given = f"{verdict!r} is not a verdict" if verdict else "no verdict given"
        raise QuorumError(f"verdict: {given}; choose correct or incorrect", field="verdict")
    error_cause = error_cause or ""
    if verdict == Review.Verdict.CORRECT:
        if error_cause:
            raise QuorumError("error_cause: a correct annotation has no error cause", field="error_cause")
        if correct_labels not in (None, "", []) and sorted(_as_list(correct_labels)) != sorted(annotation.labels):
            raise QuorumError(
                f"correct_labels: a correct verdict keeps the annotation's labels {annotation.labels!r}",
                field="correct_labels",
            )
        labels = list(annotation.labels)
    else:
        if error_cause not in Review.ErrorCause.values:
            given = f"{error_cause!r} is not a cause" if error_cause else "no cause given"
            raise QuorumError(f"error_cause: say why it is wrong ({given}): {error_cause_names()}", field="error_cause")
        version = annotation.schema_version
        labels = labels_chosen_check(
            correct_labels,
            allowed=version.labels.values_list("key", flat=True),
            multi=version.schema.selection == LabelSchema.Selection.MULTI,
            where="correct_labels",
            none_option=version.schema.none_option,
        )
        if sorted(labels) == sorted(annotation.labels):
            raise QuorumError(
                "correct_labels: these are the annotation's own labels; give the right ones, or a correct verdict",
                field="correct_labels",
            )
    if existing is not None:
        same = (existing.reviewer_id, existing.verdict, sorted(existing.correct_labels), existing.error_cause) == (
            reviewer.pk,
            verdict,
            sorted(labels),
            error_cause,
        )
        if same:
            return existing
        raise QuorumError(
            f"audit sample {sample.pk} was already reviewed by {existing.reviewer.username} ({existing.verdict})",
            field="sample",
        )
    review = Review(
        sample=sample,
        annotation=annotation,
        reviewer=reviewer,
        verdict=verdict,
        correct_labels=labels,
        error_cause=error_cause,
        note=(note or "").strip(),
    )
    review.full_clean()
    review.save()
    sample.status = AuditSample.Status.REVIEWED
    sample.reviewer = reviewer
    sample.save(update_fields=["status", "reviewer"])
    return review


def error_cause_names() -> str:
    """The error causes as a reviewer reads them: “The guideline does not cover it”, “Misread the
    content”, … or “Tool problem” (the stored values are for programs; the API schema lists them)."""
    names = [f"“{label}”" for label in Review.ErrorCause.labels]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _as_list(labels: list[str] | str) -> list[str]:
    return [labels] if isinstance(labels, str) else list(labels)
