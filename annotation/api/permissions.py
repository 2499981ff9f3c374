"""Role checks of the annotation API, per object, through projects.access.

Visibility is not decided here: every queryset comes from a selector scoped to the user (your own
assignments; annotations, flags and imports of the projects you lead, plus your own annotations and
flags), so anything else is a 404 before these run. These decide what a user may do with what they
see (a denial is a 403); the services check again, so a write missed here is still refused.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from projects import access


class AssignmentPermission(BasePermission):
    """Only the annotator holding an assignment works on it (submit, skip, flag)."""

    message = "This assignment belongs to another annotator."

    def has_object_permission(self, request, view, obj) -> bool:
        return obj.annotator_id == request.user.pk


class FlagPermission(BasePermission):
    """Annotators read the flags they raised; only a lead of the flag's project answers it."""

    message = "Only a lead of this project may answer its flags."

    def has_object_permission(self, request, view, obj) -> bool:
        if view.action == "answer":
            return access.can_manage_project(request.user, obj.project)
        return True


class ImportJobPermission(BasePermission):
    """Imports are for the leads of the project (creating one is checked by import_job_create)."""

    message = "Only a lead of this project may see its imports."

    def has_object_permission(self, request, view, obj) -> bool:
        return access.can_manage_project(request.user, obj.project)
