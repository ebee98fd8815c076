"""The dashboard domain's pages."""

from django.urls import path

from lockstep.dashboard import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/wall/", views.dashboard_wall, name="dashboard-wall"),
    path("dashboard/wall/panel/", views.dashboard_wall_panel, name="dashboard-wall-panel"),
]
