from labeling.management.export_command import ExportCommand


class Command(ExportCommand):
    help = "Export demonstrations in TRL's SFT formats (accepted ones unless --status)."
    kind = "demonstrations"
