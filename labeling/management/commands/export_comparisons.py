from labeling.management.export_command import ExportCommand


class Command(ExportCommand):
    help = "Export current rankings as pairwise comparisons (prompt/chosen/rejected)."
    kind = "comparisons"
