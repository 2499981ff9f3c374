"""A project's settings and its lifecycle: creating and changing a project, the phase rules
(the main line, rework, hold), the guards on entering a phase, and project_transition."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from annotation.models import Item
from annotation.selectors import guideline_current, schema_version_current
from core.errors import Conflict, IllegalTransition, NotAllowed, QuorumError
from projects import access
from projects.models import LANGUAGE_CODE_RE, Activity, Blocker, DataRequest, Membership, PhaseTransition, Project
from projects.services import activity_record
from workbench.services.blockers import blocker_open

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


def languages_clean(value: Any, field: str) -> list[str]:
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
        fields["languages"] = languages_clean(fields["languages"], "languages")
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
def project_update(*, project: Project, actor: User, expected_version: int | None = None, **fields: Any) -> Project:
    """Change a project's settings (not its phase: that is project_transition). Records what changed,
    each field's old and new value, under the new `settings_version` (one more than before).

    `expected_version`: the settings version the caller read. When given and the settings have
    changed since (another lead saved first), nothing is written and Conflict says what changed,
    by whom and when, so a stale form never silently overwrites. None skips the check (API clients
    that send no version keep working)."""
    access.require_lead(actor, project)
    unknown = set(fields) - {"name", *PROJECT_SETTINGS}
    if unknown:
        raise QuorumError(f"unknown project field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    if "languages" in fields:
        fields["languages"] = languages_clean(fields["languages"], "languages")
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    if expected_version is not None and expected_version != project.settings_version:
        raise _settings_conflict(project=project, expected_version=expected_version, fields=fields)
    changed = {}
    for field, value in fields.items():
        if getattr(project, field) != value:
            changed[field] = [_jsonable(getattr(project, field)), _jsonable(value)]
            setattr(project, field, value)
    if not changed:
        return project
    project.full_clean()
    project.settings_version += 1
    project.save()
    activity_record(
        actor=actor,
        verb="project.updated",
        project=project,
        summary=f"{actor.username} changed {', '.join(sorted(changed))}",
        data={"fields": sorted(changed), "version": project.settings_version, "changes": changed},
    )
    return project


def _jsonable(value: Any) -> Any:
    """A setting's value as the activity log and a conflict keep it: model rows by id, dates as ISO."""
    if hasattr(value, "pk"):
        return value.pk
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _settings_conflict(*, project: Project, expected_version: int, fields: dict[str, Any]) -> Conflict:
    """What changed in `project`'s settings after `expected_version`, from the activity log (each
    change records its version and its fields' old and new values): per field, the value at the
    caller's version, the value now, yours (when you sent the field), who changed it last and when."""
    changes: dict[str, dict[str, Any]] = {}
    updates = (
        Activity.objects.filter(project=project, verb="project.updated", data__version__gt=expected_version)
        .select_related("actor")
        .order_by("created_at", "id")
    )
    for activity in updates:
        for field, (old, _new) in (activity.data.get("changes") or {}).items():
            entry = changes.setdefault(field, {"was": old})
            entry["now"] = _jsonable(getattr(project, field))
            entry["by"] = activity.actor.username if activity.actor else "the system"
            entry["at"] = activity.created_at.isoformat()
            if field in fields:
                entry["yours"] = _jsonable(fields[field])
    if changes:
        what = "; ".join(
            f"{field} is now {entry['now']!r} (was {entry['was']!r}, changed by {entry['by']})"
            for field, entry in changes.items()
        )
    else:
        what = "nothing that can be shown"
    return Conflict(
        f"version: you edited settings version {expected_version}, but they are at version "
        f"{project.settings_version} now: {what}. Nothing was saved; reload the settings and make your change again",
        changes=changes,
        version=project.settings_version,
    )


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
    access.require_lead(actor, project)
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
