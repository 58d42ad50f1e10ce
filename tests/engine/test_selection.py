"""Active selection's scores and choices, against numbers worked out by hand."""

import pytest

from training.engine.selection import choose, ranking_disagreement, reward_spread


def test_spread_is_max_minus_min():
    assert reward_spread([0.5, -1.0, 2.0, 0.0]) == 3.0
    assert reward_spread([1.0, 1.0]) == 0.0


def test_disagreement_counts_opposite_pairs_and_half_ties():
    assert ranking_disagreement([1, 2, 3], [10, 20, 30]) == 0.0
    assert ranking_disagreement([1, 2, 3], [3, 2, 1]) == 1.0
    # pairs (0,1) same, (0,2) opposite, (1,2) opposite → 2/3
    assert ranking_disagreement([1, 2, 3], [1, 3, 0]) == pytest.approx(2 / 3)
    # one tie under the second model: (0,1) tie counts ½, (0,2) and (1,2) agree → 0.5/3
    assert ranking_disagreement([1, 2, 3], [5, 5, 9]) == pytest.approx(0.5 / 3)


def test_spread_keeps_the_least_sure_prompts_first():
    rewards = [[0.0, 3.0], [1.0, 1.2], [2.0, 2.5], [0.0, 0.1]]  # spreads 3, 0.2, 0.5, 0.1
    chosen = choose("rm_spread", 2, rewards)
    assert [i for i, _ in chosen] == [3, 1]
    assert [s for _, s in chosen] == pytest.approx([0.1, 0.2])


def test_disagreement_keeps_the_most_disputed_prompts_first():
    first = [[1, 2, 3], [1, 2, 3], [1, 2, 3]]
    second = [[1, 2, 3], [3, 2, 1], [1, 3, 0]]  # 0, 1, 2/3
    assert [i for i, _ in choose("rm_disagreement", 2, first, second)] == [1, 2]


def test_random_is_seeded_and_unscored():
    a = choose("random", 3, n_prompts=10, seed=7)
    assert a == choose("random", 3, n_prompts=10, seed=7)
    assert len({i for i, _ in a}) == 3 and all(s is None for _, s in a)
    assert len(choose("random", 50, n_prompts=4)) == 4


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="^selection:"):
        choose("uncertainty", 1, [[0.0]])


# --- in a generate run ---------------------------------------------------------------------

PROMPTS = ["Name a colour.", "Say hi.", "Count to three.", "A fruit?", "Describe rain.", "Why?"]


@pytest.fixture(scope="module")
def judges(tiny_model_path, tmp_path_factory):
    """Two reward models (the tiny model with new heads): untrained, but real judges."""
    from training.engine.tiny import untrained_reward_model

    return [
        str(untrained_reward_model(tiny_model_path, tmp_path_factory.mktemp(f"rm{seed}"), seed))
        for seed in (0, 1)
    ]


def sampled(tiny_model_path, **selection):
    from training.engine.generate import generate_responses
    from training.engine.generate_config import GenerateConfig

    config = GenerateConfig(
        model=str(tiny_model_path), k=4, max_new_tokens=6, batch_size=3, seed=5, **selection
    )
    return generate_responses(config, PROMPTS)


def scores_by_prompt(judge, rows) -> dict[int, list[float]]:
    from training.engine.reward import score_responses

    scores = score_responses(judge, [r["prompt"] for r in rows], [r["response"] for r in rows])
    by_prompt: dict[int, list[float]] = {}
    for row, score in zip(rows, scores, strict=True):
        by_prompt.setdefault(row["prompt_index"], []).append(score)
    return by_prompt


def test_generate_keeps_the_prompts_with_the_smallest_spread(tiny_model_path, judges):
    every = sampled(tiny_model_path)
    assert {r["selection"]["policy"] for r in every} == {"random"}
    spreads = {p: max(s) - min(s) for p, s in scores_by_prompt(judges[0], every).items()}
    expected = sorted(spreads, key=lambda p: (spreads[p], p))[:2]

    kept = sampled(tiny_model_path, selection="rm_spread", select=2, reward_model=judges[0])
    assert sorted({r["prompt_index"] for r in kept}) == sorted(expected)
    assert len(kept) == 2 * 4  # every sample of a kept prompt
    for row in kept:
        assert row["selection"]["policy"] == "rm_spread"
        assert row["selection"]["score"] == pytest.approx(spreads[row["prompt_index"]], abs=1e-5)
    # the samples are those of the unselected run: selection only judges them
    same = {(r["prompt_index"], r["response"]) for r in every}
    assert {(r["prompt_index"], r["response"]) for r in kept} <= same


def test_generate_keeps_the_prompts_two_reward_models_dispute_most(tiny_model_path, judges):
    every = sampled(tiny_model_path)
    first, second = (scores_by_prompt(judge, every) for judge in judges)
    disputed = {p: ranking_disagreement(first[p], second[p]) for p in first}
    expected = sorted(disputed, key=lambda p: (-disputed[p], p))[:3]
    kept = sampled(
        tiny_model_path,
        selection="rm_disagreement",
        select=3,
        reward_model=judges[0],
        second_reward_model=judges[1],
    )
    assert sorted({r["prompt_index"] for r in kept}) == sorted(expected)


def test_random_selection_samples_only_the_chosen_prompts(tiny_model_path):
    kept = sampled(tiny_model_path, select=2)
    indices = sorted({r["prompt_index"] for r in kept})
    assert len(kept) == 8 and indices == sorted(
        i for i, _ in choose("random", 2, n_prompts=6, seed=5)
    )
    assert all(r["prompt"] == PROMPTS[r["prompt_index"]] for r in kept)


def test_rm_selection_needs_its_reward_models():
    from training.engine.generate_config import GenerateConfig

    with pytest.raises(ValueError, match="^reward_model:"):
        GenerateConfig(selection="rm_spread")
    with pytest.raises(ValueError, match="^second_reward_model:"):
        GenerateConfig(selection="rm_disagreement", reward_model="x")
    with pytest.raises(ValueError, match="^selection:"):
        GenerateConfig(selection="entropy")
