"""The single API router: each app's viewsets are registered here under /api/v1/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

router = DefaultRouter()
