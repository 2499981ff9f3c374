"""Serializers of the projects API. <Model>Serializer is output only (read-only, loaded by the
selectors: no queries here); <Model>CreateSerializer and the action serializers only parse and
type-check input. Business rules (deadlines, language codes, volumes, roles, phases) live in
projects.services, which the views call with `validated_data`: nothing here saves anything."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import User
from projects.models import Blocker, DataRequest, Project, RequestComment
from projects.serializers import VisibleProjectField
from workbench.forecast import Status as ForecastStatus
from workbench.services.datarequests import REQUEST_COMMENT_MAX_LENGTH
from workbench.services.lifecycle import PROJECT_SETTINGS, project_next_phases


class UserSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username"]
        read_only_fields = fields


class ProposedLabelSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=64, help_text="Lowercase letters, digits, '_' or '-', e.g. 'hate'.")
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    definition = serializers.CharField(required=False, allow_blank=True)


class _LanguagesField(serializers.ListField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Language codes, e.g. ['en', 'pt-BR'].")
        super().__init__(child=serializers.CharField(max_length=35), **kwargs)


def _active_users():
    return User.objects.filter(is_active=True)


# --- Data requests ----------------------------------------------------------------------------

DATAREQUEST_INPUT_FIELDS = [
    "title",
    "description",
    "purpose",
    "modality",
    "languages",
    "regions",
    "label_schema",
    "proposed_labels",
    "volume_total",
    "volume_per_class",
    "sampling_notes",
    "privacy_notes",
    "deadline",
    "min_alpha",
    "min_gold_accuracy",
    "priority",
]


class ForecastSerializer(serializers.Serializer):
    """workbench.forecast.Forecast: the finish date from the recent daily throughput."""

    status = serializers.ChoiceField(
        choices=list(ForecastStatus.LABELS.items()),
        help_text="on_track (even the late end of the range meets the deadline), at_risk, late, done, "
        "or unknown (no deadline, or no recent work to forecast from).",
    )
    finish = serializers.DateField(allow_null=True, help_text="The forecast finish date.")
    earliest = serializers.DateField(allow_null=True)
    latest = serializers.DateField(allow_null=True, help_text="Null when the pessimistic rate is not positive.")
    deadline = serializers.DateField(allow_null=True)
    slack_days = serializers.IntegerField(allow_null=True, help_text="Deadline minus forecast finish (negative: late).")
    remaining = serializers.IntegerField(help_text="Annotations still to do.")
    rate = serializers.FloatField(help_text="Annotations per day, the mean over the recent days.")
    days = serializers.IntegerField(help_text="Days of throughput the rate is taken over.")


class RequestProjectSerializer(serializers.ModelSerializer):
    """The project answering a request, as its team follows it: phase, progress and forecast."""

    progress = serializers.FloatField(read_only=True, help_text="Share of the required annotations done, 0 to 1.")
    forecast = ForecastSerializer(
        read_only=True,
        allow_null=True,
        default=None,
        help_text="When it should finish, from the recent daily throughput (on the request's detail and list).",
    )

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "phase",
            "phase_changed_at",
            "deadline",
            "items_total",
            "items_completed",
            "annotations_required",
            "annotations_done",
            "progress",
            "progress_refreshed_at",
            "forecast",
        ]
        read_only_fields = fields


class DataRequestSerializer(serializers.ModelSerializer):
    languages = _LanguagesField(read_only=True)
    regions = serializers.ListField(child=serializers.CharField(), read_only=True)
    proposed_labels = ProposedLabelSerializer(many=True, read_only=True)
    volume_per_class = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    requester = serializers.CharField(source="requester.username", read_only=True)
    team = serializers.CharField(source="team.name", read_only=True, allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, allow_null=True)
    project = serializers.IntegerField(
        source="project.id", read_only=True, allow_null=True, help_text="The project made from it, once accepted."
    )
    stage = serializers.ChoiceField(
        choices=DataRequest.Stage.choices,
        read_only=True,
        help_text="submitted, rejected (see rejection_reason), accepted (its project is being set up), "
        "in_production (see project_status for progress) or delivered.",
    )
    project_status = RequestProjectSerializer(
        source="project",
        read_only=True,
        allow_null=True,
        help_text="Once accepted: the project's phase, progress (annotations done of those required) and forecast.",
    )

    class Meta:
        model = DataRequest
        fields = [
            "id",
            *DATAREQUEST_INPUT_FIELDS,
            "status",
            "stage",
            "rejection_reason",
            "requester",
            "team",
            "decided_by",
            "decided_at",
            "project",
            "project_status",
            "created_at",
        ]
        read_only_fields = fields


class DataRequestCreateSerializer(serializers.ModelSerializer):
    languages = _LanguagesField(required=False)
    regions = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    proposed_labels = ProposedLabelSerializer(
        many=True, required=False, help_text="Labels to create, when no existing label_schema fits."
    )
    volume_per_class = serializers.DictField(
        child=serializers.IntegerField(min_value=0), required=False, help_text="{label key: item count}"
    )

    class Meta:
        model = DataRequest
        fields = DATAREQUEST_INPUT_FIELDS


class DataRequestAcceptSerializer(serializers.Serializer):
    lead = serializers.PrimaryKeyRelatedField(
        queryset=_active_users(), required=False, allow_null=True, help_text="The project's lead; you by default."
    )
    name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="The project's name; the request title by default."
    )


class DataRequestRejectSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Why the request is rejected; the requester reads it.")


class RequestCommentSerializer(serializers.ModelSerializer):
    author = UserSummarySerializer(read_only=True)

    class Meta:
        model = RequestComment
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = fields


class RequestCommentCreateSerializer(serializers.Serializer):
    body = serializers.CharField(
        max_length=REQUEST_COMMENT_MAX_LENGTH,
        help_text=f"The message (plain text, up to {REQUEST_COMMENT_MAX_LENGTH} characters).",
    )


# --- Projects ---------------------------------------------------------------------------------

# The settings a lead chooses, as the service names them (description is listed on its own).
PROJECT_SETTINGS_FIELDS = [field for field in PROJECT_SETTINGS if field != "description"]


class ProjectSerializer(serializers.ModelSerializer):
    lead = UserSummarySerializer(read_only=True)
    languages = _LanguagesField(read_only=True)
    progress = serializers.FloatField(read_only=True, help_text="Share of the required annotations done, 0 to 1.")
    open_blockers = serializers.IntegerField(read_only=True)
    open_risks = serializers.IntegerField(read_only=True)
    next_phases = serializers.SerializerMethodField(help_text="The phases the rules allow next (guards aside).")

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "phase",
            "phase_changed_at",
            "lead",
            "request",
            *PROJECT_SETTINGS_FIELDS,
            "items_total",
            "annotations_required",
            "annotations_done",
            "items_completed",
            "progress",
            "open_blockers",
            "open_risks",
            "next_phases",
            "settings_version",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "settings_version": {
                "help_text": "Grows with every settings change; send it back as `version` (or If-Match) when you PATCH."
            }
        }

    def get_next_phases(self, obj: Project) -> list[str]:
        # Pure rules on the row's own fields: no query.
        return project_next_phases(project=obj)


class ProjectCreateSerializer(serializers.ModelSerializer):
    lead = serializers.PrimaryKeyRelatedField(
        queryset=_active_users(), required=False, help_text="The project's lead; you by default."
    )
    languages = _LanguagesField(required=False)

    class Meta:
        model = Project
        fields = ["name", "description", "lead", *PROJECT_SETTINGS_FIELDS]


class ProjectUpdateSerializer(serializers.ModelSerializer):
    """PATCH: any of the settings; the phase moves only through /transition/."""

    languages = _LanguagesField(required=False)
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="The settings_version you read. When given (here or as an If-Match header) and the settings "
        "changed since, nothing is saved and the answer is 409 with what changed. Leave it out to skip the check.",
    )

    class Meta:
        model = Project
        fields = ["name", "description", *PROJECT_SETTINGS_FIELDS, "version"]
        extra_kwargs = {field: {"required": False} for field in fields}


class ProjectTransitionSerializer(serializers.Serializer):
    to_phase = serializers.ChoiceField(choices=Project.Phase.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text="Needed to go on hold.")


# --- Blockers and risks -----------------------------------------------------------------------


class BlockerSerializer(serializers.ModelSerializer):
    project_name = serializers.CharField(source="project.name", read_only=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    opened_by = serializers.CharField(source="opened_by.username", read_only=True, allow_null=True)
    resolved_by = serializers.CharField(source="resolved_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Blocker
        fields = [
            "id",
            "project",
            "project_name",
            "kind",
            "title",
            "description",
            "severity",
            "status",
            "owner",
            "opened_by",
            "rule",
            "opened_at",
            "resolved_at",
            "resolved_by",
            "resolution",
        ]
        read_only_fields = fields


class BlockerCreateSerializer(serializers.ModelSerializer):
    project = VisibleProjectField()
    owner = serializers.PrimaryKeyRelatedField(queryset=_active_users(), required=False, allow_null=True)

    class Meta:
        model = Blocker
        fields = ["project", "kind", "title", "description", "severity", "owner"]


class BlockerResolveSerializer(serializers.Serializer):
    resolution = serializers.CharField(help_text="How it was resolved.")


class BlockerAssignSerializer(serializers.Serializer):
    owner = serializers.PrimaryKeyRelatedField(queryset=_active_users(), help_text="A member of the project.")
