"""Data requests: filing one, its comment thread, and the lead's triage (accept, which creates
the project from the request, or reject)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from annotation.models import LabelSchema
from annotation.selectors import schema_version_current
from annotation.services import authoring
from annotation.validation import label_key_check
from core.errors import IllegalTransition, NotAllowed, QuorumError
from projects import access
from projects.models import DataRequest, Membership, Project, RequestComment
from projects.services import activity_record
from workbench.services.lifecycle import languages_clean, project_create

if TYPE_CHECKING:
    from accounts.models import User

# The longest comment on a data request, in characters (a message, not a document).
REQUEST_COMMENT_MAX_LENGTH = 5000


def _proposed_labels_clean(value: Any) -> list[dict[str, str]]:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise QuorumError("proposed_labels: give a list of {key, name, definition}", field="proposed_labels")
    cleaned, keys = [], set()
    for index, raw in enumerate(value):
        where = f"proposed_labels[{index}]"
        if not isinstance(raw, dict):
            raise QuorumError(f"{where}: expected an object with key, name and definition", field="proposed_labels")
        key = label_key_check(raw.get("key"), where=f"{where}.key")
        if key in keys:
            raise QuorumError(f"{where}.key: {key!r} is proposed twice", field="proposed_labels")
        keys.add(key)
        cleaned.append(
            {"key": key, "name": str(raw.get("name") or key)[:120], "definition": str(raw.get("definition") or "")}
        )
    return cleaned


def _volume_per_class_clean(
    volume_per_class: Any, *, volume_total: int, label_schema: LabelSchema | None, proposed: list[dict[str, str]]
) -> dict[str, int]:
    """The per-class volumes checked: keys name labels of the chosen schema (or of the proposed
    labels), counts are whole numbers, and they add up to no more than `volume_total`."""
    known_keys: set[str] | None = None
    if label_schema is not None:
        version = schema_version_current(schema_id=label_schema.pk)
        known_keys = set(version.labels.values_list("key", flat=True)) if version else set()
    elif proposed:
        known_keys = {label["key"] for label in proposed}
    per_class = volume_per_class or {}
    if not isinstance(per_class, dict):
        raise QuorumError("volume_per_class: give an object {label key: item count}", field="volume_per_class")
    for key, count in per_class.items():
        label_key_check(key, where=f"volume_per_class.{key}")
        if known_keys is not None and key not in known_keys:
            raise QuorumError(
                f"volume_per_class.{key}: {key!r} is not one of the requested labels", field="volume_per_class"
            )
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise QuorumError(
                f"volume_per_class.{key}: {count!r} is not a whole number, 0 or more", field="volume_per_class"
            )
    if isinstance(volume_total, int) and sum(per_class.values()) > volume_total:
        raise QuorumError(
            f"volume_per_class: the classes add up to {sum(per_class.values())}, more than volume_total ({volume_total})",
            field="volume_per_class",
        )
    return per_class


@transaction.atomic
def datarequest_create(
    *,
    requester: User,
    title: str,
    volume_total: int,
    deadline: date,
    description: str = "",
    purpose: str = "training",
    modality: str = "text",
    languages: list[str] | None = None,
    regions: list[str] | None = None,
    label_schema: LabelSchema | None = None,
    proposed_labels: list[dict[str, str]] | None = None,
    volume_per_class: dict[str, int] | None = None,
    sampling_notes: str = "",
    privacy_notes: str = "",
    min_alpha: float | None = None,
    min_gold_accuracy: float | None = None,
    priority: int = 2,
    today: date | None = None,
) -> DataRequest:
    """File a data request for the requester's team. Status starts at `submitted`.

    Checks: deadline not in the past; languages are codes; per-class volumes name labels of the
    chosen schema (or of the proposed labels) and add up to no more than the total.
    """
    if not access.can_file_request(requester):
        raise NotAllowed(f"{requester.username} may not file data requests (requesters and leads may)")
    today = today or timezone.localdate()
    if deadline is None or deadline < today:
        raise QuorumError(f"deadline: {deadline} is in the past", field="deadline")
    proposed = _proposed_labels_clean(proposed_labels)
    if label_schema is not None and proposed:
        raise QuorumError(
            "proposed_labels: give either an existing label_schema or proposed labels, not both",
            field="proposed_labels",
        )
    per_class = _volume_per_class_clean(
        volume_per_class, volume_total=volume_total, label_schema=label_schema, proposed=proposed
    )
    data_request = DataRequest(
        title=(title or "").strip(),
        description=description,
        requester=requester,
        team_id=requester.team_id,
        purpose=purpose,
        modality=modality,
        languages=languages_clean(languages, "languages"),
        regions=list(regions or []),
        label_schema=label_schema,
        proposed_labels=proposed,
        volume_total=volume_total,
        volume_per_class=per_class,
        sampling_notes=sampling_notes,
        privacy_notes=privacy_notes,
        deadline=deadline,
        min_alpha=min_alpha,
        min_gold_accuracy=min_gold_accuracy,
        priority=priority,
    )
    data_request.full_clean()
    data_request.save()
    activity_record(
        actor=requester,
        verb="request.submitted",
        summary=f"{requester.username} filed request “{data_request.title}”",
        data_request=data_request,
    )
    return data_request


def _lock_request(data_request: DataRequest) -> DataRequest:
    locked = DataRequest.objects.select_for_update().get(pk=data_request.pk)
    if locked.status != DataRequest.Status.SUBMITTED:
        raise IllegalTransition(
            f"request “{locked.title}” was already {locked.status}; only submitted requests can be accepted or rejected",
            field="status",
        )
    return locked


@transaction.atomic
def datarequest_accept(
    *, data_request: DataRequest, actor: User, lead: User | None = None, name: str | None = None
) -> Project:
    """Accept a submitted request and create its project, prefilled from the request.

    The requester becomes a `requester` member of the project so they can follow it.
    """
    if not access.can_triage_requests(actor):
        raise NotAllowed(f"{actor.username} may not triage data requests (leads may)")
    data_request = _lock_request(data_request)
    data_request.status = DataRequest.Status.ACCEPTED
    data_request.decided_by = actor
    data_request.decided_at = timezone.now()
    data_request.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    label_schema = data_request.label_schema or _proposed_schema_draft(data_request=data_request, actor=actor)
    project = project_create(
        actor=actor,
        name=name or data_request.title,
        lead=lead or actor,
        data_request=data_request,
        description=data_request.description,
        purpose=data_request.purpose,
        modality=data_request.modality,
        languages=data_request.languages,
        priority=data_request.priority,
        deadline=data_request.deadline,
        label_schema=label_schema,
        min_alpha=data_request.min_alpha,
        min_gold_accuracy=data_request.min_gold_accuracy,
    )
    Membership.objects.get_or_create(project=project, user=data_request.requester, role=Membership.Role.REQUESTER)
    activity_record(
        actor=actor,
        verb="request.accepted",
        summary=f"{actor.username} accepted request “{data_request.title}”",
        project=project,
        data_request=data_request,
    )
    return project


def _proposed_schema_draft(*, data_request: DataRequest, actor: User) -> LabelSchema | None:
    """A new label schema whose draft v1 holds the request's proposed labels (None when it
    proposed none): the lead edits and publishes it from the project's schema page."""
    proposed = data_request.proposed_labels or []
    if not proposed:
        return None
    labels = [
        {"key": label["key"], "name": label.get("name") or label["key"], "description": label.get("definition") or ""}
        for label in proposed
    ]
    draft = authoring.schema_draft_create(
        name=authoring.schema_unique_name(data_request.title),
        labels=labels,
        actor=actor,
        description=f"Proposed with the request “{data_request.title}”.",
        note="Labels proposed by the request",
    )
    return draft.schema


@transaction.atomic
def datarequest_reject(*, data_request: DataRequest, actor: User, reason: str) -> DataRequest:
    """Reject a submitted request with a reason the requester sees."""
    if not access.can_triage_requests(actor):
        raise NotAllowed(f"{actor.username} may not triage data requests (leads may)")
    reason = (reason or "").strip()
    if not reason:
        raise QuorumError("reason: say why the request is rejected; the requester reads it", field="reason")
    data_request = _lock_request(data_request)
    data_request.status = DataRequest.Status.REJECTED
    data_request.rejection_reason = reason
    data_request.decided_by = actor
    data_request.decided_at = timezone.now()
    data_request.save(update_fields=["status", "rejection_reason", "decided_by", "decided_at", "updated_at"])
    activity_record(
        actor=actor,
        verb="request.rejected",
        summary=f"{actor.username} rejected request “{data_request.title}”: {reason}",
        data_request=data_request,
    )
    return data_request


@transaction.atomic
def datarequest_delivered(*, request_id: int, delivered_at: datetime) -> bool:
    """Stamp request `request_id` delivered at `delivered_at`: the delivery build calls it in the
    transaction that marks a delivery of the request's project done (delivery stands above this
    floor, so it calls down). Its stage then reads delivered, whatever phase the project is in.
    The first done delivery's time stays; a later one changes nothing. True when it was stamped."""
    stamped = DataRequest.objects.filter(
        pk=request_id, status=DataRequest.Status.ACCEPTED, delivered_at__isnull=True
    ).update(delivered_at=delivered_at, updated_at=timezone.now())
    return bool(stamped)


@transaction.atomic
def request_comment_add(*, data_request: DataRequest, author: User, body: str) -> RequestComment:
    """Add a comment to a data request's thread; leads and the requesters of its team may.

    The body is stored as written (trimmed): it is user text, which pages escape like any other.
    Records a `request.commented` activity on the request, and on its project once accepted.
    """
    if not access.can_comment_on_request(author, data_request):
        raise NotAllowed(
            f"{author.username} may not comment on request “{data_request.title}” (leads and its team's requesters may)"
        )
    body = (body or "").strip()
    if not body:
        raise QuorumError("body: write something; an empty comment is not saved", field="body")
    if len(body) > REQUEST_COMMENT_MAX_LENGTH:
        raise QuorumError(
            f"body: {len(body)} characters, more than the {REQUEST_COMMENT_MAX_LENGTH} allowed", field="body"
        )
    comment = RequestComment(request=data_request, author=author, body=body)
    comment.full_clean()
    comment.save()
    activity_record(
        actor=author,
        verb="request.commented",
        summary=f"{author.username} commented on request “{data_request.title}”",
        data_request=data_request,
        project=Project.objects.filter(request=data_request).first(),
        data={"comment": comment.pk},
    )
    return comment
