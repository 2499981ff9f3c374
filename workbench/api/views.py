"""API of the projects app: data requests, projects and blockers under /api/v1/.

Each handler parses input, lets the permission class check the role, calls one service and
answers with the output serializer. Querysets come from the selectors, scoped to the user, so an
object the user may not see is a 404; domain errors become 400/403 in core.exceptions.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.schema import ERROR_DESCRIPTIONS, ErrorSerializer
from core.viewsets import ServiceViewSet
from projects.models import Blocker, DataRequest, Project
from workbench import selectors
from workbench.api.filters import BlockerFilterSet, DataRequestFilterSet, ProjectFilterSet
from workbench.api.permissions import BlockerPermission, DataRequestPermission, ProjectPermission
from workbench.api.project_version import IF_MATCH, expected_version
from workbench.api.serializers import (
    BlockerAssignSerializer,
    BlockerCreateSerializer,
    BlockerResolveSerializer,
    BlockerSerializer,
    DataRequestAcceptSerializer,
    DataRequestCreateSerializer,
    DataRequestRejectSerializer,
    DataRequestSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectTransitionSerializer,
    ProjectUpdateSerializer,
    RequestCommentCreateSerializer,
    RequestCommentSerializer,
)
from workbench.services.blockers import blocker_assign, blocker_open, blocker_resolve
from workbench.services.datarequests import (
    datarequest_accept,
    datarequest_create,
    datarequest_reject,
    request_comment_add,
)
from workbench.services.lifecycle import project_create, project_transition, project_update


class _ServiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ServiceViewSet):
    """List, retrieve and create, on the shared base."""


def _request_loaded(data_request: DataRequest, user: Any) -> DataRequest:
    """The request as datarequest_list loads it (its stage annotated, its project loaded)."""
    return selectors.datarequest_list(user=user).get(pk=data_request.pk)


def _project_loaded(project: Project) -> Project:
    """The project as project_list loads it (lead, open blockers and risks). Read as its lead sees
    it: the actor who has just created or accepted it may have handed it to another lead."""
    return selectors.project_list(user=project.lead).get(pk=project.pk)


@extend_schema(tags=["projects"])
class DataRequestViewSet(_ServiceViewSet):
    """Data requests: requesters file them and follow their status; leads accept or reject them."""

    permission_classes = [IsAuthenticated, DataRequestPermission]
    filterset_class = DataRequestFilterSet
    ordering_fields = ["created_at", "deadline", "priority"]
    ordering = ["-created_at", "-id"]
    output_serializer = DataRequestSerializer
    input_serializers = {
        "create": DataRequestCreateSerializer,
        "accept": DataRequestAcceptSerializer,
        "reject": DataRequestRejectSerializer,
        "comments": RequestCommentCreateSerializer,
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DataRequest.objects.none()
        return selectors.datarequest_list(user=self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        selectors.datarequest_forecasts_attach(data_requests=page, today=timezone.now().date())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data_request = self.get_object()
        selectors.datarequest_forecasts_attach(data_requests=[data_request], today=timezone.now().date())
        return self._output(data_request)

    @extend_schema(responses={201: DataRequestSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data_request = datarequest_create(requester=request.user, **self._input(request))
        return self._output(_request_loaded(data_request, request.user), code=status.HTTP_201_CREATED)

    @extend_schema(request=DataRequestAcceptSerializer, responses={201: ProjectSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        """Accept a submitted request: its project is created, prefilled from it, and returned."""
        data_request = self.get_object()
        project = datarequest_accept(data_request=data_request, actor=request.user, **self._input(request))
        return self._output(_project_loaded(project), ProjectSerializer, code=status.HTTP_201_CREATED)

    @extend_schema(request=DataRequestRejectSerializer, responses={200: DataRequestSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """Reject a submitted request with a reason the requester reads."""
        data_request = self.get_object()
        data_request = datarequest_reject(data_request=data_request, actor=request.user, **self._input(request))
        return self._output(_request_loaded(data_request, request.user))

    @extend_schema(
        methods=["GET"],
        request=None,
        responses={200: RequestCommentSerializer(many=True)},
        description="The request's comment thread, oldest first (leads and the requesters of its team).",
    )
    @extend_schema(
        methods=["POST"],
        request=RequestCommentCreateSerializer,
        responses={201: RequestCommentSerializer},
        description="Add a comment to the request's thread (leads and the requesters of its team).",
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def comments(self, request: Request, pk: str | None = None) -> Response:
        data_request = self.get_object()
        if request.method == "POST":
            comment = request_comment_add(data_request=data_request, author=request.user, **self._input(request))
            return self._output(comment, RequestCommentSerializer, code=status.HTTP_201_CREATED)
        page = self.paginate_queryset(selectors.request_comment_list(data_request=data_request))
        serializer = RequestCommentSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)


@extend_schema(tags=["projects"])
class ProjectViewSet(mixins.UpdateModelMixin, _ServiceViewSet):
    """Labeling projects the user leads, works on, or (requesters) that answer their team's requests."""

    permission_classes = [IsAuthenticated, ProjectPermission]
    filterset_class = ProjectFilterSet
    ordering_fields = ["deadline", "priority", "name", "created_at"]
    # Stated here because the selector's Count annotations make Django drop Meta.ordering
    # (GROUP BY queries ignore it), which would leave pages in no particular order.
    ordering = ["deadline", "name", "id"]
    output_serializer = ProjectSerializer
    input_serializers = {
        "create": ProjectCreateSerializer,
        "partial_update": ProjectUpdateSerializer,
        "transition": ProjectTransitionSerializer,
    }
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return selectors.project_list(user=self.request.user)

    @extend_schema(responses={201: ProjectSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        fields = self._input(request)
        lead = fields.pop("lead", None) or request.user
        project = project_create(actor=request.user, lead=lead, **fields)
        return self._output(_project_loaded(project), code=status.HTTP_201_CREATED)

    @extend_schema(
        request=ProjectUpdateSerializer,
        parameters=[IF_MATCH],
        responses={
            200: ProjectSerializer,
            409: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS["409"]),
        },
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change the project's settings (leads of the project). Send the `settings_version` you read
        as `version` (or `If-Match: "<version>"`) and a stale save is refused with 409 and what changed."""
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        version = expected_version(fields.pop("version", None), request.headers.get("If-Match"))
        project = project_update(project=self.get_object(), actor=request.user, expected_version=version, **fields)
        return self._output(_project_loaded(project))

    @extend_schema(request=ProjectTransitionSerializer, responses={200: ProjectSerializer})
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        """Move the project to another phase; the answer names the phases allowed when refused."""
        project = self.get_object()
        project = project_transition(project=project, actor=request.user, **self._input(request))
        return self._output(_project_loaded(project))


@extend_schema(tags=["projects"])
class BlockerViewSet(_ServiceViewSet):
    """Blockers and risks of the projects the user may see."""

    permission_classes = [IsAuthenticated, BlockerPermission]
    filterset_class = BlockerFilterSet
    ordering_fields = ["opened_at", "severity", "status"]
    ordering = ["status", "-severity", "opened_at", "id"]
    output_serializer = BlockerSerializer
    input_serializers = {
        "create": BlockerCreateSerializer,
        "resolve": BlockerResolveSerializer,
        "assign": BlockerAssignSerializer,
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Blocker.objects.none()
        return selectors.blocker_list(user=self.request.user)

    @extend_schema(responses={201: BlockerSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        blocker = blocker_open(actor=request.user, **self._input(request))
        return self._output(blocker, code=status.HTTP_201_CREATED)

    @extend_schema(request=BlockerResolveSerializer, responses={200: BlockerSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Resolve an open blocker or risk (leads of the project and its owner may)."""
        blocker = blocker_resolve(blocker=self.get_object(), actor=request.user, **self._input(request))
        return self._output(blocker)

    @extend_schema(request=BlockerAssignSerializer, responses={200: BlockerSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        """Give the blocker to a member of its project (leads may)."""
        blocker = blocker_assign(blocker=self.get_object(), actor=request.user, **self._input(request))
        return self._output(blocker)
