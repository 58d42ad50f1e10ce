from labeling.management.import_command import ImportCommand


class Command(ImportCommand):
    help = "Import comparisons into a project (one transaction; see labeling/intake/importers.py)."
    kind = "comparisons"
    takes_labeler = True
