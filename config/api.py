"""The single API router: each app's viewsets are registered here under /api/v1/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from projects.api.views import BlockerViewSet, DataRequestViewSet, ProjectViewSet

router = DefaultRouter()
router.register("requests", DataRequestViewSet, basename="datarequest")
router.register("projects", ProjectViewSet, basename="project")
router.register("blockers", BlockerViewSet, basename="blocker")
