from labeling.management.import_command import ImportCommand


class Command(ImportCommand):
    help = "Import responses into a project (one transaction; see labeling/intake/importers.py)."
    kind = "responses"
    takes_labeler = False
