from django.apps import AppConfig


class AlignmentConfig(AppConfig):
    name = "lockstep.alignment"
    label = "alignment"
    verbose_name = "Alignment"

    def ready(self) -> None:
        from lockstep.alignment.services import connect

        connect()
