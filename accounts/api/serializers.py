"""Serializers of the accounts API: sign-in for a token, and a user's own tokens."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.authtoken.models import Token

from accounts.services import TOKEN_PREFIX_LENGTH


class TokenSerializer(serializers.ModelSerializer):
    """One of your API tokens, named by the first characters of its key (the key itself is shown
    only once, when POST /api/v1/auth/token/ hands it out)."""

    prefix = serializers.SerializerMethodField(help_text=f"The key's first {TOKEN_PREFIX_LENGTH} characters.")
    current = serializers.SerializerMethodField(help_text="Whether this request authenticated with this token.")

    class Meta:
        model = Token
        fields = ["prefix", "created", "current"]
        read_only_fields = fields

    def get_prefix(self, token: Token) -> str:
        return token.key[:TOKEN_PREFIX_LENGTH]

    def get_current(self, token: Token) -> bool:
        request = self.context.get("request")
        auth = getattr(request, "auth", None)
        return isinstance(auth, Token) and auth.key == token.key


class TokenObtainedSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")
