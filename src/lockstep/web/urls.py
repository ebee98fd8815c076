"""Every page: sign-in, My week (the home page), the weekly check-in, and each domain's urls."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from lockstep.web import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="web/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("check-in/", views.checkin_week, name="checkin-week"),
    path("check-in/<int:kr_id>/", views.checkin_week_save, name="checkin-week-save"),
    path(
        "check-in/<int:kr_id>/preview/",
        views.checkin_week_preview,
        name="checkin-week-preview",
    ),
    path("", include("lockstep.org.urls")),
    path("", include("lockstep.goals.urls")),
    path("", include("lockstep.alignment.urls")),
    path("", include("lockstep.dashboard.urls")),
]
