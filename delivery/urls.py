from django.urls import path

from delivery import views

app_name = "delivery"

urlpatterns = [
    path("", views.delivery_list, name="delivery_list"),
    path("<int:pk>/", views.delivery_detail, name="delivery_detail"),
    path("<int:pk>/files/<str:name>", views.delivery_file, name="delivery_file"),
    path("<int:pk>/retry/", views.delivery_retry_view, name="delivery_retry"),
    path("evaluations/<int:pk>/", views.evaluation_detail, name="evaluation_detail"),
    path("evaluations/<int:pk>/retry/", views.evaluation_retry_view, name="evaluation_retry"),
]
