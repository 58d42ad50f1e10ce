"""The evaluate entry point: a policy against its parent, judged by a reward model."""

import json

import pytest
import torch

from training.engine.evaluate import evaluate_policy, main, win_rate
from training.engine.evaluate_config import EvaluateConfig
from training.engine.reward import score_responses
from training.engine.tiny import untrained_reward_model

from .helpers import Killed, Recorder

PROMPTS = [f"Tell me about {topic}." for topic in ("tea", "snow", "maps", "bread", "owls")]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def judge(tiny_model_path, tmp_path_factory):
    """A reward model (the tiny model with a new head): untrained, but a real judge."""
    return untrained_reward_model(tiny_model_path, tmp_path_factory.mktemp("rm"))


def config(tiny_model_path, judge, **kw):
    base = dict(
        policy=str(tiny_model_path),
        parent_model=str(tiny_model_path),
        reward_model=str(judge),
        max_new_tokens=6,
        batch_size=2,
        samples_per_prompt=2,
        device="cpu",
    )
    return EvaluateConfig(**(base | kw))


def test_a_policy_against_itself_ties_and_answers_are_scored(tiny_model_path, judge, tmp_path):
    # the same model with the same seeds answers the same: no gain, every prompt a tie
    result = evaluate_policy(config(tiny_model_path, judge, output_dir=str(tmp_path)), PROMPTS)
    metrics = result["metrics"]
    assert metrics["eval/reward_gain"] == 0.0 and metrics["eval/win_rate"] == 0.5
    assert metrics["eval/mean_reward_policy"] == metrics["eval/mean_reward_parent"]
    assert metrics["eval/prompts"] == 5.0
    row = result["rows"][0]
    assert len(row["policy"]) == 2 and row["policy"] == row["parent"]
    expected = score_responses(judge, [PROMPTS[0]] * 2, row["policy"], device="cpu")
    assert row["reward_policy"] == pytest.approx(sum(expected) / 2, abs=1e-5)
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 5 and not (tmp_path / "state").exists()


def test_resume_samples_only_the_batches_left(tiny_model_path, judge, tmp_path):
    straight = evaluate_policy(config(tiny_model_path, judge), PROMPTS)
    kw = dict(output_dir=str(tmp_path), save_every=1)
    with pytest.raises(Killed):  # killed after the policy's 2nd batch was saved
        evaluate_policy(config(tiny_model_path, judge, **kw), PROMPTS, callback=Recorder(kill_at=2))
    again = Recorder()
    resumed = evaluate_policy(config(tiny_model_path, judge, **kw), PROMPTS, callback=again)
    assert resumed["rows"] == straight["rows"] and resumed["metrics"] == straight["metrics"]
    assert again.steps[-1] == 7 and again.metrics[-1]["eval/win_rate"] == 0.5  # 3 + 3 + 1


def test_command_line(tiny_model_path, judge, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS[:2]))
    out = tmp_path / "rows.jsonl"
    main(["--policy", str(tiny_model_path), "--parent_model", str(tiny_model_path),
          "--reward_model", str(judge), "--prompts_file", str(prompts), "--out_file", str(out),
          "--max_new_tokens", "4", "--device", "cpu"])  # fmt: skip
    assert len(out.read_text().splitlines()) == 2
    assert '"eval/win_rate": 0.5' in capsys.readouterr().out


def test_win_rate_counts_ties_half():
    assert win_rate([1.0, 0.0, 2.0, 1.0], [0.0, 1.0, 2.0, 0.5]) == pytest.approx(2.5 / 4)
