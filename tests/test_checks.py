"""The checks that run on every capture: shapes, row sums and the causal upper triangle."""

import numpy as np
import pytest

from model_utils import CaptureError
from model_utils.checks import CAUSAL_BLOCK_ROWS, _largest_future_weight, check_attention

TOKENS = 2 * CAUSAL_BLOCK_ROWS + 3
LEAK = 0.25


def causal_weights(tokens: int = TOKENS, layers: int = 2, heads: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    weights = np.tril(rng.random((layers, heads, tokens, tokens), dtype=np.float32))
    return weights / weights.sum(axis=-1, keepdims=True)


def check(weights: np.ndarray) -> None:
    layers, heads, queries, keys = weights.shape
    check_attention(weights, heads=heads, queries=queries, keys=keys, causal=True, role="self")


def test_causal_weights_pass():
    check(causal_weights())


@pytest.mark.parametrize(
    ("query", "key"),
    [(5, 6), (CAUSAL_BLOCK_ROWS - 1, CAUSAL_BLOCK_ROWS), (0, TOKENS - 1), (CAUSAL_BLOCK_ROWS + 10, CAUSAL_BLOCK_ROWS + 40), (TOKENS - 2, TOKENS - 1)],
    ids=["next-key", "block-edge", "far-corner", "inside-second-block", "last-rows"],
)
def test_weight_on_later_key_is_rejected(query, key):
    weights = causal_weights()
    # The row keeps summing to 1, so only the causal check can catch the leak.
    weights[1, 2, query] *= 1 - LEAK
    weights[1, 2, query, key] = LEAK

    with pytest.raises(CaptureError, match="causal mask was lost"):
        check(weights)


def test_largest_future_weight_matches_full_triangle():
    rng = np.random.default_rng(1)
    weights = rng.random((2, 2, TOKENS, TOKENS), dtype=np.float32)
    expected = float(weights[..., np.triu(np.ones((TOKENS, TOKENS), dtype=bool), k=1)].max())

    assert _largest_future_weight(weights) == expected


def test_single_token_has_no_future():
    assert _largest_future_weight(np.ones((1, 1, 1, 1), dtype=np.float32)) == 0.0


def test_rows_not_summing_to_one_are_rejected():
    weights = causal_weights()
    weights[0, 0, 3] *= 2

    with pytest.raises(CaptureError, match="rows must sum to 1"):
        check(weights)


def test_read_only_array_is_checked():
    weights = causal_weights()
    weights.setflags(write=False)

    check(weights)
