from django.urls import path

from projects import views

app_name = "projects"

urlpatterns = [
    path("", views.portfolio, name="portfolio"),
    path("<int:pk>/", views.project_detail, name="project_detail"),
    path("<int:pk>/transition/", views.project_transition, name="project_transition"),
    path("<int:pk>/blockers/", views.blocker_open, name="blocker_open"),
    path("<int:pk>/blockers/<int:blocker_pk>/resolve/", views.blocker_resolve, name="blocker_resolve"),
    path("<int:pk>/flags/<int:flag_pk>/answer/", views.flag_answer, name="flag_answer"),
    path("<int:pk>/imports/", views.import_create, name="import_create"),
    path("<int:pk>/imports/<int:job_pk>/", views.import_status, name="import_status"),
    path("<int:pk>/imports/<int:job_pk>/errors.csv", views.import_error_report, name="import_error_report"),
    path("requests/", views.request_list, name="request_list"),
    path("requests/<int:pk>/", views.request_detail, name="request_detail"),
    path("requests/<int:pk>/accept/", views.request_accept, name="request_accept"),
    path("requests/<int:pk>/reject/", views.request_reject, name="request_reject"),
]
