from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "lockstep.org"
    label = "org"
    verbose_name = "Organisation"
