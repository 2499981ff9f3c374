"""Role checks of the projects API. Each class maps a viewset action to a predicate of
projects.access, so the API asks the same question as the services and pages do.

Visibility is not checked here: get_queryset() is scoped by a selector, so an object the user
may not see is a 404 before any of these run. These decide what a user may do with what they see
(a denial is a 403); the services check again, so a missed check here still refuses the write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework.permissions import BasePermission

from projects import access


class _ActionPermission(BasePermission):
    """Looks up `view.action` in `user_rules` (no object) and `object_rules` (per object);
    actions named in neither are allowed to any authenticated user (IsAuthenticated runs first)."""

    user_rules: dict[str, Callable[[Any], bool]] = {}
    object_rules: dict[str, Callable[[Any, Any], bool]] = {}
    messages: dict[str, str] = {}

    def has_permission(self, request, view) -> bool:
        rule = self.user_rules.get(view.action)
        return self._answer(rule is None or rule(request.user), view)

    def has_object_permission(self, request, view, obj) -> bool:
        rule = self.object_rules.get(view.action)
        return self._answer(rule is None or rule(request.user, obj), view)

    def _answer(self, allowed: bool, view) -> bool:
        if not allowed:
            self.message = self.messages.get(view.action, "You may not do this.")
        return allowed


class DataRequestPermission(_ActionPermission):
    user_rules = {"create": access.can_file_request}
    # Accept and reject are decided on the object, after get_object(): a request the user may not
    # see is a 404 there, as on GET, so a refusal never tells which ids exist.
    object_rules = {
        "retrieve": access.can_view_request,
        "comments": access.can_comment_on_request,
        "accept": lambda user, data_request: access.can_triage_requests(user),
        "reject": lambda user, data_request: access.can_triage_requests(user),
    }
    messages = {
        "create": "Only requesters and project leads may file data requests.",
        "comments": "Only project leads and the requesters of the request's team may read and write its comments.",
        "accept": "Only project leads may accept data requests.",
        "reject": "Only project leads may reject data requests.",
    }


class ProjectPermission(_ActionPermission):
    user_rules = {"create": access.can_create_project}
    object_rules = {
        "retrieve": access.can_view_project,
        "partial_update": access.can_manage_project,
        "transition": access.can_manage_project,
    }
    messages = {
        "create": "Only project leads may create projects.",
        "transition": "Only a lead of this project may change its phase.",
        "partial_update": "Only a lead of this project may change its settings.",
    }


class BlockerPermission(_ActionPermission):
    # Opening needs a role on the project named in the body, and resolving is for leads and the
    # blocker's owner: blocker_open and blocker_resolve decide those (NotAllowed → 403).
    object_rules = {
        "retrieve": lambda user, blocker: access.can_view_project(user, blocker.project),
        "assign": lambda user, blocker: access.can_manage_project(user, blocker.project),
    }
    messages = {"assign": "Only a lead of this project may assign its blockers."}
