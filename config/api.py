"""The single API router: each app's viewsets are registered here under /api/v1/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from annotation.api.views import AnnotationViewSet, AssignmentViewSet, FlagViewSet, ImportJobViewSet
from projects.api.views import BlockerViewSet, DataRequestViewSet, ProjectViewSet

router = DefaultRouter()
router.register("requests", DataRequestViewSet, basename="datarequest")
router.register("projects", ProjectViewSet, basename="project")
router.register("blockers", BlockerViewSet, basename="blocker")
router.register("assignments", AssignmentViewSet, basename="assignment")
router.register("annotations", AnnotationViewSet, basename="annotation")
router.register("flags", FlagViewSet, basename="flag")
router.register("imports", ImportJobViewSet, basename="importjob")
