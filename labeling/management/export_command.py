"""The shared shape of the export_* commands, and the export options as command-line flags.

The flags are derived from the kind's ``ExportOptions`` class (``add_option_arguments``), so
the commands take exactly the options the API takes; training's ``snapshot`` command uses
the same two functions.
"""

import argparse
import sys

from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from labeling.outputs.export_formats import FORMATS, jsonl_chunks
from labeling.outputs.exports import export_rows, export_to_path, resolve_options
from labeling.outputs.options import (
    IDS,
    ExportError,
    ExportOptions,
    option_specs,
    parse_options,
)


def add_option_arguments(parser, kind: str) -> None:
    """One flag per export option of ``kind``: ``--name-with-dashes``, dest ``name``."""
    for spec in option_specs(kind):
        flag = "--" + spec.name.replace("_", "-")
        if spec.type is bool:
            # a flag that is off by default switches on; any other (None: "decide from the
            # data") needs both --flag and --no-flag
            action = "store_true" if spec.default is False else argparse.BooleanOptionalAction
            parser.add_argument(flag, action=action, default=spec.default, help=spec.help)
        else:
            help = spec.help
            if spec.bounds is not None:
                help += f", {spec.bounds[0]:g}..{spec.bounds[1]:g}"
            if spec.default is not None:
                help += f" (default: {spec.default})"
            parser.add_argument(
                flag,
                # a list of ids is given as "3,5,9" and split by parse_options
                type=str if spec.type == IDS else spec.type,
                choices=spec.choices or None,
                default=spec.default,
                help=help,
            )


def options_from_arguments(kind: str, arguments: dict) -> ExportOptions:
    """The parsed flags of ``add_option_arguments`` as options (ExportError if bad)."""
    return parse_options(kind, {spec.name: arguments[spec.name] for spec in option_specs(kind)})


def project_or_error(slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise CommandError(f"project: no project {slug!r}")
    return project


def command_error(exc: ExportError) -> CommandError:
    return CommandError(f"{exc.field}: {exc.message}")


class ExportCommand(BaseCommand):
    kind = ""

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--out", default="-", help="file (a folder for --format hf); '-' = stdout (jsonl)"
        )
        parser.add_argument("--format", choices=FORMATS, default="jsonl", dest="file_format")
        parser.add_argument("--gzip", action="store_true", help="gzip the JSONL")
        add_option_arguments(parser, self.kind)

    def handle(self, *args, **arguments):
        project = project_or_error(arguments["project"])
        out, file_format = arguments["out"], arguments["file_format"]
        if out == "-" and file_format != "jsonl":
            raise CommandError(f"out: --format {file_format} needs a file, not stdout")
        try:
            options = resolve_options(
                self.kind, project, options_from_arguments(self.kind, arguments)
            )
        except ExportError as exc:
            raise command_error(exc) from exc
        if out == "-":
            self._write_stdout(export_rows(self.kind, project, options), arguments["gzip"])
            return
        n_rows = export_to_path(
            self.kind,
            project,
            out,
            file_format=file_format,
            gzip=arguments["gzip"],
            options=options,
        )
        self.stderr.write(f"{self.kind}: {n_rows} rows written to {out}")

    def _write_stdout(self, rows, gzip: bool) -> None:
        # bytes straight to the real stdout (gzip is binary); through self.stdout when a
        # caller (call_command, tests) gave a text stream of its own
        stream = sys.stdout.buffer if self.stdout._out is sys.stdout else None
        for chunk in jsonl_chunks(rows, gzip=gzip):
            if stream is not None:
                stream.write(chunk)
            else:
                self.stdout.write(chunk.decode("utf-8"), ending="")
