"""Best-of-n: the kept response is the one of the n samples the reward model scores highest."""

import pytest
import torch

from training.engine.best_of_n import best_of_n, keep_best
from training.engine.best_of_n_config import BestOfNConfig
from training.engine.reward import score_responses


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_keep_best_takes_each_prompts_highest_score_and_the_first_of_a_tie():
    rows = [{"prompt": p, "response": f"{p}{i}", "selection": {}} for p in "ab" for i in range(3)]
    kept = keep_best(rows, [0.1, 0.9, 0.3, 2.0, -1.0, 2.0], 3)
    assert [row["response"] for row in kept] == ["a1", "b0"]
    assert kept[0]["score"] == 0.9 and kept[0]["scores"] == [0.1, 0.9, 0.3] and kept[0]["n"] == 3
    assert "selection" not in kept[0]


def test_the_kept_response_has_the_highest_reward_of_the_n(tiny_model_path, tmp_path):
    from training.engine.tiny import untrained_reward_model

    judge = str(untrained_reward_model(tiny_model_path, tmp_path / "rm", 0))
    prompts = ["Tell me about cats.", [{"role": "user", "content": "And dogs?"}]]
    config = BestOfNConfig(
        model=str(tiny_model_path), reward_model=judge, n=4, temperature=1.0, top_p=1.0,
        max_new_tokens=6, seed=3,
    )  # fmt: skip
    kept = best_of_n(config, prompts)
    assert [row["prompt"] for row in kept] == prompts
    for row in kept:
        assert row["n"] == 4 and row["model"] == f"best-of-4({tiny_model_path})"
        # scored again, independently: the kept one is the maximum of its prompt's samples
        rescored = score_responses(judge, [row["prompt"]], [row["response"]])[0]
        assert rescored == pytest.approx(row["score"], abs=1e-5)
        assert row["score"] == max(row["scores"])
        assert len(set(row["scores"])) > 1  # the samples differ, so the choice is a real one


def test_config_needs_a_reward_model_and_two_samples():
    with pytest.raises(ValueError, match="reward_model"):
        BestOfNConfig(n=4)
    with pytest.raises(ValueError, match="n: must be >= 2"):
        BestOfNConfig(reward_model="rm", n=1)
    with pytest.raises(ValueError, match="top_p"):
        BestOfNConfig(reward_model="rm", top_p=0)
