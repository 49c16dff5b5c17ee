"""Compare two captures head by head: two sentences on one model, or one sentence on two models."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .statistics import jensen_shannon_similarity


@dataclass(frozen=True)
class Comparison:
    """Two attention arrays aligned by position, and how far apart each head is.

    ``difference`` is ``first - second`` over the first ``num_tokens`` positions of both,
    shaped ``[layer, head, query, key]``. ``head_distance`` is ``[layer, head]``: the mean
    Jensen-Shannon divergence (base 2, from 0 for equal patterns to 1) between matching
    query rows. ``first_tokens`` and ``second_tokens`` are the full token counts.
    """

    difference: np.ndarray
    head_distance: np.ndarray
    max_abs_difference: np.ndarray
    num_tokens: int
    first_tokens: int
    second_tokens: int

    @property
    def same_length(self) -> bool:
        return self.first_tokens == self.second_tokens


def _renormalise(weights: np.ndarray) -> np.ndarray:
    totals = weights.sum(axis=-1, keepdims=True)
    return np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)


def compare_attention(first: np.ndarray, second: np.ndarray) -> Comparison:
    """Compare ``[layer, head, query, key]`` arrays position by position.

    Both need the same layer and head counts. When token counts differ, only the first
    ``min`` positions are compared, and the divergence uses those rows renormalised over
    the shared keys.
    """
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    if first.shape[:2] != second.shape[:2]:
        raise ValueError(
            f"The two captures have {first.shape[0]} layers × {first.shape[1]} heads and "
            f"{second.shape[0]} layers × {second.shape[1]} heads; compare models of the same shape."
        )
    count = min(first.shape[-1], second.shape[-1])
    first_part = first[..., :count, :count]
    second_part = second[..., :count, :count]
    difference = first_part - second_part
    similarity = jensen_shannon_similarity(_renormalise(first_part), _renormalise(second_part))
    return Comparison(
        difference=difference,
        head_distance=1.0 - similarity,
        max_abs_difference=np.abs(difference).max(axis=(-2, -1)),
        num_tokens=count,
        first_tokens=first.shape[-1],
        second_tokens=second.shape[-1],
    )
