from labeling.management.export_command import ExportCommand


class Command(ExportCommand):
    help = "Export current rankings as grouped rankings (prompt/responses[]/ranks[])."
    kind = "rankings"
