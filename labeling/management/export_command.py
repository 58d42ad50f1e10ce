"""The shared shape of the export_* commands; the options mirror the HTTP export's."""

import sys

from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from labeling.outputs.export_formats import FORMATS, jsonl_chunks
from labeling.outputs.exports import ROW_GENERATORS, ExportError, export_to_path, resolve_options
from labeling.vocabulary import SPLITS


class ExportCommand(BaseCommand):
    kind = ""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--out", default="-", help="file (a folder for --format hf); '-' = stdout (jsonl)"
        )
        parser.add_argument("--format", choices=FORMATS, default="jsonl", dest="file_format")
        parser.add_argument("--gzip", action="store_true", help="gzip the JSONL")
        parser.add_argument("--split", choices=SPLITS)
        parser.add_argument(
            "--conversational",
            action="store_true",
            default=None,
            help="write prompts as message lists even when every prompt is plain text",
        )
        parser.add_argument(
            "--snapshot",
            action="store_true",
            help="freeze the export as a content-hashed DatasetSnapshot and print its hash",
        )
        self.add_kind_arguments(parser)

    def add_kind_arguments(self, parser):
        parser.add_argument(
            "--consensus", action="store_true", help="one consensus ranking per task"
        )
        parser.add_argument(
            "--min-agreement",
            type=float,
            help="drop tasks whose labelers agree less than this (per-task agreement)",
        )
        parser.add_argument(
            "--include-gold", action="store_true", help="include rankings of gold tasks"
        )

    def export_options(self, options) -> dict:
        return {
            "split": options["split"],
            "conversational": options["conversational"],
            "consensus": options["consensus"],
            "min_agreement": options["min_agreement"],
            "include_gold": options["include_gold"],
        }

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"project: no project {options['project']!r}")
        export_options = self.export_options(options)
        try:
            if options["snapshot"]:
                from training.snapshots import create_snapshot

                snapshot = create_snapshot(project, self.kind, export_options)
                self.stdout.write(
                    f"snapshot {snapshot.content_hash} rows: {snapshot.n_rows} "
                    f"path: {snapshot.path}"
                )
                return
            out, file_format = options["out"], options["file_format"]
            if out == "-":
                if file_format != "jsonl":
                    raise CommandError(f"out: --format {file_format} needs a file, not stdout")
                resolved = resolve_options(self.kind, project, export_options)
                rows = ROW_GENERATORS[self.kind](project, **resolved)
                stream = sys.stdout.buffer if self.stdout._out is sys.stdout else None
                for chunk in jsonl_chunks(rows, gzip=options["gzip"]):
                    if stream is not None:
                        stream.write(chunk)
                    else:
                        self.stdout.write(chunk.decode("utf-8"), ending="")
                return
            n_rows = export_to_path(
                self.kind,
                project,
                out,
                file_format=file_format,
                gzip=options["gzip"],
                **export_options,
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"{self.kind}: {n_rows} rows written to {out}")
