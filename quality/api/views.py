"""API of the quality engine under /api/v1/quality/: agreement reports and the jobs that compute
them, the quality gate and root-cause view, audit samples and their reviews, adjudication.

Each handler parses input, lets the permission class check the role, calls one service or
selector and answers with the output serializer. Querysets are scoped to the user and a project
named in a body or ?project= is looked up among the projects the user may see, so anything of
another project is a 404; domain errors become 400/403 in core.exceptions.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.models import Item
from core.errors import QuorumError
from core.viewsets import ServiceViewSet
from projects import access
from projects.models import Project
from projects.services import annotator_reinstate
from quality.api.filters import AgreementReportFilterSet, AuditSampleFilterSet
from quality.api.permissions import (
    AdjudicationPermission,
    AgreementReportPermission,
    AuditSamplePermission,
    QualityJobPermission,
    QualityProjectPermission,
)
from quality.api.serializers import (
    AdjudicationCreateSerializer,
    AdjudicationSerializer,
    AgreementReportSerializer,
    AlphaNowSerializer,
    AuditDrawResultSerializer,
    AuditSampleDrawSerializer,
    AuditSampleReviewSerializer,
    AuditSampleSerializer,
    ConsensusSerializer,
    MembershipPauseSerializer,
    ProjectQuerySerializer,
    QualityGateSerializer,
    QualityJobCreateSerializer,
    QualityJobSerializer,
    ReinstateSerializer,
    ReviewSerializer,
    RootCauseSerializer,
)
from quality.models import Adjudication, AgreementReport, AuditSample, QualityJob
from quality.selectors.gate import quality_gate, root_cause
from quality.selectors.jobs import quality_job_list
from quality.selectors.queues import adjudication_queue, audit_queue
from quality.selectors.reports import agreement_report_list
from quality.services.audits import audit_plan_data, audit_sample_draw_planned, audit_sample_plan, review_record
from quality.services.consensus import adjudication_record, consensus_enqueue
from quality.services.jobs import quality_job_retry
from quality.services.reports import agreement_report_enqueue, project_alpha_compute

NO_PROJECT = "No such project among yours."
QUEUE_UNAVAILABLE = OpenApiResponse(
    description="The job queue (task broker) is unreachable: the job is marked failed, nothing started; retry later."
)
PROJECT_PARAMETER = OpenApiParameter(
    "project", OpenApiTypes.INT, OpenApiParameter.QUERY, required=True, description="The project's id."
)


def _visible_project(user: Any, project_id: int) -> Project:
    """The project if `user` may see it; a 404 otherwise, so the ids of other projects do not leak."""
    project = access.visible_projects(user).filter(pk=project_id).first()
    if project is None:
        raise NotFound(NO_PROJECT)
    return project


class _ViewSet(ServiceViewSet):
    """The shared base, plus the ?project= look-up the quality endpoints take."""

    def _project_from_query(self, request: Request) -> Project:
        """The ?project= among the user's projects (400 when missing, 404 when not theirs), with
        the action's role checked on it (403)."""
        query = ProjectQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = _visible_project(request.user, query.validated_data["project"])
        self.check_object_permissions(request, project)
        return project


@extend_schema(tags=["quality"])
class AgreementReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ViewSet):
    """Agreement reports of the projects you lead or work on: the history of every scope, or
    only the newest report of each (latest=true)."""

    permission_classes = [IsAuthenticated, AgreementReportPermission]
    filterset_class = AgreementReportFilterSet
    ordering_fields = ["computed_at", "alpha"]
    ordering = ["-computed_at", "-id"]
    output_serializer = AgreementReportSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AgreementReport.objects.none()
        user = self.request.user
        return agreement_report_list(user=user).filter(project_id__in=access.member_project_ids(user))


@extend_schema(tags=["quality"])
class QualityJobViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, _ViewSet):
    """Background computations of agreement reports and consensus labels (leads of the project)."""

    permission_classes = [IsAuthenticated, QualityJobPermission]
    output_serializer = QualityJobSerializer
    input_serializers = {"create": QualityJobCreateSerializer}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return QualityJob.objects.none()
        return quality_job_list(user=self.request.user)

    @extend_schema(
        request=QualityJobCreateSerializer,
        responses={202: QualityJobSerializer, 404: OpenApiResponse(description=NO_PROJECT), 503: QUEUE_UNAVAILABLE},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Queue an agreement report of a scope, or a consensus run; poll the job it returns. The
        same request while one is still pending or running returns that job."""
        fields = self._input(request)
        project = _visible_project(request.user, fields["project"])
        if fields["kind"] == QualityJobCreateSerializer.AGREEMENT:
            window = (fields["window_start"], fields["window_end"]) if "window_start" in fields else None
            job = agreement_report_enqueue(
                project_id=project.pk,
                actor=request.user,
                scope=fields["scope"],
                scope_key=fields["scope_key"],
                window=window,
            )
        else:
            job = consensus_enqueue(project_id=project.pk, actor=request.user, method=fields["method"])
        return self._output(job, code=status.HTTP_202_ACCEPTED)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The job: its status, progress and message, and the report once it succeeded."""
        return self._output(self.get_object())

    @extend_schema(
        request=None,
        responses={
            202: QualityJobSerializer,
            400: OpenApiResponse(description="The job did not fail (only a failed job is retried)."),
            403: OpenApiResponse(description="Only a lead of the project may retry its jobs."),
            404: OpenApiResponse(description="No such job among yours."),
            503: QUEUE_UNAVAILABLE,
        },
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Run a failed job again from a clean start (its reason is in `error`); poll it as before."""
        job = quality_job_retry(job=self.get_object(), actor=request.user)
        return self._output(self.get_queryset().get(pk=job.pk), code=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["quality"])
class QualityProjectViewSet(_ViewSet):
    """Project-wide quality reads, computed on read: the gate and the root-cause view."""

    permission_classes = [IsAuthenticated, QualityProjectPermission]
    output_serializer = QualityGateSerializer

    def get_queryset(self):
        return Project.objects.none()  # no objects of its own: the project comes from ?project=

    @extend_schema(
        parameters=[PROJECT_PARAMETER],
        responses={200: QualityGateSerializer, 404: OpenApiResponse(description=NO_PROJECT)},
    )
    @action(detail=False, methods=["get"])
    def gate(self, request: Request) -> Response:
        """Do the project's quality bars (alpha, gold and audit accuracy) hold? Leads and members."""
        project = self._project_from_query(request)
        return self._output(quality_gate(project_id=project.pk), QualityGateSerializer)

    @extend_schema(
        parameters=[PROJECT_PARAMETER],
        responses={200: AlphaNowSerializer, 404: OpenApiResponse(description=NO_PROJECT)},
    )
    @action(detail=False, methods=["get"])
    def alpha(self, request: Request) -> Response:
        """Krippendorff's alpha (nominal) over every annotation of the project's regular items
        submitted so far, without waiting for a report: the kept per-item counts are brought up to
        date with the annotations added since they were last read. Leads and members."""
        project = self._project_from_query(request)
        result = project_alpha_compute(project_id=project.pk)
        return self._output(
            {
                "project": project.pk,
                **{field: getattr(result, field) for field in ("alpha", "n_annotations", "computed_at")},
            },
            AlphaNowSerializer,
        )

    @extend_schema(
        parameters=[PROJECT_PARAMETER],
        request=ReinstateSerializer,
        responses={200: MembershipPauseSerializer, 404: OpenApiResponse(description=NO_PROJECT)},
    )
    @action(detail=False, methods=["post"])
    def reinstate(self, request: Request) -> Response:
        """Give an annotator paused by the gold bar work again (leads). From then on, the bar
        counts only the gold they answer after this moment."""

        project = self._project_from_query(request)
        fields = ReinstateSerializer(data=request.data)
        fields.is_valid(raise_exception=True)
        annotator = get_user_model().objects.filter(pk=fields.validated_data["annotator"]).first()
        if annotator is None:
            raise QuorumError("annotator: no such user", field="annotator")
        membership = annotator_reinstate(
            project=project, annotator=annotator, actor=request.user, note=fields.validated_data["note"]
        )
        return self._output(membership, MembershipPauseSerializer)

    @extend_schema(
        parameters=[PROJECT_PARAMETER],
        responses={200: RootCauseSerializer, 404: OpenApiResponse(description=NO_PROJECT)},
    )
    @action(detail=False, methods=["get"], url_path="root-cause")
    def root_cause(self, request: Request) -> Response:
        """Where disagreement comes from: labels, label pairs, annotators, error causes and
        guideline versions (leads of the project)."""
        project = self._project_from_query(request)
        return self._output(root_cause(project_id=project.pk), RootCauseSerializer)


@extend_schema(tags=["quality"])
class AuditSampleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ViewSet):
    """Audit samples: a reviewer's queue (pending, unassigned or theirs, never their own
    annotations), and every sample of the projects you lead."""

    permission_classes = [IsAuthenticated, AuditSamplePermission]
    filterset_class = AuditSampleFilterSet
    ordering_fields = ["created_at"]
    ordering = ["created_at", "id"]
    output_serializer = AuditSampleSerializer
    input_serializers = {"review": AuditSampleReviewSerializer, "draw": AuditSampleDrawSerializer}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditSample.objects.none()
        user = self.request.user
        if self.action == "list":
            queue = audit_queue(reviewer=user).values("pk")
            samples = AuditSample.objects.filter(Q(pk__in=queue) | Q(project_id__in=access.led_project_ids(user)))
        else:
            # One sample: any of a project you may see; the permission class asks for the
            # reviewer or lead role (403) and review_record for the rest.
            samples = AuditSample.objects.filter(project_id__in=access.visible_project_ids(user))
        return samples.select_related("project", "annotation__item")

    @extend_schema(request=AuditSampleReviewSerializer, responses={200: ReviewSerializer})
    @action(detail=True, methods=["post"])
    def review(self, request: Request, pk: str | None = None) -> Response:
        """Judge the annotation: correct, or incorrect with the right labels and the cause.
        Sending the same verdict again returns the stored review."""
        review = review_record(sample=self.get_object(), reviewer=request.user, **self._input(request))
        return self._output(review, ReviewSerializer)

    @extend_schema(
        request=AuditSampleDrawSerializer,
        responses={
            201: AuditDrawResultSerializer,
            200: OpenApiResponse(AuditDrawResultSerializer, description="dry_run: what would be drawn."),
            404: OpenApiResponse(description=NO_PROJECT),
        },
    )
    @action(detail=False, methods=["post"])
    def draw(self, request: Request) -> Response:
        """Draw annotations of a project for audit (leads): ⌈share × annotations⌉ samples in all,
        shared among a random stratum and top-ups for new annotators, annotators under the gold bar
        and thin annotator × label cells. With dry_run, only what would be drawn, per stratum."""
        fields = self._input(request)
        project = _visible_project(request.user, fields.pop("project"))
        if fields.pop("dry_run"):
            plan = audit_sample_plan(project_id=project.pk, actor=request.user, **fields)
            return self._output(audit_plan_data(plan, drawn=0, dry_run=True), AuditDrawResultSerializer)
        plan, samples = audit_sample_draw_planned(project_id=project.pk, actor=request.user, **fields)
        result = audit_plan_data(plan, drawn=len(samples), dry_run=False)
        return self._output(result, AuditDrawResultSerializer, code=status.HTTP_201_CREATED)


@extend_schema(tags=["quality"])
class AdjudicationViewSet(mixins.CreateModelMixin, _ViewSet):
    """Reviewers' final word on items whose consensus is unsure or tied."""

    permission_classes = [IsAuthenticated, AdjudicationPermission]
    output_serializer = AdjudicationSerializer
    input_serializers = {"create": AdjudicationCreateSerializer}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Adjudication.objects.none()
        return Adjudication.objects.filter(project_id__in=access.visible_project_ids(self.request.user))

    @extend_schema(
        request=AdjudicationCreateSerializer,
        responses={201: AdjudicationSerializer, 404: OpenApiResponse(description="No such item among yours.")},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Record the final labels of an item (reviewers and leads who did not annotate it)."""
        fields = self._input(request)
        visible = access.visible_project_ids(request.user)
        item = Item.objects.filter(pk=fields.pop("item"), project_id__in=visible).first()
        if item is None:
            raise NotFound("No such item among yours.")
        adjudication = adjudication_record(item=item, reviewer=request.user, **fields)
        return self._output(adjudication, code=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[PROJECT_PARAMETER],
        responses={200: ConsensusSerializer(many=True), 404: OpenApiResponse(description=NO_PROJECT)},
    )
    @action(detail=False, methods=["get"], filter_backends=[])
    def queue(self, request: Request) -> Response:
        """Items of the project waiting for adjudication, least confident first, without the ones
        you annotated (reviewers and leads of the project)."""
        project = self._project_from_query(request)
        page = self.paginate_queryset(adjudication_queue(project_id=project.pk, reviewer=request.user))
        serializer = ConsensusSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)
