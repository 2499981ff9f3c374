"""API of authoring under /api/v1/: label schemas and their drafts (`schemas/`), guideline drafts
per project (`guideline-drafts/{project}/`), published guideline versions and their
acknowledgements (`guidelines/`).

A draft is saved with the `revision` it was read at: a stale one is refused with 409 and what
changed (core.errors.StaleEdit). What you may not see is a 404 (schemas of projects you have no
role on, other projects' guidelines); what your role may not do is a 403 (annotators editing).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Max, Q
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.models import Guideline, LabelSchema
from annotation.presenters import guideline_html
from annotation.selectors_authoring import (
    guideline_acknowledgement_rows,
    guideline_draft_state,
    schema_draft_state,
)
from annotation.services import authoring
from core.viewsets import ServiceViewSet
from projects import access
from projects.models import Project

_ERRORS = {
    400: OpenApiResponse(description="Invalid input: {detail, code, field} says what and where."),
    403: OpenApiResponse(description="Your role may not do this."),
    404: OpenApiResponse(description="Not among what you may see."),
}
_CONFLICT = {
    409: OpenApiResponse(description="Stale revision: {detail, code: conflict, field, current} says what changed.")
}


# --- Serializers ------------------------------------------------------------------------------------


class LabelDefinitionSerializer(serializers.Serializer):
    """One label of a draft or version (validated in full by the service, which names the row)."""

    key = serializers.CharField(help_text="1-64 lowercase letters, digits, '_' or '-'.")
    name = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    parent = serializers.CharField(required=False, allow_null=True, allow_blank=True, help_text="A key of this list.")
    severity = serializers.IntegerField(required=False, min_value=0, max_value=4)
    shortcut = serializers.CharField(required=False, allow_blank=True, max_length=1)
    examples = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)


class LabelSchemaSerializer(serializers.ModelSerializer):
    current_version = serializers.IntegerField(read_only=True, allow_null=True, help_text="The version in force.")

    class Meta:
        model = LabelSchema
        fields = ["id", "name", "description", "selection", "none_option", "current_version", "created_at"]
        read_only_fields = fields


class SchemaDraftSerializer(serializers.Serializer):
    schema = serializers.IntegerField(source="schema.pk", read_only=True)
    labels = LabelDefinitionSerializer(many=True, read_only=True)
    selection = serializers.CharField(read_only=True)
    none_option = serializers.BooleanField(read_only=True)
    note = serializers.CharField(read_only=True)
    revision = serializers.IntegerField(read_only=True, help_text="Send it back with the next save or publish.")
    is_open = serializers.BooleanField(read_only=True, help_text="False: no open draft; this is the version in force.")
    current_number = serializers.IntegerField(read_only=True, allow_null=True)
    next_number = serializers.IntegerField(read_only=True)
    updated_by = serializers.CharField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class SchemaCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    selection = serializers.ChoiceField(choices=LabelSchema.Selection.choices, default=LabelSchema.Selection.SINGLE)
    none_option = serializers.BooleanField(default=False, help_text='Multi-choice: offer "none of these".')
    labels = serializers.ListField(child=serializers.DictField(), help_text="Label definitions (LabelDefinition).")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    project = serializers.PrimaryKeyRelatedField(
        queryset=Project.objects.all(), required=False, allow_null=True, help_text="Use the schema in this project."
    )


class SchemaDraftSaveSerializer(serializers.Serializer):
    labels = serializers.ListField(child=serializers.DictField(), help_text="Label definitions (LabelDefinition).")
    selection = serializers.ChoiceField(choices=LabelSchema.Selection.choices, required=False)
    none_option = serializers.BooleanField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    revision = serializers.IntegerField(min_value=0, help_text="The revision the draft was read at.")


class RevisionSerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=0, help_text="The revision the draft was read at.")


class SchemaUseSerializer(serializers.Serializer):
    project = serializers.IntegerField(help_text="The project to label with this schema (you lead it).")


class SchemaVersionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    schema = serializers.IntegerField(source="schema_id", read_only=True)
    number = serializers.IntegerField(read_only=True)
    note = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class GuidelineSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = Guideline
        fields = ["id", "project", "version", "note", "body", "created_by", "created_at"]
        read_only_fields = fields


class GuidelineDraftSerializer(serializers.Serializer):
    body = serializers.CharField(read_only=True)
    note = serializers.CharField(read_only=True, help_text="The changelog line of the version to publish.")
    revision = serializers.IntegerField(read_only=True, help_text="Send it back with the next save or publish.")
    is_open = serializers.BooleanField(read_only=True, help_text="False: no open draft; body is the version in force.")
    current_version = serializers.IntegerField(source="current.version", read_only=True, allow_null=True)
    next_version = serializers.IntegerField(read_only=True)
    updated_by = serializers.CharField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class GuidelineDraftSaveSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="Markdown.")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    revision = serializers.IntegerField(min_value=0, help_text="The revision the draft was read at.")


class GuidelinePreviewSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="Markdown.")


class GuidelinePreviewOutSerializer(serializers.Serializer):
    html = serializers.CharField(read_only=True, help_text="Sanitised as the task page renders guidelines.")


class AcknowledgementSerializer(serializers.Serializer):
    annotator = serializers.IntegerField(source="annotator_id", read_only=True)
    username = serializers.CharField(read_only=True)
    acknowledged_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Empty: not yet.")


class AcknowledgeOutSerializer(serializers.Serializer):
    guideline = serializers.IntegerField(source="guideline_id", read_only=True)
    acknowledged_at = serializers.DateTimeField(read_only=True)


# --- Permissions ------------------------------------------------------------------------------------


class SchemaPermission(BasePermission):
    """Leads author schemas; others read the schemas of their projects."""

    message = "Only project leads create and change label schemas."

    def has_permission(self, request, view) -> bool:
        if view.action in ("create", "publish", "use") or (view.action == "draft" and request.method != "GET"):
            return access.can_author_schemas(request.user)
        return True


class GuidelineDraftPermission(BasePermission):
    message = "Only a lead of this project writes and reads its guideline drafts."

    def has_object_permission(self, request, view, obj) -> bool:
        return access.can_manage_project(request.user, obj)


class GuidelinePermission(BasePermission):
    def has_object_permission(self, request, view, obj) -> bool:
        if view.action == "acknowledgements":
            self.message = "Only a lead of this project sees who has acknowledged its guideline."
            return access.can_manage_project(request.user, obj.project)
        if view.action == "acknowledge":
            self.message = "Only the project's annotators acknowledge its guideline."
            return "annotator" in access.project_roles(request.user, obj.project)
        return True


# --- Viewsets ---------------------------------------------------------------------------------------


def schema_list(*, user: Any):
    """Schemas `user` may see: every one for leads (schemas are shared), else those of the
    projects they may see; with the number of the version in force."""
    schemas = LabelSchema.objects.annotate(current_version=Max("versions__number"))
    if access.can_author_schemas(user):
        return schemas
    used = Project.objects.filter(pk__in=access.visible_project_ids(user)).values("label_schema_id")
    return schemas.filter(Q(pk__in=used))


@extend_schema(tags=["annotation"])
class LabelSchemaViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ServiceViewSet):
    """Label schemas: create one (as a draft of v1), edit its draft, publish the draft as the
    next version ("use this version"), and choose the schema for a project."""

    permission_classes = [IsAuthenticated, SchemaPermission]
    output_serializer = LabelSchemaSerializer
    input_serializers = {
        "create": SchemaCreateSerializer,
        "publish": RevisionSerializer,
        "use": SchemaUseSerializer,
    }
    ordering = ["name"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LabelSchema.objects.none()
        return schema_list(user=self.request.user)

    def get_serializer_class(self):
        if self.action == "draft":
            return SchemaDraftSaveSerializer if self.request.method == "PUT" else SchemaDraftSerializer
        return super().get_serializer_class()

    @extend_schema(request=SchemaCreateSerializer, responses={201: SchemaDraftSerializer, **_ERRORS})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create a schema with a draft of its v1 (published with `publish`); with `project`, the
        project (which you lead) is labeled with it."""
        fields = self._input(request)
        project = fields.pop("project", None)
        if project is not None and not access.can_view_project(request.user, project):
            raise serializers.ValidationError({"project": ["No such project among yours."]})
        draft = authoring.schema_draft_create(actor=request.user, **fields)
        if project is not None:
            authoring.project_schema_use(project=project, schema=draft.schema, actor=request.user)
        return self._output(
            schema_draft_state(schema=draft.schema), SchemaDraftSerializer, code=status.HTTP_201_CREATED
        )

    @extend_schema(methods=["GET"], responses={200: SchemaDraftSerializer, 404: _ERRORS[404]})
    @extend_schema(
        methods=["PUT"],
        request=SchemaDraftSaveSerializer,
        responses={200: SchemaDraftSerializer, **_ERRORS, **_CONFLICT},
    )
    @action(detail=True, methods=["get", "put"])
    def draft(self, request: Request, pk: str | None = None) -> Response:
        """GET: the draft of the next version (or, with no open draft, the version in force to
        start from) and its revision. PUT: save the draft; a stale revision is a 409."""
        schema = self.get_object()
        if request.method == "PUT":
            fields = self._input(request)
            authoring.schema_draft_save(schema=schema, actor=request.user, **fields)
        return self._output(schema_draft_state(schema=schema), SchemaDraftSerializer)

    @extend_schema(request=RevisionSerializer, responses={201: SchemaVersionOutSerializer, **_ERRORS, **_CONFLICT})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        """Use this version: publish the draft as the next version, in force from now on in every
        project on the schema (you must lead each). Versions are never changed afterwards."""
        schema = self.get_object()
        version = authoring.schema_draft_publish(schema=schema, actor=request.user, **self._input(request))
        return self._output(version, SchemaVersionOutSerializer, code=status.HTTP_201_CREATED)

    @extend_schema(request=SchemaUseSerializer, responses={200: LabelSchemaSerializer, **_ERRORS})
    @action(detail=True, methods=["post"])
    def use(self, request: Request, pk: str | None = None) -> Response:
        """Label a project you lead with this schema (refused once it has annotations under another)."""
        schema = self.get_object()
        project = access.visible_projects(request.user).filter(pk=self._input(request)["project"]).first()
        if project is None:
            raise serializers.ValidationError({"project": ["No such project among yours."]})
        authoring.project_schema_use(project=project, schema=schema, actor=request.user)
        return self._output(self.get_queryset().get(pk=schema.pk))


@extend_schema(tags=["annotation"])
class GuidelineDraftViewSet(ServiceViewSet):
    """A project's guideline draft, by project id: read, save (with its revision), preview and
    publish as the next numbered version. Leads of the project."""

    permission_classes = [IsAuthenticated, GuidelineDraftPermission]
    output_serializer = GuidelineDraftSerializer
    input_serializers = {
        "update": GuidelineDraftSaveSerializer,
        "publish": RevisionSerializer,
        "preview": GuidelinePreviewSerializer,
    }
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return access.visible_projects(self.request.user).select_related("lead", "request")

    @extend_schema(responses={200: GuidelineDraftSerializer, 403: _ERRORS[403], 404: _ERRORS[404]})
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        """The draft of the next version (or, with none open, the version in force) and its revision."""
        return self._output(guideline_draft_state(project=self.get_object()))

    @extend_schema(
        request=GuidelineDraftSaveSerializer, responses={200: GuidelineDraftSerializer, **_ERRORS, **_CONFLICT}
    )
    def update(self, request: Request, pk: str | None = None) -> Response:
        """Save the draft (Markdown body and changelog line); a stale revision is a 409."""
        project = self.get_object()
        authoring.guideline_draft_save(project=project, actor=request.user, **self._input(request))
        return self._output(guideline_draft_state(project=project))

    @extend_schema(request=RevisionSerializer, responses={201: GuidelineSerializer, **_ERRORS, **_CONFLICT})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        """Publish the draft as the next numbered version, in force at once; annotators who worked
        on the project acknowledge it before their next item."""
        project = self.get_object()
        guideline = authoring.guideline_draft_publish(project=project, actor=request.user, **self._input(request))
        return self._output(guideline, GuidelineSerializer, code=status.HTTP_201_CREATED)

    @extend_schema(request=GuidelinePreviewSerializer, responses={200: GuidelinePreviewOutSerializer, **_ERRORS})
    @action(detail=True, methods=["post"])
    def preview(self, request: Request, pk: str | None = None) -> Response:
        """The body rendered and sanitised exactly as the task page shows guidelines (nothing saved)."""
        self.get_object()
        return self._output({"html": str(guideline_html(self._input(request)["body"]))}, GuidelinePreviewOutSerializer)


@extend_schema(tags=["annotation"])
class GuidelineViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ServiceViewSet):
    """Published guideline versions of the projects you are on (filter with ?project=), the
    annotator's acknowledgement of the one in force, and (leads) who has not acknowledged it."""

    permission_classes = [IsAuthenticated, GuidelinePermission]
    output_serializer = GuidelineSerializer
    filterset_fields = ["project"]
    ordering = ["project", "-version"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Guideline.objects.none()
        return Guideline.objects.filter(project_id__in=access.member_project_ids(self.request.user)).select_related(
            "project", "created_by"
        )

    @extend_schema(request=None, responses={200: AcknowledgeOutSerializer, **_ERRORS})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        """Acknowledge this version (it must be the one in force): `next` gives you items again."""
        acknowledgement = authoring.guideline_acknowledge(guideline=self.get_object(), actor=request.user)
        return self._output(acknowledgement, AcknowledgeOutSerializer)

    @extend_schema(responses={200: AcknowledgementSerializer(many=True), 403: _ERRORS[403], 404: _ERRORS[404]})
    @action(detail=True, methods=["get"])
    def acknowledgements(self, request: Request, pk: str | None = None) -> Response:
        """Who had to acknowledge this version and when they did (acknowledged_at empty: not yet)."""
        rows = guideline_acknowledgement_rows(guideline=self.get_object())
        return Response(AcknowledgementSerializer(rows, many=True).data)
