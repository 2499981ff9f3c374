"""Audits: the seeded coin per annotation, drawing audit samples by stratum, and recording a
reviewer's verdict on one."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

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


@transaction.atomic
def audit_sample_draw(*, project_id: int, share: float, seed: int = 0, actor: User | None = None) -> list[AuditSample]:
    """Draw annotations of a project for reviewers to audit; returns the new samples.

    Strata, in this order (an annotation is drawn once, in the first stratum that takes it):
    - `random`: each submitted annotation on a regular item with probability `share`, decided by a
      fixed coin per (annotation, seed): a plain random sample, so the project's audit accuracy
      is estimated from it alone, without bias;
    - `under_bar`: annotators whose gold accuracy is under the project's bar (after the minimum
      number of gold items) are topped up to TARGETED_SHARE_FACTOR × share of their annotations;
    - `new_annotator`: annotators with fewer than NEW_ANNOTATOR_ANNOTATIONS annotations, likewise;
    - `annotator_label`: every (annotator, label) cell is topped up to `share` of its annotations
      (at least one), so rare labels and light annotators are reviewed too.
    Idempotent: annotations already drawn are never drawn again and the top-ups count what was
    drawn before, so running it again with the same share and seed only draws new annotations.
    Concurrent draws of one project are serialised on the project row. Leads only (None: system).
    """
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise QuorumError(f"share: {share!r} is not a number above 0 and at most 1", field="share")
    project = project_get(project_id, lock=True)
    require_lead(actor, project)
    rows = list(regular_annotations(project.pk).order_by("id").values_list("id", "annotator_id", "labels"))
    if not rows:
        return []
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
            AuditSample.objects.filter(project_id=project.pk).values_list("annotation_id", flat=True), dtype=np.int64
        ),
    )
    stratum = np.full(len(ids), "", dtype=object)

    def take(rows_chosen: np.ndarray, name: str) -> None:
        rows_chosen = rows_chosen[~taken[rows_chosen]]
        taken[rows_chosen] = True
        stratum[rows_chosen] = name

    take(np.flatnonzero(seeded_uniform(ids, seed) < share), AuditSample.Stratum.RANDOM)
    rng = np.random.default_rng([int(seed), project.pk])

    def top_up(groups: np.ndarray, members: np.ndarray, rate: float, name: str) -> None:
        """Within each group (of the rows where `members`), draw until `rate` of its rows are taken."""
        rows_in = np.flatnonzero(members)
        order = rows_in[np.argsort(groups[rows_in], kind="stable")]
        bounds = np.flatnonzero(np.diff(groups[order])) + 1
        for in_group in np.split(order, bounds) if len(order) else []:  # a loop over groups
            need = math.ceil(rate * len(in_group) - 1e-9) - int(taken[in_group].sum())
            free = in_group[~taken[in_group]]
            if need > 0 and len(free):
                take(rng.choice(free, size=min(need, len(free)), replace=False), name)

    targeted = min(1.0, share * TARGETED_SHARE_FACTOR)
    gold = gold_accuracy(project_id=project.pk)
    under_bar = np.isin(annotators, [row["annotator_id"] for row in gold.annotators if row["flagged"]])
    top_up(annotators, under_bar, targeted, AuditSample.Stratum.UNDER_BAR)
    known, per_annotator = np.unique(annotators, return_counts=True)
    new = np.isin(annotators, known[per_annotator < NEW_ANNOTATOR_ANNOTATIONS])
    top_up(annotators, new, targeted, AuditSample.Stratum.NEW_ANNOTATOR)
    top_up(cells, np.ones(len(ids), dtype=bool), share, AuditSample.Stratum.ANNOTATOR_LABEL)

    drawn = np.flatnonzero(stratum != "")
    samples = [AuditSample(project_id=project.pk, annotation_id=int(ids[row]), stratum=stratum[row]) for row in drawn]
    return AuditSample.objects.bulk_create(samples, batch_size=2000)


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
        raise QuorumError(f"verdict: {verdict!r} is not one of {', '.join(Review.Verdict.values)}", field="verdict")
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
            raise QuorumError(
                f"error_cause: say why it is wrong, one of {', '.join(Review.ErrorCause.values)}", field="error_cause"
            )
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


def _as_list(labels: list[str] | str) -> list[str]:
    return [labels] if isinstance(labels, str) else list(labels)
