"""Compare two captures head by head: two sentences on one model, or one sentence on two models."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .statistics import jensen_shannon_similarity


@dataclass(frozen=True)
class Comparison:
    """Two attention arrays aligned by position, and how far apart each head is.

    ``first`` and ``second`` are the inputs cropped to their first ``num_tokens`` positions
    (views, not copies). ``head_distance`` is ``[layer, head]``: the mean Jensen-Shannon
    divergence (base 2, from 0 for equal patterns to 1) between matching query rows.
    ``first_tokens`` and ``second_tokens`` are the full token counts.
    """

    first: np.ndarray
    second: np.ndarray
    head_distance: np.ndarray
    max_abs_difference: np.ndarray
    num_tokens: int
    first_tokens: int
    second_tokens: int

    @property
    def same_length(self) -> bool:
        return self.first_tokens == self.second_tokens

    def difference(self, layer_index: int, head: int) -> np.ndarray:
        """Return ``first - second`` for one head, ``[query, key]`` over the shared positions."""
        return np.asarray(self.first[layer_index, head], dtype=np.float64) - self.second[layer_index, head]


def _renormalise(weights: np.ndarray) -> np.ndarray:
    totals = weights.sum(axis=-1, keepdims=True)
    return np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)


def compare_attention(first: np.ndarray, second: np.ndarray) -> Comparison:
    """Compare ``[layer, head, query, key]`` arrays position by position.

    Both need the same layer and head counts. When token counts differ, only the first
    ``min`` positions are compared, and the divergence uses those rows renormalised over
    the shared keys. Heads are compared one at a time, so memory stays at one head's matrix.
    """
    if np.shape(first)[:2] != np.shape(second)[:2]:
        raise ValueError(
            f"The two captures have {first.shape[0]} layers × {first.shape[1]} heads and "
            f"{second.shape[0]} layers × {second.shape[1]} heads; compare models of the same shape."
        )
    count = min(first.shape[-1], second.shape[-1])
    first_part = first[..., :count, :count]
    second_part = second[..., :count, :count]
    num_layers, num_heads = first.shape[:2]
    distance = np.empty((num_layers, num_heads))
    largest = np.empty((num_layers, num_heads))
    for layer in range(num_layers):
        for head in range(num_heads):
            left = np.asarray(first_part[layer, head], dtype=np.float64)
            right = np.asarray(second_part[layer, head], dtype=np.float64)
            distance[layer, head] = 1.0 - jensen_shannon_similarity(_renormalise(left), _renormalise(right))
            largest[layer, head] = np.abs(left - right).max() if count else 0.0
    return Comparison(
        first=first_part,
        second=second_part,
        head_distance=distance,
        max_abs_difference=largest,
        num_tokens=count,
        first_tokens=first.shape[-1],
        second_tokens=second.shape[-1],
    )
