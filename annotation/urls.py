from django.urls import path

from annotation import views, views_guideline

app_name = "annotation"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("me/", views.my_work, name="my_work"),
    path("<int:project_id>/", views.task, name="task"),
    path("<int:project_id>/skip/", views.task_skip, name="task_skip"),
    path("<int:project_id>/flag/", views.task_flag, name="task_flag"),
    path("<int:project_id>/acknowledge/", views_guideline.task_acknowledge, name="task_acknowledge"),
]
