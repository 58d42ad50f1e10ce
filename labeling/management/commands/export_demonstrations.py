from labeling.management.export_command import ExportCommand
from labeling.outputs.exports import DEMONSTRATION_STATUSES, DEMONSTRATION_STYLES


class Command(ExportCommand):
    help = "Export demonstrations in TRL's SFT formats (accepted ones unless --status)."
    kind = "demonstrations"

    def add_kind_arguments(self, parser):
        parser.add_argument("--status", choices=DEMONSTRATION_STATUSES, default="accepted")
        parser.add_argument(
            "--style",
            choices=DEMONSTRATION_STYLES,
            default="prompt_completion",
            help="prompt/completion columns, or one conversational messages column",
        )

    def export_options(self, options) -> dict:
        return {
            "split": options["split"],
            "conversational": options["conversational"],
            "status": options["status"],
            "style": options["style"],
        }
