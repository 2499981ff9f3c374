"""The single API router: each app's viewsets are registered here under /api/v1/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from accounts.api.views import TokenViewSet
from annotation.api.authoring import GuidelineDraftViewSet, GuidelineViewSet, LabelSchemaViewSet
from annotation.api.views import AnnotationViewSet, AssignmentViewSet, FlagViewSet, ImportJobViewSet
from delivery.api.views import DeliveryViewSet, EvaluationViewSet, WebhookEndpointViewSet
from quality.api.views import (
    AdjudicationViewSet,
    AgreementReportViewSet,
    AuditSampleViewSet,
    QualityJobViewSet,
    QualityProjectViewSet,
)
from workbench.api.staff import StaffTeamViewSet, StaffUserViewSet
from workbench.api.team import MembershipViewSet
from workbench.api.views import BlockerViewSet, DataRequestViewSet, ProjectViewSet

router = DefaultRouter()
router.register("auth/tokens", TokenViewSet, basename="token")
router.register("requests", DataRequestViewSet, basename="datarequest")
router.register("projects", ProjectViewSet, basename="project")
router.register("blockers", BlockerViewSet, basename="blocker")
# A project's team (its leads'), and the staff's users and requester teams.
router.register("members", MembershipViewSet, basename="membership")
router.register("staff/users", StaffUserViewSet, basename="staffuser")
router.register("staff/teams", StaffTeamViewSet, basename="staffteam")
router.register("assignments", AssignmentViewSet, basename="assignment")
router.register("annotations", AnnotationViewSet, basename="annotation")
router.register("flags", FlagViewSet, basename="flag")
router.register("imports", ImportJobViewSet, basename="importjob")
# Authoring (annotation.api.authoring): schemas and their drafts, guideline drafts and versions.
router.register("schemas", LabelSchemaViewSet, basename="labelschema")
router.register("guideline-drafts", GuidelineDraftViewSet, basename="guidelinedraft")
router.register("guidelines", GuidelineViewSet, basename="guideline")
router.register("quality/reports", AgreementReportViewSet, basename="agreementreport")
router.register("quality/jobs", QualityJobViewSet, basename="qualityjob")
router.register("quality/audit-samples", AuditSampleViewSet, basename="auditsample")
router.register("quality/adjudications", AdjudicationViewSet, basename="adjudication")
router.register("deliveries", DeliveryViewSet, basename="delivery")
router.register("webhooks", WebhookEndpointViewSet, basename="webhookendpoint")
router.register("evaluations", EvaluationViewSet, basename="evaluation")
# Last: its routes (quality/gate/, quality/root-cause/) are actions on the "quality" prefix itself.
router.register("quality", QualityProjectViewSet, basename="quality")
