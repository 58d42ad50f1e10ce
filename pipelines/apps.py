from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pipelines"
    verbose_name = "RLHF pipelines"

    def ready(self):
        # the retraining schedules part of labeling's project settings page
        from labeling import settings_views

        from . import schedule_views

        settings_views.add_section(schedule_views.schedules_section)
