from django.urls import path

from workbench import staff

app_name = "staff"

urlpatterns = [
    path("users/", staff.user_list, name="users"),
    path("users/<int:user_pk>/", staff.user_update, name="user_update"),
    path("teams/", staff.team_list, name="teams"),
    path("teams/<int:team_pk>/members/", staff.team_member, name="team_member"),
]
