from django.apps import AppConfig


class ActivityConfig(AppConfig):
    name = "lockstep.activity"
    label = "activity"
    verbose_name = "Activity"
