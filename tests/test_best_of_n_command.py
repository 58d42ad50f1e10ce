"""`manage.py best_of_n`: n samples per prompt, the reward model's best kept, registered as
accepted demonstrations and as responses of model best-of-N(<policy>), with no ranking task."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from labeling.intake import dedup
from labeling.models import Demonstration, Prompt, RankingTask, Response
from training import snapshots
from training.job_inputs import prompt_inputs
from training.job_outputs import BEST_OF_N_AUTHOR
from training.models import Checkpoint, TrainingJob

pytestmark = pytest.mark.django_db
SAMPLING = ["--set", "max_new_tokens=6", "--set", "temperature=1.0", "--set", "top_p=1.0"]


@pytest.fixture
def world(project, settings, tmp_path, tiny_path):
    from training.engine.tiny import untrained_reward_model

    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.PREFLAB_JOB_HEARTBEAT_S = 3600  # the test's transaction is not the thread's
    for i in range(4):
        text = f"Say something about topic {i}."
        Prompt.objects.create(
            project=project,
            text=text,
            dedup_key=dedup.dedup_key(text, project.dedup_prefix_chars),
            split="test" if i == 3 else "train",
        )
    rm = untrained_reward_model(tiny_path, tmp_path / "rm")
    return {
        "policy": Checkpoint.objects.create(name="sft-1", kind="sft", path=str(tiny_path)),
        "rm": Checkpoint.objects.create(name="rm-1", kind="rm", path=str(rm)),
    }


def best_of_n(project, world, *args) -> str:
    out = StringIO()
    ids = ["--base", str(world["policy"].pk), "--reward", str(world["rm"].pk)]
    call_command("best_of_n", "--project", project.slug, *ids, *args, stdout=out)
    return out.getvalue()


@pytest.mark.training
def test_the_kept_answer_is_the_reward_models_best_of_n(project, world, tiny_path):
    from training.engine.best_of_n_config import BestOfNConfig
    from training.engine.generate import generate_responses
    from training.engine.reward import score_responses

    out = best_of_n(project, world, "--n", "4", "--run-here", *SAMPLING)
    job = TrainingJob.objects.get()
    assert f"job {job.pk} (best_of_n) succeeded" in out, job.error
    assert job.snapshot.kind == "prompts" and job.snapshot.n_rows == 3  # the train split
    model = "best-of-4(sft-1)"
    assert job.config["model_name"] == model
    kept = {r.prompt_id: r for r in Response.objects.filter(model_name=model)}
    assert len(kept) == 3

    # the n samples again (sampling is seeded), each scored by the reward model on its own
    prompts = prompt_inputs(job)["prompts"]
    config = BestOfNConfig(
        model=str(tiny_path), reward_model=world["rm"].path, n=4, max_new_tokens=6,
        temperature=1.0, top_p=1.0,
    )  # fmt: skip
    samples = generate_responses(config.sampling(), prompts)
    scores = score_responses(
        world["rm"].path, [s["prompt"] for s in samples], [s["response"] for s in samples]
    )
    ordered = Prompt.objects.filter(project=project, split="train").order_by("id")
    for i, prompt in enumerate(ordered):
        group = list(zip(samples[4 * i : 4 * i + 4], scores[4 * i : 4 * i + 4], strict=True))
        best = max(score for _, score in group)
        response = kept[prompt.pk]
        assert response.text in [sample["response"] for sample, _ in group]
        assert response.metadata["score"] == pytest.approx(best, abs=1e-4)
        assert response.metadata["scores"] == pytest.approx([s for _, s in group], abs=1e-4)
        assert response.metadata["best_of_n_job"] == job.pk and response.metadata["n"] == 4
        assert response.origin == "checkpoint" and response.checkpoint_id == world["policy"].pk

    # demonstrations for the next SFT round, by the best-of-n account, accepted
    author = get_user_model().objects.get(username=BEST_OF_N_AUTHOR)
    assert not author.is_active and not author.has_usable_password()
    demonstrations = Demonstration.objects.filter(author=author)
    assert {d.prompt_id: d.text for d in demonstrations} == {
        pk: r.text.strip() for pk, r in kept.items() if r.text.strip()
    }
    assert {d.status for d in demonstrations} == {"accepted"}
    assert all(f"best-of-n job {job.pk}" in d.review_note for d in demonstrations)
    frozen = snapshots.create_snapshot(project, "demonstrations", {"split": "train"})
    assert frozen.n_rows == demonstrations.count()
    assert not RankingTask.objects.exists()

    # a second job replaces each prompt's best-of-n demonstration rather than adding one
    best_of_n(project, world, "--n", "4", "--run-here", "--set", "seed=1", *SAMPLING)
    assert Demonstration.objects.filter(author=author).count() == demonstrations.count()


@pytest.mark.training
def test_the_kept_answers_are_an_evaluation_contestant(project, world):
    from evaluations import campaigns

    best_of_n(project, world, "--n", "2", "--split", "test", "--run-here", *SAMPLING)
    campaign = campaigns.create_campaign(
        project,
        "best-of-n vs its policy",
        [{"checkpoint": world["policy"]}, {"name": "best-of-2(sft-1)"}],
    )
    imported = campaign.contestants.get(checkpoint=None)
    assert imported.name == "best-of-2(sft-1)" and imported.generation_job is None


def test_best_of_n_needs_a_policy_and_a_reward_model(project, world):
    policy, rm = world["policy"], world["rm"]
    with pytest.raises(CommandError, match="--base: the policy checkpoint id"):
        call_command("best_of_n", "--project", project.slug, "--reward", str(rm.pk), "--run-here")
    with pytest.raises(
        CommandError, match="is a rm checkpoint; a best_of_n job needs one of: base, sft, policy"
    ):
        best_of_n(project, {"policy": rm, "rm": rm}, "--run-here")
    with pytest.raises(CommandError, match="a best-of-n job's reward model needs one of: rm"):
        best_of_n(project, {"policy": policy, "rm": policy}, "--run-here")
    with pytest.raises(CommandError, match="n: must be >= 2, got 1"):
        best_of_n(project, world, "--n", "1", "--run-here")
    assert not TrainingJob.objects.exists()
