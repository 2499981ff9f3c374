"""The base of every API viewset: one output serializer, one input serializer per writing action,
and helpers that keep handlers to parse → one service call → output."""

from __future__ import annotations

from typing import Any

from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer


class ServiceViewSet(viewsets.GenericViewSet):
    """Output through `output_serializer`; the input of each writing action through `input_serializers`."""

    output_serializer: type[BaseSerializer]
    input_serializers: dict[str, type[BaseSerializer]] = {}

    def get_serializer_class(self) -> type[BaseSerializer]:
        return self.input_serializers.get(self.action, self.output_serializer)

    def filter_queryset(self, queryset):
        # Filters and ordering are the list's: an action on one object skips building them
        # (on submit, the FilterSet's form cost as much as the query).
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def _input(self, request: Request) -> dict[str, Any]:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _output(self, instance: Any, serializer_class: type[BaseSerializer] | None = None, code: int = 200) -> Response:
        serializer_class = serializer_class or self.output_serializer
        return Response(serializer_class(instance, context=self.get_serializer_context()).data, status=code)
