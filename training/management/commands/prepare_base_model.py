from django.conf import settings
from django.core.management.base import BaseCommand

from training.models import Checkpoint


class Command(BaseCommand):
    help = (
        "Resolve PREFLAB_BASE_MODEL to a local folder (converting the bundled SmolLM2 GGUF "
        "once, offline) and register it as the base checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", default=None, help="default: PREFLAB_BASE_MODEL")

    def handle(self, *args, **options):
        from training.engine.base_model import resolve_model

        name = options["model"] or settings.PREFLAB_BASE_MODEL
        path = str(resolve_model(name, models_dir=settings.PREFLAB_MODELS_DIR))
        checkpoint, created = Checkpoint.objects.get_or_create(
            kind=Checkpoint.Kind.BASE, name=name, defaults={"path": path}
        )
        if not created and checkpoint.path != path:
            checkpoint.path = path
            checkpoint.save(update_fields=["path"])
        self.stdout.write(f"base model {name}: {path}")
