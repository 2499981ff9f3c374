from django.urls import path

from quality import views

app_name = "quality"

urlpatterns = [
    path("projects/<int:pk>/recompute/", views.report_recompute, name="report_recompute"),
    path("projects/<int:pk>/alpha-now/", views.alpha_now, name="alpha_now"),
    path("projects/<int:pk>/jobs/<int:job_pk>/", views.job_status, name="job_status"),
    path("projects/<int:pk>/jobs/<int:job_pk>/retry/", views.job_retry, name="job_retry"),
    path(
        "projects/<int:pk>/annotators/<int:user_pk>/reinstate/",
        views.annotator_reinstate,
        name="annotator_reinstate",
    ),
    path("projects/<int:pk>/root-cause/", views.root_cause, name="root_cause"),
    path("projects/<int:pk>/audits/draw/", views.audit_draw, name="audit_draw"),
    path("audits/", views.audit_queue, name="audit_queue"),
    path("audits/<int:sample_pk>/review/", views.audit_review, name="audit_review"),
    path("adjudications/", views.adjudication_queue, name="adjudication_queue"),
    path("adjudications/<int:item_pk>/settle/", views.adjudication_settle, name="adjudication_settle"),
    path("adjudications/<int:item_pk>/skip/", views.adjudication_skip, name="adjudication_skip"),
]
