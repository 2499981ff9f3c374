from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy
from django.views.generic import TemplateView

from accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/tokens/", views.token_list, name="token_list"),
    path("accounts/tokens/<str:prefix>/revoke/", views.token_revoke, name="token_revoke"),
    path("accounts/lockouts/", views.lockout_list, name="lockout_list"),
    path("accounts/lockouts/unlock/", views.lockout_unlock, name="lockout_unlock"),
    # The one-time link of an invitation or a new account (Django's password-reset token).
    path(
        "accounts/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_set.html", success_url=reverse_lazy("password_set_done")
        ),
        name="password_set",
    ),
    path(
        "accounts/set-password/done/",
        TemplateView.as_view(template_name="accounts/password_set_done.html"),
        name="password_set_done",
    ),
]
