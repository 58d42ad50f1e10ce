from labeling.management.export_command import ExportCommand


class Command(ExportCommand):
    help = (
        "Export prompts (id, text or messages, category, split): what generation and PPO jobs "
        "sample from, as their prompts snapshots freeze it."
    )
    kind = "prompts"
