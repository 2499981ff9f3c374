"""API of the annotation workflow under /api/v1/: annotators' work (next, submit, skip, flag),
annotations, flags for the leads, and item imports.

Each handler parses input, lets the permission class check the role, calls one service or
selector and answers with the output serializer. Querysets come from the selectors, scoped to the
user (your own assignments; what you lead), so anything else is a 404; domain errors become
400/403 in core.exceptions.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from annotation import selectors, services
from annotation.api.filters import AnnotationFilterSet, AssignmentFilterSet, FlagFilterSet, ImportJobFilterSet
from annotation.api.lean import plain_next, plain_submit, work_assignment_id, work_next, work_submit
from annotation.api.permissions import AssignmentPermission, FlagPermission, ImportJobPermission
from annotation.api.serializers import (
    AnnotationSerializer,
    AnnotationSubmitSerializer,
    AssignmentNextSerializer,
    AssignmentSerializer,
    AssignmentSkipSerializer,
    FlagAnswerSerializer,
    FlagRaiseSerializer,
    FlagSerializer,
    ImportJobCreateSerializer,
    ImportJobSerializer,
    WorkSerializer,
    annotation_data,
    work_data,
)
from annotation.models import Annotation, Assignment, Flag, ImportJob
from core.csvsafe import csv_row
from core.parsers import FormParser, JSONParser, MultiPartParser
from core.viewsets import ServiceViewSet

# The work loop's plain input (the usual bodies of next and submit) and the work itself belong to
# annotation.api.lean, which answers most of these requests before they reach this viewset.
_PLAIN_INPUT = {"next": plain_next, "submit": plain_submit}


@extend_schema(tags=["annotation"])
class AssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ServiceViewSet):
    """The caller's work: take the next item of a project, then submit, skip or flag it. Everyone
    sees only their own assignments."""

    permission_classes = [IsAuthenticated, AssignmentPermission]
    filterset_class = AssignmentFilterSet
    ordering_fields = ["leased_at", "expires_at", "status"]
    ordering = ["-leased_at", "-id"]
    output_serializer = AssignmentSerializer
    input_serializers = {
        "next": AssignmentNextSerializer,
        "submit": AnnotationSubmitSerializer,
        "skip": AssignmentSkipSerializer,
        "flag": FlagRaiseSerializer,
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Assignment.objects.none()
        return selectors.assignment_list(user=self.request.user)

    def _input(self, request: Request) -> dict[str, Any]:
        # The work loop's usual bodies are parsed directly (a DRF serializer costs about 1 ms per
        # call here); anything else, including every body with an error, goes through the input
        # serializer, whose answer is the contract.
        parse = _PLAIN_INPUT.get(self.action)
        parsed = parse(request.data) if parse is not None else None
        return parsed if parsed is not None else super()._input(request)

    @extend_schema(
        request=AssignmentNextSerializer,
        responses={
            200: WorkSerializer,
            204: OpenApiResponse(description="No work left for you in this project."),
            404: OpenApiResponse(description="No such project among yours."),
        },
    )
    @action(detail=False, methods=["post"])
    def next(self, request: Request) -> Response:
        """Your next item in a project, with its lease: your open lease if you have one, else the
        highest-priority item with an open slot that you have not worked on. 204 when none is left."""
        assignment = work_next(user=request.user, project_id=self._input(request)["project"])
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(work_data(selectors.assignment_work_get(assignment=assignment)))

    @extend_schema(request=AnnotationSubmitSerializer, responses={200: AnnotationSerializer})
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        """Submit your labels. Submitting again returns the stored annotation unchanged."""
        assignment_id = work_assignment_id(pk)
        fields = self._input(request)
        return Response(annotation_data(work_submit(user=request.user, assignment_id=assignment_id, fields=fields)))

    @extend_schema(request=AssignmentSkipSerializer, responses={200: AssignmentSerializer})
    @action(detail=True, methods=["post"])
    def skip(self, request: Request, pk: str | None = None) -> Response:
        """Skip the item, saying why: its slot goes back, and you will not get it again."""
        assignment = services.assignment_skip(assignment=self.get_object(), actor=request.user, **self._input(request))
        return self._output(self.get_queryset().get(pk=assignment.pk))

    @extend_schema(request=FlagRaiseSerializer, responses={201: FlagSerializer})
    @action(detail=True, methods=["post"])
    def flag(self, request: Request, pk: str | None = None) -> Response:
        """Ask the project's leads a question about the item; your lease stays."""
        flag = services.flag_raise(assignment=self.get_object(), actor=request.user, **self._input(request))
        return self._output(selectors.flag_list(user=request.user).get(pk=flag.pk), FlagSerializer, code=201)


@extend_schema(tags=["annotation"])
class AnnotationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ServiceViewSet):
    """Submitted annotations: your own, and all of the projects you lead."""

    filterset_class = AnnotationFilterSet
    ordering_fields = ["submitted_at", "time_spent_ms"]
    ordering = ["-submitted_at", "-id"]
    output_serializer = AnnotationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Annotation.objects.none()
        return selectors.annotation_list(user=self.request.user)


@extend_schema(tags=["annotation"])
class FlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ServiceViewSet):
    """Annotators' questions: the leads of the project see and answer them; annotators see their own."""

    permission_classes = [IsAuthenticated, FlagPermission]
    filterset_class = FlagFilterSet
    ordering_fields = ["created_at", "status"]
    ordering = ["status", "created_at", "id"]
    output_serializer = FlagSerializer
    input_serializers = {"answer": FlagAnswerSerializer}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Flag.objects.none()
        return selectors.flag_list(user=self.request.user)

    @extend_schema(request=FlagAnswerSerializer, responses={200: FlagSerializer})
    @action(detail=True, methods=["post"])
    def answer(self, request: Request, pk: str | None = None) -> Response:
        """Answer the question (leads of the project)."""
        flag = services.flag_answer(flag=self.get_object(), actor=request.user, **self._input(request))
        return self._output(self.get_queryset().get(pk=flag.pk))


class _CSVRenderer(BaseRenderer):
    """Lets a client ask for text/csv. The report itself is streamed as a file; only an error
    (no report, not found) is rendered here, as a one-column CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        detail = data.get("detail", "") if isinstance(data, dict) else str(data or "")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["detail"])
        writer.writerow(csv_row([str(detail).replace("\n", " ")]))
        return out.getvalue().encode()


@extend_schema(tags=["annotation"])
class ImportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ServiceViewSet):
    """Item files imported into a project's batches (leads of the project)."""

    permission_classes = [IsAuthenticated, ImportJobPermission]
    parser_classes = [MultiPartParser, FormParser]
    filterset_class = ImportJobFilterSet
    ordering_fields = ["created_at", "status"]
    ordering = ["-created_at", "-id"]
    output_serializer = ImportJobSerializer
    input_serializers = {"create": ImportJobCreateSerializer}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ImportJob.objects.none()
        return selectors.import_job_list(user=self.request.user)

    @extend_schema(
        request=ImportJobCreateSerializer,
        responses={
            202: ImportJobSerializer,
            503: OpenApiResponse(
                description="The job queue (task broker) is unreachable: the import is marked failed, nothing ran."
            ),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Upload a file of items. The import runs in the background (poll the job); all or
        nothing by default, or skip_bad_rows. Ids the project already has are skipped."""
        fields = self._input(request)
        job = services.import_job_create(
            project=fields["project"],
            actor=request.user,
            batch_name=fields["batch_name"],
            upload=fields["file"],
            mode=fields["mode"],
        )
        # Read again: in the embedded mode the import ran when the job was committed.
        return self._output(self.get_queryset().get(pk=job.pk), code=status.HTTP_202_ACCEPTED)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The job: its status, counts and first bad rows; while it runs, the rows read so far."""
        job = self.get_object()
        job.rows_read = selectors.import_job_rows_read(job=job)
        return self._output(job)

    @extend_schema(
        request=None,
        responses={
            202: ImportJobSerializer,
            400: OpenApiResponse(description="The import did not fail, or read a file on the server."),
            403: OpenApiResponse(description="Only a lead of the project may retry its imports."),
            404: OpenApiResponse(description="No such import among yours."),
            503: OpenApiResponse(description="The job queue (task broker) is unreachable; nothing ran."),
        },
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser, FormParser, MultiPartParser])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Import a failed job's file again (its reason is in `message`); ids already imported are skipped."""
        job = services.import_job_retry(job=self.get_object(), actor=request.user)
        return self._output(self.get_queryset().get(pk=job.pk), code=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="Every bad row: row, column, message."),
            404: OpenApiResponse(description="No such import among yours, or it has no bad rows."),
        }
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, _CSVRenderer])
    def report(self, request: Request, pk: str | None = None) -> FileResponse:
        """Download the bad rows of the import as CSV (404 when no row was bad)."""
        job = self.get_object()
        if not job.error_report:
            raise NotFound("This import has no error report: no row was bad.")
        return FileResponse(
            job.error_report.open("rb"),
            as_attachment=True,
            filename=f"import-{job.pk}-errors.csv",
            content_type="text/csv",
        )
