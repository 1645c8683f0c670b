from django.apps import AppConfig


class WorkplanConfig(AppConfig):
    name = "workplan"
    verbose_name = "Work plan"
    default_auto_field = "django.db.models.BigAutoField"
