"""API fields every app's serializers share for naming a project."""

from __future__ import annotations

from rest_framework import serializers

from projects import access
from projects.models import Project


class VisibleProjectField(serializers.PrimaryKeyRelatedField):
    """A project id looked up among the projects the requesting user may see. Any other id is
    "does not exist", whether or not it does, so the ids of other projects do not leak."""

    def __init__(self, **kwargs):
        super().__init__(queryset=Project.objects.all(), **kwargs)

    def get_queryset(self):
        return access.visible_projects(self.context["request"].user)
