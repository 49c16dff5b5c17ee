"""Per-head statistics: one number per layer × head for each kind of attention pattern.

Every statistic is a mean over query rows. With ``skip_first``, key 0 is removed from
every row and the rest renormalised before scoring, so a head that parks most of its
weight on the first token (an attention sink) is scored on what it does with the rest.
First-token mass itself is always measured on the full pattern.
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STATISTICS = (
    "entropy",
    "distance",
    "previous_token",
    "self",
    "first_token",
    "special",
    "punctuation",
)
# Rows whose weight left after removing key 0 is below this are skipped, not renormalised.
MIN_REMAINING_MASS = 1e-6


@dataclass(frozen=True)
class HeadStatistics:
    """Statistics for every head, each array shaped ``[layer, head]`` in ``values``."""

    values: dict[str, np.ndarray]
    layers: tuple[int, ...]
    skip_first: bool

    def rows(self) -> list[dict]:
        """Return one record per head: layer, head and every statistic."""
        records = []
        for layer_index, layer in enumerate(self.layers):
            for head in range(self.values[STATISTICS[0]].shape[1]):
                record = {"layer": layer, "head": head}
                record.update({name: float(self.values[name][layer_index, head]) for name in STATISTICS})
                records.append(record)
        return records


def punctuation_mask(tokens: Sequence[str], special_mask: Sequence[bool]) -> np.ndarray:
    """Mark tokens made only of Unicode punctuation (category P*), ignoring ``##`` and special tokens."""
    flags = []
    for token, special in zip(tokens, special_mask):
        text = token.removeprefix("##").strip()
        flags.append(not special and bool(text) and all(unicodedata.category(char).startswith("P") for char in text))
    return np.array(flags, dtype=bool)


def _visible_keys(num_tokens: int, causal: bool) -> np.ndarray:
    """Return ``[query, key]`` True where the query may attend to the key."""
    if causal:
        return np.tril(np.ones((num_tokens, num_tokens), dtype=bool))
    return np.ones((num_tokens, num_tokens), dtype=bool)


def _normalised_entropy(weights: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Return each row's entropy divided by the log of its visible key count; NaN where only one key is visible."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(weights > 0, -weights * np.log(weights), 0.0)
        counts = visible.sum(axis=-1).astype(np.float64)
        return terms.sum(axis=-1) / np.where(counts > 1, np.log(counts), np.nan)


def _scores(weights: np.ndarray, visible: np.ndarray, special: np.ndarray, punctuation: np.ndarray) -> dict[str, np.ndarray]:
    """Score the rows of ``weights [..., query, key]``; every score is shaped ``[..., query]``."""
    num_tokens = weights.shape[-1]
    positions = np.arange(num_tokens)
    distance = np.abs(positions[:, None] - positions[None, :])
    previous = np.full(weights.shape[:-1], np.nan)
    previous[..., 1:] = weights[..., positions[1:], positions[1:] - 1]
    return {
        "entropy": _normalised_entropy(weights, visible),
        "distance": (weights * distance).sum(axis=-1),
        "previous_token": previous,
        "self": weights[..., positions, positions],
        "special": weights[..., special].sum(axis=-1),
        "punctuation": weights[..., punctuation].sum(axis=-1),
    }


def head_statistics(
    attentions: np.ndarray,
    special_mask: Sequence[bool],
    punctuation: Sequence[bool],
    *,
    causal: bool,
    layers: Sequence[int] | None = None,
    skip_first: bool = False,
) -> HeadStatistics:
    """Compute every statistic in STATISTICS for ``attentions [layer, head, query, key]``.

    - entropy: row entropy divided by ``log`` of the number of keys the query can see
      (1 for a uniform row, 0 for a one-hot row).
    - distance: expected ``|query - key|`` in tokens.
    - previous_token: weight on key ``query - 1`` (the first query has none and is skipped).
    - self: weight on the diagonal.
    - first_token: weight on key 0.
    - special: weight on special tokens ([CLS], [SEP], <s>, </s>, BOS/EOS).
    - punctuation: weight on punctuation tokens.
    """
    num_layers, num_heads, num_tokens, _ = np.shape(attentions)
    special = np.asarray(special_mask, dtype=bool)
    punctuation = np.asarray(punctuation, dtype=bool)
    if special.shape != (num_tokens,) or punctuation.shape != (num_tokens,):
        raise ValueError(
            f"Token masks must have one flag per token ({num_tokens}); got {special.size} special "
            f"and {punctuation.size} punctuation flags."
        )
    visible = _visible_keys(num_tokens, causal)

    # One head at a time, so float64 copies stay at one [query, key] matrix even for long inputs.
    values = {name: np.full((num_layers, num_heads), np.nan) for name in STATISTICS}
    for layer in range(num_layers):
        for head in range(num_heads):
            weights = np.asarray(attentions[layer, head], dtype=np.float64)
            for name, value in _head_scores(weights, visible, special, punctuation, skip_first).items():
                values[name][layer, head] = value
    layer_indexes = tuple(range(num_layers)) if layers is None else tuple(layers)
    return HeadStatistics(values=values, layers=layer_indexes, skip_first=skip_first)


def _head_scores(
    weights: np.ndarray, visible: np.ndarray, special: np.ndarray, punctuation: np.ndarray, skip_first: bool
) -> dict[str, float]:
    """Return every statistic of one head's ``[query, key]`` weights as a mean over usable rows."""
    if skip_first:
        # Drop key 0, renormalise, and score the remaining (query, key) grid on its own positions.
        rest = weights[:, 1:]
        remaining = rest.sum(axis=-1, keepdims=True)
        usable = remaining > MIN_REMAINING_MASS
        rest = np.where(usable, rest / np.where(usable, remaining, 1.0), np.nan)[1:, :]
        usable = usable[1:, 0]
        scores = _scores(rest, visible[1:, 1:], special[1:], punctuation[1:])
        scores = {name: np.where(usable, score, np.nan) for name, score in scores.items()}
    else:
        scores = _scores(weights, visible, special, punctuation)

    with warnings.catch_warnings():
        # A head whose rows are all skipped (a one-token input) scores NaN, not a warning.
        warnings.simplefilter("ignore", category=RuntimeWarning)
        values = {name: float(np.nanmean(score)) for name, score in scores.items()}
    values["first_token"] = float(weights[:, 0].mean())
    return values


def jensen_shannon_similarity(patterns: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Return ``1 - mean Jensen-Shannon divergence`` (base 2) between each pattern's rows and the reference's.

    ``patterns`` is ``[..., query, key]`` and ``reference`` ``[query, key]``; the result is
    shaped like ``patterns`` without its last two axes, 1 for identical patterns and 0 for
    patterns whose rows share no key.
    """
    patterns = np.asarray(patterns, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    middle = 0.5 * (patterns + reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(patterns > 0, patterns * np.log2(patterns / middle), 0.0).sum(axis=-1)
        right = np.where(reference > 0, reference * np.log2(reference / middle), 0.0).sum(axis=-1)
    divergence = np.clip(0.5 * (left + right), 0.0, 1.0)
    return 1.0 - divergence.mean(axis=-1)


def similar_heads(attentions: np.ndarray, layer_index: int, head: int, count: int = 5) -> list[tuple[int, int, float]]:
    """Return the ``count`` heads most like ``(layer_index, head)`` as ``(layer_index, head, similarity)``.

    Similarity is 1 minus the mean Jensen-Shannon divergence (base 2) between matching
    query rows; the head itself is left out.
    """
    num_layers, num_heads = attentions.shape[:2]
    reference = attentions[layer_index, head]
    similarity = np.empty((num_layers, num_heads))
    for layer in range(num_layers):
        for other in range(num_heads):
            similarity[layer, other] = jensen_shannon_similarity(attentions[layer, other], reference)
    similarity[layer_index, head] = -np.inf
    order = np.argsort(-similarity, axis=None, kind="stable")[:count]
    return [(int(flat // num_heads), int(flat % num_heads), float(similarity.flat[flat])) for flat in order]
