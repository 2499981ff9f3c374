"""Staff API under /api/v1/staff/: users (list, create, activate/deactivate, make staff, role,
team) and requester teams (list, create, add and remove members). Staff only: anyone else is
refused with 403 (the section is not theirs), as the staff pages are."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Team
from core.viewsets import ServiceViewSet
from projects import access
from workbench import people
from workbench.services import staff

User = get_user_model()


class IsStaff(BasePermission):
    message = "Only staff manage users and teams."

    def has_permission(self, request, view) -> bool:
        return access.can_manage_accounts(request.user)


class TeamSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class StaffUserSerializer(serializers.ModelSerializer):
    team = TeamSummarySerializer(read_only=True, allow_null=True)
    has_password = serializers.BooleanField(
        source="has_usable_password", read_only=True, help_text="False until they set one through their link."
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "role",
            "team",
            "is_active",
            "is_staff",
            "has_password",
            "last_login",
            "date_joined",
        ]
        read_only_fields = fields


class StaffUserCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=User.Role.choices)
    username = serializers.CharField(
        max_length=150, required=False, allow_blank=True, help_text="Made from the email when left out."
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    is_staff = serializers.BooleanField(required=False, default=False)
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        max_length=128,
        help_text="Leave out to send a one-time set-password link instead.",
    )


class StaffUserCreatedSerializer(serializers.Serializer):
    user = StaffUserSerializer(read_only=True)
    set_password_link = serializers.CharField(
        source="link", read_only=True, help_text="One-time set-password link ('' when a password was given)."
    )
    email_sent = serializers.BooleanField(read_only=True)
    email_error = serializers.CharField(read_only=True)


class StaffUserUpdateSerializer(serializers.Serializer):
    is_active = serializers.BooleanField(required=False, help_text="False deactivates: no sign-in, leases released.")
    is_staff = serializers.BooleanField(required=False)
    role = serializers.ChoiceField(choices=User.Role.choices, required=False)
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)


class StaffTeamSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)
    members = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "member_count", "members", "created_at"]
        read_only_fields = fields

    def get_members(self, obj: Team) -> list[str]:
        # Prefetched by people.staff_team_list: no query here.
        return [member.username for member in obj.members.all()]


class StaffTeamCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    slug = serializers.CharField(
        max_length=120, required=False, allow_blank=True, help_text="From the name when left out."
    )


class StaffTeamMemberSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())


STAFF_USER_FILTERS = [
    OpenApiParameter("q", str, description="Part of a username, name or email."),
    OpenApiParameter("is_active", bool, description="Only active (true) or deactivated (false) accounts."),
]


@extend_schema(tags=["staff"])
class StaffUserViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, ServiceViewSet
):
    """Every account (staff only)."""

    permission_classes = [IsAuthenticated, IsStaff]
    filter_backends: list = []
    output_serializer = StaffUserSerializer
    input_serializers = {"create": StaffUserCreateSerializer, "partial_update": StaffUserUpdateSerializer}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return User.objects.none()
        active = {"true": True, "false": False}.get(self.request.query_params.get("is_active", "").lower())
        return people.staff_user_list(user=self.request.user, q=self.request.query_params.get("q", ""), active=active)

    @extend_schema(parameters=STAFF_USER_FILTERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=StaffUserCreateSerializer, responses={201: StaffUserCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create an account, with a password or with a one-time set-password link (emailed and answered)."""
        created = staff.user_create(
            actor=request.user, site_url=request.build_absolute_uri("/"), **self._input(request)
        )
        return self._output(created, StaffUserCreatedSerializer, code=status.HTTP_201_CREATED)

    @extend_schema(request=StaffUserUpdateSerializer, responses={200: StaffUserSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Deactivate or reactivate, make staff or not, change the primary role or the team."""
        user = staff.user_update(actor=request.user, user=self.get_object(), **self._input(request))
        return self._output(people.staff_user_list(user=request.user).get(pk=user.pk))


@extend_schema(tags=["staff"])
class StaffTeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ServiceViewSet):
    """Requester teams and their members (staff only)."""

    permission_classes = [IsAuthenticated, IsStaff]
    filter_backends: list = []
    output_serializer = StaffTeamSerializer
    input_serializers = {
        "create": StaffTeamCreateSerializer,
        "add_member": StaffTeamMemberSerializer,
        "remove_member": StaffTeamMemberSerializer,
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Team.objects.none()
        return people.staff_team_list(user=self.request.user)

    def _loaded(self, team: Team) -> Response:
        return self._output(people.staff_team_list(user=self.request.user).get(pk=team.pk))

    @extend_schema(request=StaffTeamCreateSerializer, responses={201: StaffTeamSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        team = staff.team_create(actor=request.user, **self._input(request))
        response = self._loaded(team)
        response.status_code = status.HTTP_201_CREATED
        return response

    @extend_schema(request=StaffTeamMemberSerializer, responses={200: StaffTeamSerializer})
    @action(detail=True, methods=["post"], url_path="add-member")
    def add_member(self, request: Request, pk: str | None = None) -> Response:
        """Put a user in the team (a user in another team moves)."""
        team = self.get_object()
        staff.team_member_add(actor=request.user, team=team, **self._input(request))
        return self._loaded(team)

    @extend_schema(request=StaffTeamMemberSerializer, responses={200: StaffTeamSerializer})
    @action(detail=True, methods=["post"], url_path="remove-member")
    def remove_member(self, request: Request, pk: str | None = None) -> Response:
        """Take a user out of the team."""
        team = self.get_object()
        staff.team_member_remove(actor=request.user, team=team, **self._input(request))
        return self._loaded(team)
