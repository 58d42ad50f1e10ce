from labeling.management.import_command import ImportCommand


class Command(ImportCommand):
    help = "Import prompts into a project (one transaction; see labeling/intake/importers.py)."
    kind = "prompts"
    takes_labeler = False
