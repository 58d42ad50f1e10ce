from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class LabelingConfig(AppConfig):
    name = "labeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from labeling import roles

        post_migrate.connect(roles.ensure_groups, sender=self)
        from labeling.quality import agreement

        # Gold edits do not change the agreement cache's fingerprint (see agreement.py).
        post_save.connect(agreement.on_task_saved, sender="labeling.RankingTask")
        from labeling.assignment import engine

        post_delete.connect(engine.release_held_slot, sender="labeling.Assignment")
