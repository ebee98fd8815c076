from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "lockstep.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"
