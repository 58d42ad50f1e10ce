"""The RM length-bias report on hand-made rankings."""

import pytest

from training.engine.length_bias import length_bias_counts, length_bias_metrics


def test_counts_on_a_hand_made_ranking():
    # three answers, best first: lengths 10, 30, 31; the RM scores 0.1, 0.5, 0.2
    counts = length_bias_counts([[0.1, 0.5, 0.2]], [[10, 30, 31]], [[1, 2, 3]])
    # pairs (best, worse): (0,1) (0,2) (1,2); the shorter is better in all three
    # length-matched: only (1,2) (|30−31| ≤ 3.1), and the RM gets it right (0.5 > 0.2)
    assert counts == [0.0, 3.0, 1.0, 1.0, 3.0]
    metrics = length_bias_metrics(*counts)
    assert metrics == {
        "eval/accuracy_longer_wins": 0.0,
        "eval/accuracy_shorter_wins": 1.0,
        "eval/length_matched_pairs": 1.0,
        "eval/accuracy_length_matched": 1.0,
    }


def test_ties_and_equal_lengths():
    # a tie is no pair; equal lengths count half to each baseline; a wrong RM on a matched pair
    counts = length_bias_counts([[0.0, 1.0, 0.5]], [[20, 20, 5]], [[1, 2, 2]])
    # pairs: (0,1) equal lengths → ½ each, matched, RM wrong; (0,2) longer wins, not matched
    assert counts == [1.5, 0.5, 0.0, 1.0, 2.0]
    metrics = length_bias_metrics(*counts)
    assert metrics["eval/accuracy_longer_wins"] == pytest.approx(0.75)
    assert metrics["eval/accuracy_length_matched"] == 0.0


def test_no_matched_pairs_leaves_that_accuracy_out():
    metrics = length_bias_metrics(*length_bias_counts([[1.0, 0.0]], [[50, 10]], [[1, 2]]))
    assert metrics["eval/length_matched_pairs"] == 0
    assert "eval/accuracy_length_matched" not in metrics
