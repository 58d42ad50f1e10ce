"""A small project built like the demo, for pipelines: prompts in train and validation, each
with an accepted demonstration whose text uses the simulated labelers' marker word 0-3 times
(so the SFT model can say it, the RM has something to learn and PPO something to reinforce)."""

import random

from labeling.intake import dedup
from labeling.models import Demonstration, Project, Prompt
from training.engine.synthetic import TOPICS, response_with

# The config of every stage, tiny: the whole pipeline runs in about a minute on 2 cores.
TINY_STAGES = {
    "sft": {"epochs": 8, "batch_size": 16, "max_length": 48, "learning_rate": 1e-2,
            "warmup_ratio": 0.05},
    "generate": {"k": 4, "max_new_tokens": 12, "temperature": 1.0, "top_p": 1.0,
                 "batch_size": 16},
    "rm": {"lr": 1e-3, "warmup_steps": 3, "rankings_per_batch": 8, "max_length": 64},
    "ppo": {"steps": 8, "rollouts_per_step": 16, "mini_batch_size": 8, "ppo_epochs": 4,
            "response_length": 8, "lr": 5e-4, "kl_coef": 0.1, "max_prompt_length": 32},
    "evaluate": {"max_new_tokens": 8, "batch_size": 16, "temperature": 1.0, "top_p": 1.0,
                 "samples_per_prompt": 2},
}  # fmt: skip


def marker_project(slug="pipe", *, train=80, validation=20, seed=0, author=None) -> Project:
    from django.contrib.auth import get_user_model

    project = Project.objects.create(slug=slug, name="Pipeline campaign", overlap=2)
    author = author or get_user_model().objects.create_user(username=f"{slug}-writer")
    rng = random.Random(seed)
    for i in range(train + validation):
        text = f"Tell me about {rng.choice(TOPICS)}, please ({i})."
        prompt = Prompt.objects.create(
            project=project,
            text=text,
            dedup_key=dedup.dedup_key(text, project.dedup_prefix_chars),
            source_user=f"author{i % 7}",
            split="train" if i < train else "validation",
        )
        Demonstration.objects.create(
            prompt=prompt,
            author=author,
            text=response_with(rng, rng.randint(0, 3)),
            status="accepted",
        )
    return project
