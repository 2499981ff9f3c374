from django.urls import path

from workbench import authoring, project_settings, team, views

app_name = "projects"

urlpatterns = [
    path("", views.portfolio, name="portfolio"),
    path("<int:pk>/", views.project_detail, name="project_detail"),
    path("<int:pk>/transition/", views.project_transition, name="project_transition"),
    path("<int:pk>/blockers/", views.blocker_open, name="blocker_open"),
    path("<int:pk>/blockers/<int:blocker_pk>/resolve/", views.blocker_resolve, name="blocker_resolve"),
    path("<int:pk>/blockers/<int:blocker_pk>/assign/", views.blocker_assign, name="blocker_assign"),
    path("<int:pk>/milestones/", views.milestone_create, name="milestone_create"),
    path("<int:pk>/milestones/<int:milestone_pk>/", views.milestone_update, name="milestone_update"),
    path("<int:pk>/retrospective/", views.retrospective_detail, name="retrospective"),
    path("<int:pk>/retrospective.md", views.retrospective_markdown, name="retrospective_markdown"),
    path("<int:pk>/retrospective/lessons/", views.lessons_update, name="lessons_update"),
    path("<int:pk>/flags/<int:flag_pk>/answer/", views.flag_answer, name="flag_answer"),
    path("<int:pk>/imports/", views.import_create, name="import_create"),
    path("<int:pk>/imports/<int:job_pk>/", views.import_status, name="import_status"),
    path("<int:pk>/imports/<int:job_pk>/retry/", views.import_retry, name="import_retry"),
    path("<int:pk>/imports/<int:job_pk>/errors.csv", views.import_error_report, name="import_error_report"),
    # The project's team and settings (its leads).
    path("<int:pk>/team/", team.team_page, name="team"),
    path("<int:pk>/team/add/", team.member_add, name="member_add"),
    path("<int:pk>/team/invite/", team.member_invite, name="member_invite"),
    path("<int:pk>/team/<int:membership_pk>/profile/", team.member_profile, name="member_profile"),
    path("<int:pk>/team/<int:membership_pk>/remove/", team.member_remove, name="member_remove"),
    path("<int:pk>/settings/", project_settings.settings_page, name="settings"),
    # Authoring (workbench.authoring): the project's label schema and guideline.
    path("<int:pk>/schema/", authoring.schema_edit, name="schema_edit"),
    path("<int:pk>/schema/preview/", authoring.schema_preview, name="schema_preview"),
    path("<int:pk>/schema/publish/", authoring.schema_publish, name="schema_publish"),
    path("<int:pk>/guideline/", authoring.guideline_edit, name="guideline_edit"),
    path("<int:pk>/guideline/preview/", authoring.guideline_preview, name="guideline_preview"),
    path("<int:pk>/guideline/publish/", authoring.guideline_publish, name="guideline_publish"),
    path("requests/", views.request_list, name="request_list"),
    path("requests/<int:pk>/", views.request_detail, name="request_detail"),
    path("requests/<int:pk>/comments/", views.request_comment, name="request_comment"),
    path("requests/<int:pk>/accept/", views.request_accept, name="request_accept"),
    path("requests/<int:pk>/reject/", views.request_reject, name="request_reject"),
]
