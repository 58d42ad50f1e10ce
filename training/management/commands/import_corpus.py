"""manage.py import_corpus --project SLUG (--file F | --hf-dataset NAME) [--name N]."""

from django.core.management.base import BaseCommand, CommandError

from training.corpora import CorpusError, import_file, import_hf_dataset
from training.management.job_command import project_of


class Command(BaseCommand):
    help = (
        'Import a pretraining corpus for PPO-ptx: a JSONL file (strings or {"text": ...}), a '
        "text file (one document per blank-line-separated block), or a Hugging Face dataset "
        "available offline (a Dataset.save_to_disk folder, or one in the local cache)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", help=".jsonl/.json, or plain text")
        source.add_argument("--hf-dataset", help="a saved dataset folder, or a cached dataset name")
        parser.add_argument("--split", default="train", help="--hf-dataset: split (default train)")
        parser.add_argument(
            "--text-column", default="text", help="--hf-dataset: the column of texts"
        )
        parser.add_argument("--name", help="the corpus's name (default: the file or dataset)")

    def handle(self, *args, **options):
        project = project_of(options)
        try:
            if options["file"]:
                corpus = import_file(project, options["file"], name=options["name"])
            else:
                corpus = import_hf_dataset(
                    project,
                    options["hf_dataset"],
                    split=options["split"],
                    text_column=options["text_column"],
                    name=options["name"],
                )
        except CorpusError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"corpus {corpus.pk} {corpus.name!r}: {corpus.n_rows} texts, "
            f"sha256 {corpus.content_hash[:12]}, {corpus.path}"
        )
