"""The steps of softmax(Q·Kᵀ · scaling + mask) for one query, from captured query and key vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Additive mask values at or below this are shown as -inf: transformers fills masked
# positions with the dtype's minimum (about -3.4e38 in float32), not with -inf.
MASKED_BELOW = -1e30


@dataclass(frozen=True)
class AttentionSteps:
    """One query's path from vectors to weights; every array but ``query`` has one entry per key."""

    query: np.ndarray
    keys: np.ndarray
    raw_scores: np.ndarray
    scaled_scores: np.ndarray
    mask: np.ndarray
    masked_scores: np.ndarray
    weights: np.ndarray
    scaling: float

    @property
    def visible(self) -> np.ndarray:
        return self.mask > MASKED_BELOW


def softmax(scores: np.ndarray) -> np.ndarray:
    """Return the softmax of a vector, shifted by its maximum for stability."""
    shifted = scores - scores.max()
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum()


def attention_steps(query: np.ndarray, keys: np.ndarray, mask_row: np.ndarray | None, scaling: float) -> AttentionSteps:
    """Compute every step for ``query [d_k]`` against ``keys [key, d_k]`` in float64.

    ``mask_row`` is the additive mask of this query (0 where visible, a large negative
    number where not); None means every key is visible.
    """
    query = np.asarray(query, dtype=np.float64)
    keys = np.asarray(keys, dtype=np.float64)
    mask = np.zeros(keys.shape[0]) if mask_row is None else np.asarray(mask_row, dtype=np.float64)
    raw_scores = keys @ query
    scaled_scores = raw_scores * scaling
    masked_scores = np.where(mask > MASKED_BELOW, scaled_scores + mask, -np.inf)
    return AttentionSteps(
        query=query,
        keys=keys,
        raw_scores=raw_scores,
        scaled_scores=scaled_scores,
        mask=mask,
        masked_scores=masked_scores,
        weights=softmax(masked_scores),
        scaling=float(scaling),
    )
