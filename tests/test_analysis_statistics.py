"""Head statistics and head similarity on constructed attention patterns."""

import numpy as np
import pytest

from analysis.compare import compare_attention
from analysis.statistics import (
    STATISTICS,
    head_statistics,
    jensen_shannon_similarity,
    punctuation_mask,
    similar_heads,
)

SIZE = 6


def previous_token_pattern(size=SIZE):
    pattern = np.zeros((size, size))
    pattern[0, 0] = 1.0
    pattern[np.arange(1, size), np.arange(size - 1)] = 1.0
    return pattern


def uniform_pattern(size=SIZE, causal=False):
    pattern = np.tril(np.ones((size, size))) if causal else np.ones((size, size))
    return pattern / pattern.sum(axis=-1, keepdims=True)


def first_token_pattern(size=SIZE):
    pattern = np.zeros((size, size))
    pattern[:, 0] = 1.0
    return pattern


def diagonal_pattern(size=SIZE):
    return np.eye(size)


def stats_for(*patterns, causal=False, special=None, punctuation=None, skip_first=False):
    attentions = np.stack(patterns)[None]
    size = attentions.shape[-1]
    special = [False] * size if special is None else special
    punctuation = [False] * size if punctuation is None else punctuation
    return head_statistics(attentions, special, punctuation, causal=causal, skip_first=skip_first).values


def test_previous_token_pattern_scores_one():
    values = stats_for(previous_token_pattern(), causal=True)
    assert values["previous_token"][0, 0] == pytest.approx(1.0)
    assert values["distance"][0, 0] == pytest.approx((SIZE - 1) / SIZE)
    assert values["entropy"][0, 0] == pytest.approx(0.0)


@pytest.mark.parametrize("causal", [False, True])
def test_uniform_pattern_has_entropy_one(causal):
    values = stats_for(uniform_pattern(causal=causal), causal=causal)
    assert values["entropy"][0, 0] == pytest.approx(1.0)


def test_first_token_pattern_has_sink_mass_one():
    values = stats_for(first_token_pattern())
    assert values["first_token"][0, 0] == pytest.approx(1.0)
    assert values["self"][0, 0] == pytest.approx(1.0 / SIZE)


def test_diagonal_pattern_scores_self_one():
    values = stats_for(diagonal_pattern())
    assert values["self"][0, 0] == pytest.approx(1.0)
    assert values["distance"][0, 0] == pytest.approx(0.0)
    assert values["previous_token"][0, 0] == pytest.approx(0.0)


def test_special_and_punctuation_mass():
    special = [True, False, False, False, False, True]
    punctuation = [False, False, True, False, False, False]
    values = stats_for(uniform_pattern(), special=special, punctuation=punctuation)
    assert values["special"][0, 0] == pytest.approx(2 / SIZE)
    assert values["punctuation"][0, 0] == pytest.approx(1 / SIZE)


def test_skip_first_reveals_previous_token_head_under_sink():
    # 90% of every row on the first token, the remaining 10% on the previous token.
    pattern = 0.9 * first_token_pattern() + 0.1 * previous_token_pattern()
    pattern[1] = first_token_pattern()[1]
    plain = stats_for(pattern, causal=True)
    skipped = stats_for(pattern, causal=True, skip_first=True)
    assert plain["previous_token"][0, 0] < 0.3
    assert skipped["previous_token"][0, 0] == pytest.approx(1.0)
    assert skipped["first_token"][0, 0] == pytest.approx(plain["first_token"][0, 0])


def test_skip_first_uniform_keeps_entropy_one():
    skipped = stats_for(uniform_pattern(), skip_first=True)
    assert skipped["entropy"][0, 0] == pytest.approx(1.0)
    assert skipped["distance"][0, 0] == pytest.approx(stats_for(uniform_pattern(SIZE - 1))["distance"][0, 0])


def test_statistics_shape_and_rows():
    attentions = np.stack([np.stack([uniform_pattern(), diagonal_pattern(), first_token_pattern()])] * 2)
    result = head_statistics(attentions, [False] * SIZE, [False] * SIZE, causal=False, layers=(3, 4))
    for name in STATISTICS:
        assert result.values[name].shape == (2, 3)
    rows = result.rows()
    assert len(rows) == 6
    assert rows[4]["layer"] == 4
    assert rows[4]["head"] == 1
    assert rows[4]["self"] == pytest.approx(1.0)


def test_statistics_reject_wrong_mask_length():
    with pytest.raises(ValueError, match="one flag per token"):
        head_statistics(uniform_pattern()[None, None], [False] * (SIZE + 1), [False] * SIZE, causal=False)


def test_punctuation_mask():
    tokens = ["[CLS]", "hello", ",", "world", "##!", "...", "「", "[SEP]"]
    special = [True, False, False, False, False, False, False, True]
    assert punctuation_mask(tokens, special).tolist() == [False, False, True, False, True, True, True, False]


def test_jensen_shannon_similarity_bounds():
    assert jensen_shannon_similarity(diagonal_pattern(), diagonal_pattern()) == pytest.approx(1.0)
    assert jensen_shannon_similarity(diagonal_pattern(), previous_token_pattern()) == pytest.approx(1 / SIZE)
    middle = jensen_shannon_similarity(uniform_pattern(), diagonal_pattern())
    assert 0.0 < middle < 1.0


def test_similar_heads_finds_copy_in_other_layer():
    first = np.stack([diagonal_pattern(), uniform_pattern(), first_token_pattern()])
    second = np.stack([first_token_pattern(), previous_token_pattern(), 0.98 * diagonal_pattern() + 0.02 * uniform_pattern()])
    ranked = similar_heads(np.stack([first, second]), 0, 0, count=3)
    assert ranked[0][:2] == (1, 2)
    assert all((layer, head) != (0, 0) for layer, head, _ in ranked)
    assert ranked[0][2] >= ranked[1][2] >= ranked[2][2]


def test_compare_equal_attention_is_zero():
    attentions = np.stack([np.stack([uniform_pattern(), diagonal_pattern()])])
    comparison = compare_attention(attentions, attentions)
    assert comparison.same_length
    assert np.abs(comparison.difference(0, 1)).max() == 0.0
    assert comparison.max_abs_difference.max() == 0.0
    np.testing.assert_allclose(comparison.head_distance, 0.0, atol=1e-12)


def test_compare_crops_to_shorter_input():
    longer = np.stack([np.stack([uniform_pattern(SIZE)])])
    shorter = np.stack([np.stack([diagonal_pattern(SIZE - 2)])])
    comparison = compare_attention(longer, shorter)
    assert not comparison.same_length
    assert comparison.num_tokens == SIZE - 2
    assert comparison.difference(0, 0).shape == (SIZE - 2, SIZE - 2)
    assert (comparison.first_tokens, comparison.second_tokens) == (SIZE, SIZE - 2)
    assert comparison.difference(0, 0)[0, 0] == pytest.approx(1 / SIZE - 1.0)
    assert comparison.max_abs_difference[0, 0] == pytest.approx(1.0 - 1 / SIZE)
    assert comparison.head_distance[0, 0] > 0.5


def test_compare_rejects_different_head_counts():
    with pytest.raises(ValueError, match="same shape"):
        compare_attention(np.zeros((2, 4, 3, 3)), np.zeros((2, 3, 3, 3)))
