"""API of a project's team under /api/v1/members/: list, add, change a member's qualifications
and wellness cap, remove, and invite someone new.

Memberships are visible to the leads of their project only (anyone else: 404); adding or
inviting to a project you see but do not lead is a 403 (the services decide: NotAllowed)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.filters import IntegerFilter
from core.schema import ErrorSerializer
from core.viewsets import ServiceViewSet
from projects.models import Membership, Modality
from projects.serializers import VisibleProjectField
from workbench import people
from workbench.services.team import TEAM_ROLES, member_add, member_invite, member_profile_update, member_remove

User = get_user_model()
TEAM_ROLE_CHOICES = [(role.value, role.label) for role in TEAM_ROLES]


class MemberUserSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(read_only=True)
    languages = serializers.ListField(child=serializers.CharField(), read_only=True)
    modalities = serializers.ListField(child=serializers.CharField(), read_only=True)
    policy_areas = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "display_name",
            "email",
            "is_active",
            "languages",
            "modalities",
            "policy_areas",
            "graphic_daily_cap",
        ]
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    user = MemberUserSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "project", "user", "role", "is_active", "paused_at", "paused_reason", "created_at"]
        read_only_fields = fields


class MembershipCreateSerializer(serializers.Serializer):
    project = VisibleProjectField()
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), help_text="An active user's id."
    )
    role = serializers.ChoiceField(choices=TEAM_ROLE_CHOICES)


class MemberProfileSerializer(serializers.Serializer):
    """The person's qualifications and personal wellness cap (theirs in every project)."""

    languages = serializers.ListField(
        child=serializers.CharField(max_length=35), required=False, help_text="Language codes, e.g. ['en', 'pt-BR']."
    )
    modalities = serializers.ListField(
        child=serializers.ChoiceField(choices=Modality.choices),
        required=False,
        help_text="Modalities they are qualified for; empty means all.",
    )
    policy_areas = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, help_text="Policy area keys, e.g. ['hate']."
    )
    graphic_daily_cap = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=2**31 - 1,
        help_text="At most this many graphic items a day whatever the project allows (0: none); null: the project's cap.",
    )


class MemberInviteSerializer(serializers.Serializer):
    project = VisibleProjectField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=TEAM_ROLE_CHOICES)
    username = serializers.CharField(
        max_length=150, required=False, allow_blank=True, help_text="Made from the email when left out."
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class InvitationSerializer(serializers.Serializer):
    membership = MembershipSerializer(read_only=True)
    set_password_link = serializers.URLField(
        source="link", read_only=True, help_text="One-time link to choose a password; also emailed to the person."
    )
    email_sent = serializers.BooleanField(read_only=True)
    email_error = serializers.CharField(read_only=True)


class RemovalSerializer(serializers.Serializer):
    membership = MembershipSerializer(read_only=True)
    released_leases = serializers.IntegerField(
        read_only=True, help_text="Open leases of the member closed (as skipped) and their slots given back."
    )
    project_lead = serializers.IntegerField(
        source="new_project_lead.pk",
        read_only=True,
        allow_null=True,
        help_text="The project's new lead, when the member removed was its lead; else null.",
    )


class MembershipFilterSet(filters.FilterSet):
    project = IntegerFilter(field_name="project_id", lookup_expr="exact")
    role = filters.ChoiceFilter(field_name="role", lookup_expr="exact", choices=TEAM_ROLE_CHOICES)

    class Meta:
        model = Membership
        fields = ["project", "role"]


@extend_schema(tags=["projects"])
class MembershipViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ServiceViewSet,
):
    """The members of the projects you lead: who holds which role, and their qualifications."""

    permission_classes = [IsAuthenticated]
    filterset_class = MembershipFilterSet
    ordering_fields = ["created_at", "role"]
    ordering = ["project", "role", "user__username", "id"]
    output_serializer = MembershipSerializer
    input_serializers = {
        "create": MembershipCreateSerializer,
        "partial_update": MemberProfileSerializer,
        "invite": MemberInviteSerializer,
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return people.membership_list(user=self.request.user)

    @extend_schema(responses={201: MembershipSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Give an existing user a role on a project you lead (adding a role they hold changes nothing)."""
        membership = member_add(actor=request.user, **self._input(request))
        return self._output(membership, code=status.HTTP_201_CREATED)

    @extend_schema(request=MemberProfileSerializer, responses={200: MembershipSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change the member's qualifications (languages, modalities, policy areas) and personal graphic cap."""
        membership = self.get_object()
        membership.user = member_profile_update(
            project=membership.project, member=membership.user, actor=request.user, **self._input(request)
        )
        return self._output(membership)

    @extend_schema(
        responses={
            200: RemovalSerializer,
            # No body, but a refusal still says why: the project's last lead stays.
            400: OpenApiResponse(ErrorSerializer, description="Refused: `detail` says why (the last lead stays)."),
        }
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Take the role away: their work stays, their open leases are released to the pool, and the
        project's last lead cannot be removed."""
        removal = member_remove(membership=self.get_object(), actor=request.user)
        return self._output(removal, RemovalSerializer)

    @extend_schema(request=MemberInviteSerializer, responses={201: InvitationSerializer})
    @action(detail=False, methods=["post"])
    def invite(self, request: Request) -> Response:
        """Invite someone new to a project you lead: an account without a password, the role, and a
        one-time set-password link (emailed to them and in the answer)."""
        invitation = member_invite(actor=request.user, site_url=request.build_absolute_uri("/"), **self._input(request))
        return self._output(invitation, InvitationSerializer, code=status.HTTP_201_CREATED)
