"""`manage.py train sft|rm|ppo`: PPO-ptx's options (--ptx-coef, --pretrain-corpus)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from training.corpora import import_file
from training.models import Checkpoint, TrainingJob

from .training_world import fill_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(project, make_task, labeler, settings, tmp_path):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    fill_campaign(project, make_task, labeler, n=4, validation_every=4)
    for kind in ("sft", "rm"):
        (tmp_path / kind).mkdir()
    (tmp_path / "corpus.txt").write_text("A pretraining text.\n\nAnother one.\n")
    return {
        "sft": Checkpoint.objects.create(name="sft", kind="sft", path=str(tmp_path / "sft")),
        "rm": Checkpoint.objects.create(name="rm", kind="rm", path=str(tmp_path / "rm")),
        "corpus": import_file(project, tmp_path / "corpus.txt"),
    }


def train(world, *args) -> str:
    out = StringIO()
    ids = ["--base", str(world["sft"].pk), "--reward", str(world["rm"].pk)]
    call_command("train", "ppo", "--project", "campaign", *ids, *args, stdout=out)
    return out.getvalue()


def test_ppo_ptx_options(world):
    corpus = world["corpus"]
    with pytest.raises(CommandError, match="pretrain_corpus: ptx_coef 27.8 needs a pretraining"):
        train(world, "--ptx-coef", "27.8")
    with pytest.raises(CommandError, match="--pretrain-corpus: no corpus 999999 in campaign"):
        train(world, "--ptx-coef", "27.8", "--pretrain-corpus", "999999")
    assert not TrainingJob.objects.exists()
    out = train(world, "--ptx-coef", "27.8", "--pretrain-corpus", str(corpus.pk))
    job = TrainingJob.objects.get()
    assert out.strip() == f"job {job.pk} (ppo) queued"
    assert job.config["ptx_coef"] == 27.8 and job.pretrain_corpus == corpus


def test_ppo_without_ptx_is_plain_ppo(world):
    train(world)
    job = TrainingJob.objects.get()
    assert job.config["ptx_coef"] == 0.0 and job.pretrain_corpus is None
    assert job.snapshot.kind == "prompts" and job.snapshot.n_rows == 3


def test_evaluate_judges_the_policy_with_the_reward_model(world, project, tmp_path):
    (tmp_path / "policy").mkdir()
    policy = Checkpoint.objects.create(
        name="policy", kind="policy", path=str(tmp_path / "policy"), parent=world["sft"]
    )
    ids = ["--base", str(policy.pk), "--reward", str(world["rm"].pk)]
    out = StringIO()
    args = ["evaluate", "--project", "campaign", *ids, "--set", "split=validation"]
    call_command("train", *args, stdout=out)
    job = TrainingJob.objects.get()
    assert out.getvalue().strip() == f"job {job.pk} (evaluate) queued"
    assert (job.kind, job.status, job.base_checkpoint) == ("evaluate", "queued", policy)
    assert job.config["reward_model"] == world["rm"].path
    assert job.config["parent_model"] == world["sft"].path  # compared with its parent
    assert job.snapshot.kind == "prompts" and job.snapshot.options["split"] == "validation"
    # or with a named baseline; without a judge it is refused
    call_command("train", *args, "--baseline", str(world["sft"].pk), stdout=StringIO())
    assert TrainingJob.objects.latest("id").config["baseline_checkpoint"] == world["sft"].pk
    with pytest.raises(CommandError, match="reward_checkpoint: an evaluate job needs"):
        call_command("train", "evaluate", "--project", "campaign", "--base", str(policy.pk))
    with pytest.raises(CommandError, match="--baseline: only evaluate jobs"):
        call_command("train", "rm", "--project", "campaign", "--baseline", str(policy.pk))
