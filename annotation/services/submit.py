"""An annotator's submit: the labels recorded for their assignment, which closes it, and the
item's counters and dynamic overlap. The hot path of every annotator, so it reads and writes with
annotation.sql's statements."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import Annotation, Assignment, Item, LabelSchema
from annotation.selectors import in_force_from_row
from annotation.sql import SUBMIT_ITEM_COLUMNS, submit_state_sql, submit_write_sql
from annotation.validation import labels_chosen_check
from core.errors import NotAllowed, QuorumError
from core.rows import row_instance
from projects.models import Project

if TYPE_CHECKING:
    from accounts.models import User


@transaction.atomic
def annotation_submit(
    *, assignment: Assignment, labels: list[str] | str, actor: User, time_spent_ms: int = 0, comment: str = "", now=None
) -> Annotation:
    """Record `actor`'s labels for their assignment and close it.

    Labels are checked against the schema version in force; the schema and guideline versions
    are recorded with the annotation. Submitting the same assignment again returns the stored
    annotation unchanged (idempotent double submit). A lease that lapsed is still accepted while
    the item has a free slot; otherwise the refusal says so. When the item's first annotations
    disagree beyond the project's threshold, its overlap grows by one (up to the maximum).
    Only `assignment.pk` is read: the row is locked and read again (Assignment.DoesNotExist
    when there is none).

    The hot path of every annotator, so it is plain SQL: one statement locks the assignment and
    its item and reads what the checks need (with what is in force), one writes the annotation,
    the assignment and the item's counters (three on SQLite).
    """
    now = now or timezone.now()
    state = _submit_state_locked(assignment_id=assignment.pk)
    if state["annotator_id"] != actor.pk:
        raise NotAllowed("this assignment belongs to another annotator")
    if state["annotation_id"] is not None:
        return Annotation.objects.select_related("item", "annotator").get(pk=state["annotation_id"])
    if state["status"] == Assignment.Status.SKIPPED:
        raise QuorumError(f"assignment {assignment.pk}: you skipped this item", field="assignment")
    project, item = state["project"], state["item"]
    if state["status"] == Assignment.Status.EXPIRED and not item.is_gold:
        if item.assigned_count >= item.required_annotations:
            raise QuorumError(
                f"item {item.external_id!r}: your lease expired and its {item.required_annotations} slots were "
                "taken meanwhile; your answer was not recorded",
                field="assignment",
            )
        item.assigned_count += 1
    in_force = state["in_force"]
    version = in_force.schema_version
    if version is None:
        raise QuorumError(f"project {project.name!r} has no label schema", field="labels")
    allowed = [label.key for label in in_force.labels]
    schema = version.schema
    chosen = labels_chosen_check(
        labels, allowed=allowed, multi=schema.selection == LabelSchema.Selection.MULTI, none_option=schema.none_option
    )
    if not isinstance(time_spent_ms, int) or isinstance(time_spent_ms, bool) or time_spent_ms < 0:
        raise QuorumError("time_spent_ms: give a whole number of milliseconds, 0 or more", field="time_spent_ms")
    annotation = row_instance(  # the row about to be written (its id once it is)
        Annotation,
        {
            "assignment_id": assignment.pk,
            "project_id": project.pk,
            "item_id": item.pk,
            "annotator_id": actor.pk,
            "labels": chosen,
            "schema_version_id": version.pk,
            "guideline_id": in_force.guideline.pk if in_force.guideline else None,
            "time_spent_ms": time_spent_ms,
            "comment": comment,
            "submitted_at": now,
        },
    )
    annotation._state.fields_cache.update(item=item, annotator=actor, schema_version=version)
    if not item.is_gold:
        item.annotations_done += 1
        item.required_annotations = _overlap_after(item=item, project=project, pending=chosen)
    annotation.pk = _submit_write(annotation=annotation, item=item, now=now)
    return annotation


def _submit_state_locked(*, assignment_id: int) -> dict[str, Any]:
    """One statement: the assignment and its item, locked (in that order, as everywhere: lease
    before item), the project's settings that submit reads, an existing annotation, and what is
    in force. PostgreSQL locks the two rows; SQLite's IMMEDIATE transaction holds the database."""

    with connection.cursor() as cursor:
        cursor.execute(submit_state_sql(connection.vendor), [assignment_id])
        row = cursor.fetchone()
    if row is None:
        raise Assignment.DoesNotExist(f"assignment {assignment_id} does not exist")
    annotator_id, status, project_id, name, threshold, max_overlap, annotation_id = row[:7]
    item_values = dict(zip(SUBMIT_ITEM_COLUMNS, row[7 : 7 + len(SUBMIT_ITEM_COLUMNS)], strict=True))
    item_values["is_gold"] = bool(item_values["is_gold"])  # SQLite answers 0/1
    item = row_instance(Item, item_values)
    project = row_instance(
        Project, {"id": project_id, "name": name, "dynamic_overlap_threshold": threshold, "max_overlap": max_overlap}
    )
    return {
        "annotator_id": annotator_id,
        "status": status,
        "annotation_id": annotation_id,
        "project": project,
        "item": item,
        "in_force": in_force_from_row(project_id=project_id, row=row[7 + len(SUBMIT_ITEM_COLUMNS) :]),
    }


def _submit_write(*, annotation: Annotation, item: Item, now) -> int:
    """Insert the annotation, close the assignment and store the item's counters; the new id.
    (The caller holds the assignment and item locks.)"""
    postgres = connection.vendor == "postgresql"
    stamp = now if postgres else connection.ops.adapt_datetimefield_value(now)
    values = [
        annotation.assignment_id,
        annotation.project_id,
        item.pk,
        annotation.annotator_id,
        orjson.dumps(annotation.labels).decode(),
        annotation.schema_version_id,
        annotation.guideline_id,
        annotation.time_spent_ms,
        annotation.comment,
        stamp,
    ]
    close_params = [Assignment.Status.SUBMITTED, stamp, annotation.assignment_id]
    count_params = (
        [] if item.is_gold else [item.assigned_count, item.annotations_done, item.required_annotations, item.pk]
    )
    statements = submit_write_sql(connection.vendor, item.is_gold)
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(statements[0], [*close_params, *count_params, *values])
            return cursor.fetchone()[0]
        insert, close, *count = statements
        cursor.execute(insert, values)
        annotation_id = cursor.fetchone()[0]
        cursor.execute(close, close_params)
        if count:
            cursor.execute(count[0], count_params)
        return annotation_id


def _overlap_after(*, item: Item, project: Project, pending: list[str]) -> int:
    """Dynamic overlap: once all current slots are answered, one more if the answers disagree.
    `pending` is the answer being submitted (not stored yet)."""
    threshold = project.dynamic_overlap_threshold
    if (
        threshold <= 0
        or item.annotations_done < item.required_annotations
        or item.required_annotations >= project.max_overlap
    ):
        return item.required_annotations
    stored = Annotation.objects.filter(item_id=item.pk).values_list("labels", flat=True)
    answers = [tuple(sorted(labels)) for labels in [*stored, pending]]
    top_share = Counter(answers).most_common(1)[0][1] / len(answers)
    return item.required_annotations + 1 if top_share < threshold else item.required_annotations
