from django.apps import AppConfig


class TrustConfig(AppConfig):
    name = "lockstep.trust"
    label = "trust"
    verbose_name = "Trust"
