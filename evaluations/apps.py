from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "evaluations"
    verbose_name = "Human evaluation"

    def ready(self):
        from . import receivers  # noqa: F401 - connects the generation receiver
