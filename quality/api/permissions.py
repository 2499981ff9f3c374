"""Role checks of the quality API, per object, through projects.access.

Visibility is not decided here: querysets and project lookups are scoped to the user, so an object
of a project they may not see is a 404 before these run. These decide what a user may do with what
they see (a denial is a 403); the services check again, so a write missed here is still refused.

projects.access has no predicate for "is a member of the project" nor "reviews the project":
those two read the roles that access.project_roles gives (active memberships, plus "lead" for the
project's lead and superusers), here, rather than adding predicates to access.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework.permissions import BasePermission

from projects import access

REVIEWING_ROLES = {"reviewer", "lead"}


def is_member(user: Any, project: Any) -> bool:
    """A lead of the project or any active member of it (annotator, reviewer, requester)."""
    return bool(access.project_roles(user, project))


def can_review(user: Any, project: Any) -> bool:
    """A reviewer or lead of the project (what quality.services requires of reviews and adjudications)."""
    return bool(access.project_roles(user, project) & REVIEWING_ROLES)


class _ObjectActionPermission(BasePermission):
    """Looks up `view.action` in `rules` with the object's project; actions not named are allowed
    to any authenticated user (IsAuthenticated runs first)."""

    rules: dict[str, Callable[[Any, Any], bool]] = {}
    messages: dict[str, str] = {}

    def has_object_permission(self, request, view, obj) -> bool:
        rule = self.rules.get(view.action)
        project = getattr(obj, "project", obj)  # the object itself when it is the project
        allowed = rule is None or rule(request.user, project)
        if not allowed:
            self.message = self.messages.get(view.action, "You may not do this.")
        return allowed


class AgreementReportPermission(_ObjectActionPermission):
    rules = {"retrieve": is_member}
    messages = {"retrieve": "Only the leads and members of this project may see its reports."}


class QualityJobPermission(_ObjectActionPermission):
    rules = {"retrieve": access.can_manage_project, "retry": access.can_manage_project}
    messages = {
        "retrieve": "Only a lead of this project may follow its quality jobs.",
        "retry": "Only a lead of this project may retry its quality jobs.",
    }


class QualityProjectPermission(_ObjectActionPermission):
    """The project-wide reads; the object is the project named by ?project=."""

    rules = {
        "gate": is_member,
        "alpha": is_member,
        "root_cause": access.can_manage_project,
        "reinstate": access.can_manage_project,
    }
    messages = {
        "gate": "Only the leads and members of this project may see its quality gate.",
        "alpha": "Only the leads and members of this project may see its agreement.",
        "root_cause": "Only a lead of this project may see its root-cause view.",
        "reinstate": "Only a lead of this project may reinstate its annotators.",
    }


class AuditSamplePermission(_ObjectActionPermission):
    rules = {"retrieve": can_review, "review": can_review}
    messages = {
        "retrieve": "Only the reviewers and leads of this project may see its audit samples.",
        "review": "Only the reviewers and leads of this project may review its audit samples.",
    }


class AdjudicationPermission(_ObjectActionPermission):
    # Recording one is checked by adjudication_record (reviewers and leads, not the item's annotators).
    rules = {"queue": can_review}
    messages = {"queue": "Only the reviewers and leads of this project may adjudicate its items."}
