from django.apps import AppConfig
from django.db.backends.signals import connection_created


class WorkplanConfig(AppConfig):
    name = "workplan"
    verbose_name = "Work plan"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from workplan.search import register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="workplan.search")
