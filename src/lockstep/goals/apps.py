from django.apps import AppConfig


class GoalsConfig(AppConfig):
    name = "lockstep.goals"
    label = "goals"
    verbose_name = "Goals"
