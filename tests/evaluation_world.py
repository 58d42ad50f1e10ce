"""A project with test prompts answered by two imported models, for evaluation tests."""

from labeling.intake import dedup
from labeling.intake.responses import get_or_create_response
from labeling.models import Prompt

# distinctive names, so a test can look for them in anything a labeler sees
STRONG, WEAK = "ZebraModel-7", "OkapiModel-2"


def answered_prompts(project, n: int = 20, *, models=(STRONG, WEAK), identical=()) -> list:
    """``n`` test prompts, each answered by every model; prompts whose index is in
    ``identical`` get the same answer from every model."""
    prompts = []
    for i in range(n):
        text = f"Evaluation question {i}: how do tides work?"
        prompt = Prompt.objects.create(
            project=project,
            text=text,
            dedup_key=dedup.dedup_key(text, project.dedup_prefix_chars),
            split="test",
            category="open_qa" if i % 2 else "generation",
        )
        for j, model in enumerate(models):
            # the text never names the model: blindness tests look for the names
            answer = "Same answer." if i in identical else f"Tides, answer {i}, take {j}."
            get_or_create_response(prompt, answer, model_name=model)
        prompts.append(prompt)
    return prompts
