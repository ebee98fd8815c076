from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "lockstep.web"
    label = "web"
    verbose_name = "Web"
