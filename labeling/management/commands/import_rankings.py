from labeling.management.import_command import ImportCommand


class Command(ImportCommand):
    help = "Import rankings into a project (one transaction; see labeling/intake/importers.py)."
    kind = "rankings"
    takes_labeler = True
