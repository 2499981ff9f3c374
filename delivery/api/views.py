"""API of the delivery app: deliveries (leads build them, requesters list and download them),
webhook endpoints of a team and their attempts, and model evaluations.

Querysets come from delivery.selectors, scoped to the user: what they may not see is a 404.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import QuorumError
from core.parsers import FormParser, JSONParser, MultiPartParser
from core.viewsets import ServiceViewSet
from delivery import policies, selectors
from delivery.api.filters import DeliveryFilterSet, EvaluationFilterSet
from delivery.api.serializers import (
    DeliveryCreateSerializer,
    DeliverySerializer,
    EvaluationCreateSerializer,
    EvaluationSerializer,
    WebhookAttemptSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
)
from delivery.models import Delivery, Evaluation, WebhookEndpoint
from delivery.services.build import delivery_create, delivery_retry
from delivery.services.evaluation import evaluation_create, evaluation_retry
from delivery.services.storage import delivery_file_path
from delivery.services.webhooks import webhook_endpoint_create, webhook_endpoint_deactivate
from projects import access as project_access

QUEUE_UNAVAILABLE = OpenApiResponse(
    description="The job queue (task broker) is unreachable: the job is marked failed, nothing started; retry later."
)


def _retry_responses(serializer: type, who: str) -> dict[Any, Any]:
    return {
        202: serializer,
        400: OpenApiResponse(description="It did not fail (only a failed job is retried)."),
        403: OpenApiResponse(description=who),
        404: OpenApiResponse(description="No such object among yours."),
        503: QUEUE_UNAVAILABLE,
    }


class DeliveryPermission(BasePermission):
    message = "Only project leads may ask for deliveries."

    def has_permission(self, request, view) -> bool:
        return view.action != "create" or project_access.can_ask_for_deliveries(request.user)

    def has_object_permission(self, request, view, obj) -> bool:
        if view.action == "retry" and not project_access.can_manage_project(request.user, obj.project):
            self.message = "Only a lead of the project may retry its delivery builds."
            return False
        return True


class EvaluationPermission(BasePermission):
    message = "Only who uploaded the predictions, or a lead of the project, may retry an evaluation."

    def has_object_permission(self, request, view, obj) -> bool:
        return view.action != "retry" or policies.can_retry_evaluation(request.user, obj)


@extend_schema(tags=["delivery"])
class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ServiceViewSet):
    """Deliveries: every build of the projects you lead; the done deliveries of your team's requests."""

    permission_classes = [IsAuthenticated, DeliveryPermission]
    filterset_class = DeliveryFilterSet
    ordering_fields = ["created_at", "version"]
    ordering = ["-created_at", "-id"]
    output_serializer = DeliverySerializer
    input_serializers = {"create": DeliveryCreateSerializer}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Delivery.objects.none()
        return selectors.delivery_list(user=self.request.user)

    @extend_schema(responses={201: DeliverySerializer, 503: QUEUE_UNAVAILABLE})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Ask for a delivery of a project you lead; it is built in the background (poll its progress)."""
        delivery = delivery_create(actor=request.user, **self._input(request))
        return self._output(selectors.delivery_get(user=request.user, pk=delivery.pk), code=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=_retry_responses(DeliverySerializer, DeliveryPermission.message))
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Build a failed delivery again (its reason is in `error`), with the options it was asked with."""
        delivery = delivery_retry(delivery=self.get_object(), actor=request.user)
        return self._output(selectors.delivery_get(user=request.user, pk=delivery.pk), code=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="A file name.")],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such file"),
        },
    )
    @action(detail=True, methods=["get"], url_path=r"files/(?P<name>[A-Za-z0-9_.\-]+)")
    def file(self, request: Request, pk: str | None = None, name: str = "", **kwargs: Any) -> FileResponse:
        """Download one file of a done delivery (streamed), or its manifest.json."""
        delivery = self.get_object()
        try:
            path = delivery_file_path(delivery=delivery, name=name)
        except QuorumError as exc:
            raise NotFound(exc.message) from exc
        return FileResponse(open(path, "rb"), as_attachment=True, filename=f"v{delivery.version}-{name}")


@extend_schema(tags=["delivery"])
class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, ServiceViewSet
):
    """Your team's webhook endpoints: POSTed `delivery.done` events, signed with HMAC-SHA256."""

    permission_classes = [IsAuthenticated]
    ordering = ["created_at", "id"]
    output_serializer = WebhookEndpointSerializer
    input_serializers = {"create": WebhookEndpointCreateSerializer}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return selectors.webhook_endpoint_list(user=self.request.user)

    @extend_schema(responses={201: WebhookEndpointSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = webhook_endpoint_create(actor=request.user, **self._input(request))
        return self._output(endpoint, code=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        """Deactivate: its attempts stay on record."""
        webhook_endpoint_deactivate(endpoint=instance, actor=self.request.user)

    @extend_schema(responses={200: WebhookAttemptSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def attempts(self, request: Request, pk: str | None = None) -> Response:
        """Every attempt to reach this endpoint, newest first (paginated)."""
        attempts = selectors.webhook_attempt_list(endpoint=self.get_object())
        page = self.paginate_queryset(attempts)
        return self.get_paginated_response(WebhookAttemptSerializer(page, many=True).data)


@extend_schema(tags=["delivery"])
class EvaluationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ServiceViewSet):
    """Model evaluations on delivered evaluation splits. Filter by delivery to compare uploads."""

    permission_classes = [IsAuthenticated, EvaluationPermission]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    filterset_class = EvaluationFilterSet
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]
    output_serializer = EvaluationSerializer
    input_serializers = {"create": EvaluationCreateSerializer}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Evaluation.objects.none()
        return selectors.evaluation_list(user=self.request.user)

    @extend_schema(
        request={"multipart/form-data": EvaluationCreateSerializer},
        responses={201: EvaluationSerializer, 503: QUEUE_UNAVAILABLE},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Upload predictions (CSV or JSON Lines) for a delivery's evaluation split; scored in the background."""
        fields = self._input(request)
        try:
            delivery = selectors.delivery_get(user=request.user, pk=fields.pop("delivery"))
        except Delivery.DoesNotExist as exc:
            raise NotFound("No such delivery.") from exc
        evaluation = evaluation_create(delivery=delivery, actor=request.user, **fields)
        evaluation.refresh_from_db()
        return self._output(evaluation, code=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses=_retry_responses(EvaluationSerializer, EvaluationPermission.message),
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Score a failed evaluation's predictions again (its reason is in `error`)."""
        evaluation = evaluation_retry(evaluation=self.get_object(), actor=request.user)
        return self._output(self.get_queryset().get(pk=evaluation.pk), code=status.HTTP_202_ACCEPTED)
