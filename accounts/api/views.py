"""The accounts API: a token for a username and password (throttled by django-axes), and the
caller's own tokens, to list and revoke."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.api.serializers import TokenObtainedSerializer, TokenSerializer
from accounts.lockout import lockout_message, lockout_seconds
from core.schema import ErrorSerializer
from core.viewsets import ServiceViewSet


def _locked(request: Request) -> Response:
    """429 in the API's error shape, with Retry-After."""
    seconds = lockout_seconds(request)
    headers = {"Retry-After": str(seconds)} if seconds else None
    body = {"detail": lockout_message(request), "code": "locked_out"}
    return Response(body, status=status.HTTP_429_TOO_MANY_REQUESTS, headers=headers)


@extend_schema(
    tags=["accounts"],
    responses={
        200: TokenObtainedSerializer,
        400: ErrorSerializer,
        429: OpenApiResponse(
            ErrorSerializer,
            description="Too many failed sign-ins for this account or from this address; Retry-After says "
            "for how many seconds (staff can unlock sooner).",
        ),
    },
)
class TokenObtainView(ObtainAuthToken):
    """POST {username, password} → {token}: your API token (created on first use). Failed
    sign-ins count towards the account's and the address's lock, as on the sign-in form."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # django-axes marks the request it was given (this DRF request) when it locks.
            if getattr(request, "axes_locked_out", False):
                return _locked(request)
            raise exceptions.ValidationError(serializer.errors)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


@extend_schema(tags=["accounts"])
class TokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, ServiceViewSet):
    """Your own API tokens: list them; DELETE /{prefix}/ revokes one, in every process at once."""

    output_serializer = TokenSerializer
    lookup_field = "prefix"
    lookup_value_regex = f"[0-9a-f]{{{services.TOKEN_PREFIX_LENGTH}}}"
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Token.objects.none()
        return selectors.token_list(user=self.request.user)

    def get_object(self) -> Token:
        prefix = self.kwargs["prefix"]
        token = self.get_queryset().filter(key__startswith=prefix).first()
        if token is None:
            raise exceptions.NotFound(f"No token of yours starts with {prefix!r}.")
        return token

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.get_object()
        services.token_revoke(user=request.user, prefix=self.kwargs["prefix"], actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
