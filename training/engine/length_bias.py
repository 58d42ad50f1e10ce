"""Is the reward model only measuring length? The report after every RM job.

Preference data is known to favour longer answers, and a reward model can score well by
learning length alone; PPO then writes ever longer answers. So beside the held-out accuracy
we report what length alone would score on the same pairs:

    eval/accuracy_longer_wins    "the longer answer is better"   (equal lengths: half right)
    eval/accuracy_shorter_wins   "the shorter answer is better"
    eval/accuracy_length_matched the RM's accuracy on pairs whose lengths differ by at most
                                 10 % of the longer one (length cannot decide those)
    eval/length_matched_pairs    how many such pairs

An RM whose accuracy is near the "longer wins" baseline and near chance on length-matched
pairs has learnt length, not preference.
"""

MATCHED_WITHIN = 0.10  # a pair is length-matched when the lengths differ by ≤ 10 % of the longer


def length_bias_counts(
    rewards: list[list[float]], lengths: list[list[int]], ranks: list[list[int]]
) -> list[float]:
    """[longer_right, shorter_right, matched_correct, matched_pairs, pairs] summed over the
    strictly ordered pairs of every ranking (sums, so processes add). Lengths are in tokens."""
    longer = shorter = matched_correct = matched = pairs = 0.0
    for scores, sizes, order in zip(rewards, lengths, ranks, strict=True):
        for i in range(len(order)):
            for j in range(len(order)):
                if order[i] >= order[j]:
                    continue  # i must be strictly better than j
                pairs += 1
                if sizes[i] == sizes[j]:
                    longer, shorter = longer + 0.5, shorter + 0.5
                elif sizes[i] > sizes[j]:
                    longer += 1
                else:
                    shorter += 1
                if abs(sizes[i] - sizes[j]) <= MATCHED_WITHIN * max(sizes[i], sizes[j]):
                    matched += 1
                    matched_correct += scores[i] > scores[j]
    return [longer, shorter, matched_correct, matched, pairs]


def length_bias_metrics(
    longer: float, shorter: float, matched_correct: float, matched: float, pairs: float
) -> dict[str, float]:
    metrics = {
        "eval/accuracy_longer_wins": longer / max(pairs, 1),
        "eval/accuracy_shorter_wins": shorter / max(pairs, 1),
        "eval/length_matched_pairs": matched,
    }
    if matched:
        metrics["eval/accuracy_length_matched"] = matched_correct / matched
    return metrics
