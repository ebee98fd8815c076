from django.contrib.auth import views as auth_views
from django.urls import path

from lockstep.goals import views as goals_views
from lockstep.org import views as org_views
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
    path("units/", org_views.unit_tree, name="unit-tree"),
    path("objectives/", goals_views.objective_list, name="objective-list"),
    path("objectives/<int:objective_id>/", goals_views.objective_detail, name="objective-detail"),
    path("key-results/<int:kr_id>/checkin/", goals_views.kr_checkin, name="kr-checkin"),
]
