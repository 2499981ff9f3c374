"""Every write of the projects app: data requests, projects and their phases, membership,
milestones, blockers and risks. Each function checks the actor's role, validates, applies the
change atomically and writes one line to the activity log."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from annotation.models import Annotation, Item, LabelSchema
from annotation.selectors import guideline_current, schema_version_current
from annotation.validation import label_key_check
from core.errors import IllegalTransition, NotAllowed, QuorumError
from projects import access
from projects.models import (
    LANGUAGE_CODE_RE,
    Blocker,
    DataRequest,
    Membership,
    Milestone,
    PhaseTransition,
    Project,
    RequestComment,
)
from projects.services import activity_record

if TYPE_CHECKING:
    from accounts.models import User

Phase = Project.Phase
# The main line of a project's life; a project may also step back one phase for rework, and go
# on hold from any phase before delivery (returning only to the phase it left).
PHASE_LINE = [Phase.REQUIREMENTS, Phase.DESIGN, Phase.PILOT, Phase.PRODUCTION, Phase.QA, Phase.DELIVERED, Phase.CLOSED]
REWORKABLE = {Phase.DESIGN, Phase.PILOT, Phase.PRODUCTION, Phase.QA}
HOLDABLE = {Phase.REQUIREMENTS, Phase.DESIGN, Phase.PILOT, Phase.PRODUCTION, Phase.QA}


# The settings a lead chooses for a project (its phase moves only through project_transition).
PROJECT_SETTINGS = (
    "description",
    "purpose",
    "modality",
    "languages",
    "priority",
    "deadline",
    "label_schema",
    "min_alpha",
    "min_gold_accuracy",
    "min_audit_accuracy",
    "gold_min_items",
    "pause_below_gold_bar",
    "default_overlap",
    "max_overlap",
    "gold_rate",
    "lease_minutes",
    "dynamic_overlap_threshold",
    "require_language_match",
    "blur_media",
    "graphic_daily_cap",
    "break_reminder_minutes",
)


# --- Data requests ----------------------------------------------------------------------------


def _languages_clean(value: Any, field: str) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        raise QuorumError(f"{field}: give a list of language codes such as ['en', 'pt-BR']", field=field)
    codes = []
    for index, code in enumerate(value):
        if not isinstance(code, str) or not re.match(LANGUAGE_CODE_RE, code):
            raise QuorumError(f"{field}[{index}]: {code!r} is not a language code such as 'en' or 'pt-BR'", field=field)
        codes.append(code)
    return codes


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
    data_request = DataRequest(
        title=(title or "").strip(),
        description=description,
        requester=requester,
        team_id=requester.team_id,
        purpose=purpose,
        modality=modality,
        languages=_languages_clean(languages, "languages"),
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
        label_schema=data_request.label_schema,
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


# The longest comment on a data request, in characters (a message, not a document).
REQUEST_COMMENT_MAX_LENGTH = 5000


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


# --- Projects ---------------------------------------------------------------------------------


@transaction.atomic
def project_create(
    *, actor: User, name: str, lead: User, data_request: DataRequest | None = None, **fields: Any
) -> Project:
    """Create a project in `requirements`, led by `lead` (who becomes its lead member)."""
    if not access.can_create_project(actor):
        raise NotAllowed(f"{actor.username} may not create projects (leads may)")
    if not lead.is_lead:
        raise QuorumError(f"lead: {lead.username} is not a project lead", field="lead")
    unknown = set(fields) - set(PROJECT_SETTINGS)
    if unknown:
        raise QuorumError(f"unknown project field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    if "languages" in fields:
        fields["languages"] = _languages_clean(fields["languages"], "languages")
    project = Project(
        name=(name or "").strip(), lead=lead, request=data_request, phase_changed_at=timezone.now(), **fields
    )
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=lead, role=Membership.Role.LEAD)
    activity_record(
        actor=actor,
        verb="project.created",
        summary=f"{actor.username} created project “{project.name}”",
        project=project,
    )
    return project


@transaction.atomic
def project_update(*, project: Project, actor: User, **fields: Any) -> Project:
    """Change a project's settings (not its phase: that is project_transition). Records what changed."""
    if not access.can_manage_project(actor, project):
        raise NotAllowed(f"{actor.username} is not a lead of project {project.name!r}")
    unknown = set(fields) - {"name", *PROJECT_SETTINGS}
    if unknown:
        raise QuorumError(f"unknown project field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    if "languages" in fields:
        fields["languages"] = _languages_clean(fields["languages"], "languages")
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    changed = {}
    for field, value in fields.items():
        if getattr(project, field) != value:
            changed[field] = value
            setattr(project, field, value)
    if not changed:
        return project
    project.full_clean()
    project.save()
    activity_record(
        actor=actor,
        verb="project.updated",
        project=project,
        summary=f"{actor.username} changed {', '.join(sorted(changed))}",
        data={"fields": sorted(changed)},
    )
    return project


def project_transition_guards(*, project: Project, to_phase: str) -> list[str]:
    """What stops `project` from entering `to_phase` now, beyond the phase rules (empty: nothing)."""
    reasons: list[str] = []
    if to_phase in (Phase.PILOT, Phase.PRODUCTION):
        if schema_version_current(schema_id=project.label_schema_id) is None:
            reasons.append("the project has no label schema")
        if guideline_current(project=project) is None:
            reasons.append("the project has no guideline")
    if to_phase == Phase.PRODUCTION:
        if not Item.objects.filter(project=project).exists():
            reasons.append("the project has no items")
        if not project.memberships.filter(role=Membership.Role.ANNOTATOR, is_active=True).exists():
            reasons.append("the project has no annotators")
    return reasons


def project_next_phases(*, project: Project) -> list[str]:
    """The phases the rules allow from where the project stands (guards aside)."""
    current = project.phase
    if current == Phase.ON_HOLD:
        return [project.phase_before_hold] if project.phase_before_hold else []
    options: list[str] = []
    index = PHASE_LINE.index(current)
    if index + 1 < len(PHASE_LINE):
        options.append(PHASE_LINE[index + 1])
    if current in REWORKABLE:
        options.append(PHASE_LINE[index - 1])
    if current in HOLDABLE:
        options.append(Phase.ON_HOLD)
    return options


@transaction.atomic
def project_transition(*, project: Project, to_phase: str, actor: User, reason: str = "") -> Project:
    """Move `project` to `to_phase`, recording who, when and why.

    Refused (IllegalTransition, naming the allowed phases) when the phase rules or the guards do
    not allow it. Going on hold needs a reason and opens a blocker with it unless one is open;
    leaving hold returns to the phase held and needs every blocker resolved.
    """
    if not access.can_manage_project(actor, project):
        raise NotAllowed(f"{actor.username} is not a lead of project {project.name!r}")
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    if to_phase not in Phase.values:
        raise QuorumError(
            f"to_phase: {to_phase!r} is not a phase; phases are {', '.join(Phase.values)}", field="to_phase"
        )
    allowed = project_next_phases(project=project)
    if to_phase not in allowed:
        options = ", ".join(allowed) if allowed else "nowhere (the project is closed)"
        raise IllegalTransition(
            f"cannot move “{project.name}” from {project.phase} to {to_phase}: from {project.phase} it can go to {options}",
            field="to_phase",
        )
    reason = (reason or "").strip()
    guards = project_transition_guards(project=project, to_phase=to_phase)
    if project.phase == Phase.ON_HOLD and project.blockers.open().filter(kind=Blocker.Kind.BLOCKER).exists():
        guards.append("open blockers must be resolved first")
    if to_phase == Phase.ON_HOLD and not reason:
        guards.append("putting a project on hold needs a reason")
    if guards:
        raise IllegalTransition(f"cannot move “{project.name}” to {to_phase}: {'; '.join(guards)}", field="to_phase")
    from_phase = project.phase
    if to_phase == Phase.ON_HOLD:
        project.phase_before_hold = from_phase
        if not project.blockers.open().filter(kind=Blocker.Kind.BLOCKER).exists():
            blocker_open(
                project=project, actor=actor, title=reason[:200], description=reason, severity=Blocker.Severity.HIGH
            )
    else:
        project.phase_before_hold = ""
    project.phase = to_phase
    project.phase_changed_at = timezone.now()
    project.save(update_fields=["phase", "phase_before_hold", "phase_changed_at", "updated_at"])
    PhaseTransition.objects.create(
        project=project, from_phase=from_phase, to_phase=to_phase, actor=actor, reason=reason
    )
    activity_record(
        actor=actor,
        verb="project.transition",
        project=project,
        summary=f"{actor.username} moved the project from {from_phase} to {to_phase}"
        + (f": {reason}" if reason else ""),
        data={"from": from_phase, "to": to_phase},
    )
    return project


@transaction.atomic
def milestone_create(*, project: Project, name: str, planned_date: date, actor: User, notes: str = "") -> Milestone:
    if not access.can_manage_project(actor, project):
        raise NotAllowed(f"{actor.username} is not a lead of project {project.name!r}")
    milestone = Milestone(project=project, name=(name or "").strip(), planned_date=planned_date, notes=notes)
    milestone.full_clean()
    milestone.save()
    activity_record(
        actor=actor,
        verb="milestone.created",
        project=project,
        summary=f"{actor.username} planned milestone “{milestone.name}” for {planned_date}",
    )
    return milestone


@transaction.atomic
def milestone_update(
    *,
    milestone: Milestone,
    actor: User,
    planned_date: date | None = None,
    actual_date: date | None = None,
    notes: str | None = None,
) -> Milestone:
    """Re-plan a milestone or record when it was reached."""
    if not access.can_manage_project(actor, milestone.project):
        raise NotAllowed(f"{actor.username} is not a lead of project {milestone.project.name!r}")
    changes = []
    if planned_date is not None and planned_date != milestone.planned_date:
        changes.append(f"re-planned to {planned_date}")
        milestone.planned_date = planned_date
    if actual_date is not None and actual_date != milestone.actual_date:
        changes.append(f"reached on {actual_date}")
        milestone.actual_date = actual_date
    if notes is not None:
        milestone.notes = notes
    milestone.full_clean()
    milestone.save()
    if changes:
        activity_record(
            actor=actor,
            verb="milestone.updated",
            project=milestone.project,
            summary=f"{actor.username}: milestone “{milestone.name}” {', '.join(changes)}",
        )
    return milestone


# --- Blockers and risks -----------------------------------------------------------------------


@transaction.atomic
def blocker_open(
    *,
    project: Project,
    actor: User | None,
    title: str,
    kind: str = Blocker.Kind.BLOCKER,
    severity: int = Blocker.Severity.MEDIUM,
    description: str = "",
    owner: User | None = None,
    rule: str = "",
) -> Blocker:
    """Open a blocker or risk on `project`. `actor` None means the system raised it (then `rule` says which)."""
    if actor is not None and not access.can_open_blocker(actor, project):
        raise NotAllowed(f"{actor.username} may not open blockers on project {project.name!r}")
    if actor is None and not rule:
        raise QuorumError("rule: a blocker the system raises must name its rule", field="rule")
    if owner is not None and not access.project_roles(owner, project):
        raise QuorumError(f"owner: {owner.username} is not a member of project {project.name!r}", field="owner")
    blocker = Blocker(
        project=project,
        kind=kind,
        title=(title or "").strip(),
        description=description,
        severity=severity,
        owner=owner,
        opened_by=actor,
        rule=rule,
    )
    blocker.full_clean()
    blocker.save()
    who = actor.username if actor else "Quorum"
    activity_record(
        actor=actor,
        verb=f"{kind}.opened",
        project=project,
        summary=f"{who} opened {kind} “{blocker.title}”",
        data={"blocker": blocker.pk},
    )
    return blocker


@transaction.atomic
def blocker_assign(*, blocker: Blocker, owner: User, actor: User) -> Blocker:
    """Give an open blocker or risk to a member of its project."""
    blocker = Blocker.objects.select_for_update().select_related("project").get(pk=blocker.pk)
    if blocker.status != Blocker.Status.OPEN:
        raise IllegalTransition(f"“{blocker.title}” is resolved; only open blockers can be assigned", field="status")
    if not access.can_manage_project(actor, blocker.project):
        raise NotAllowed(f"{actor.username} is not a lead of project {blocker.project.name!r}")
    if not access.project_roles(owner, blocker.project):
        raise QuorumError(f"owner: {owner.username} is not a member of project {blocker.project.name!r}", field="owner")
    blocker.owner = owner
    blocker.save(update_fields=["owner"])
    activity_record(
        actor=actor,
        verb=f"{blocker.kind}.assigned",
        project=blocker.project,
        summary=f"{actor.username} gave “{blocker.title}” to {owner.username}",
    )
    return blocker


@transaction.atomic
def blocker_resolve(*, blocker: Blocker, actor: User | None, resolution: str) -> Blocker:
    """Resolve an open blocker or risk with a resolution. Leads and the blocker's owner may;
    `actor` None is the system closing a risk whose cause is gone."""
    blocker = Blocker.objects.select_for_update().select_related("project").get(pk=blocker.pk)
    if actor is not None and not access.can_resolve_blocker(actor, blocker):
        raise NotAllowed(f"{actor.username} may not resolve “{blocker.title}” (leads and its owner may)")
    if blocker.status != Blocker.Status.OPEN:
        raise IllegalTransition(f"“{blocker.title}” is already resolved", field="status")
    resolution = (resolution or "").strip()
    if not resolution:
        raise QuorumError("resolution: say how it was resolved", field="resolution")
    blocker.status = Blocker.Status.RESOLVED
    blocker.resolution = resolution
    blocker.resolved_at = timezone.now()
    blocker.resolved_by = actor
    blocker.save(update_fields=["status", "resolution", "resolved_at", "resolved_by"])
    who = actor.username if actor else "Quorum"
    activity_record(
        actor=actor,
        verb=f"{blocker.kind}.resolved",
        project=blocker.project,
        summary=f"{who} resolved “{blocker.title}”: {resolution}",
        data={"blocker": blocker.pk},
    )
    return blocker


# --- Progress rollup --------------------------------------------------------------------------


@transaction.atomic
def project_progress_refresh(*, project_id: int) -> dict[str, int]:
    """Recount the project's progress figures from its items and annotations and store them.

    Idempotent: it sets counts, it does not add to them. Returns the figures.
    """
    project = Project.objects.select_for_update(no_key=True).get(pk=project_id)
    # Gold items sit outside the overlap (each annotator answers each once), so progress counts
    # regular items and their annotations only.
    items = Item.objects.filter(project=project, is_gold=False).aggregate(
        total=Count("id"),
        required=Sum("required_annotations"),
        completed=Count("id", filter=Q(annotations_done__gte=F("required_annotations"))),
    )
    figures = {
        "items_total": items["total"] or 0,
        "annotations_required": items["required"] or 0,
        "items_completed": items["completed"] or 0,
        "annotations_done": Annotation.objects.filter(project=project, item__is_gold=False).count(),
    }
    for field, value in figures.items():
        setattr(project, field, value)
    project.progress_refreshed_at = timezone.now()
    project.save(update_fields=[*figures, "progress_refreshed_at"])
    return figures


# --- Gold bar: pausing and reinstating annotators -----------------------------------------------


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


@transaction.atomic
def gold_pause_sweep(*, project_id: int) -> list[str]:
    """Pause the project's annotators whose gold accuracy is under its bar, when it says so.

    Only with `pause_below_gold_bar` on and a gold bar set, and only once an annotator answered
    the project's `gold_min_items` gold items. A reinstated annotator is judged on the gold they
    answered since the reinstatement, so a lead's decision stands until new evidence builds up.
    Idempotent: paused annotators stay paused, nobody is unpaused here. Returns who was paused.
    """
    from quality.selectors import gold_accuracy  # quality sits below projects; a read

    project = Project.objects.get(pk=project_id)
    if not project.pause_below_gold_bar or project.min_gold_accuracy is None:
        return []
    memberships = {
        membership.user_id: membership
        for membership in Membership.objects.select_for_update()
        .filter(project=project, role=Membership.Role.ANNOTATOR, is_active=True)
        .select_related("user")
    }
    since = {user_id: m.reinstated_at for user_id, m in memberships.items() if m.reinstated_at is not None}
    figures = gold_accuracy(project_id=project.pk, answered_after=since)
    paused = []
    now = timezone.now()
    for row in figures.annotators:
        membership = memberships.get(row["annotator_id"])
        if not row["flagged"] or membership is None or membership.paused_at is not None:
            continue
        membership.paused_at = now
        membership.paused_reason = (
            f"gold accuracy {_percent(row['accuracy'])} ({row['correct']} of {row['n']}) "
            f"is under the project's bar of {_percent(project.min_gold_accuracy)}"
        )
        membership.save(update_fields=["paused_at", "paused_reason"])
        activity_record(
            actor=None,
            verb="annotator.paused",
            project=project,
            summary=f"Quorum paused {membership.user.username}: {membership.paused_reason}",
            data={"annotator": membership.user_id, "n": row["n"], "correct": row["correct"]},
        )
        paused.append(membership.user.username)
    return paused
