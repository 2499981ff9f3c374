from django.urls import path

from demo.views import demo_media

app_name = "demo"

urlpatterns = [
    path("<path:path>", demo_media, name="media"),
]
