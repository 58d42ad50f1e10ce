"""A campaign to train on: prompts with a demonstration and a ranking of 4 each."""

from labeling.assignment.rankings import ItemInput, record_ranking
from labeling.models import Demonstration


def fill_campaign(project, make_task, labeler, n: int, validation_every: int):
    """n prompts; every `validation_every`-th one in the validation split, the rest in train.
    The best response is the demonstration, and the ranking puts the responses in order."""
    for i in range(n):
        task = make_task(k=4, texts=[f"good answer {i}", "meh", "bad", "worst"])
        task.prompt.split = "validation" if i % validation_every == 0 else "train"
        task.prompt.save(update_fields=["split"])
        Demonstration.objects.create(
            prompt=task.prompt, author=labeler, text=f"good answer {i}", status="accepted"
        )
        record_ranking(task, labeler, [ItemInput(rank=r) for r in (1, 2, 3, 4)])
    return project
