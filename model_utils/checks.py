"""Checks that captured attention is what it claims to be, before anything is plotted."""

from __future__ import annotations

import numpy as np
import torch

from .errors import CaptureError

ROW_SUM_TOLERANCE = 1e-3
CAUSAL_TOLERANCE = 1e-6
# Query rows read at once by the causal check.
CAUSAL_BLOCK_ROWS = 64


def check_layers(weights: list, paths: list[str], role: str) -> None:
    """Raise CaptureError naming every layer whose hook recorded nothing."""
    missing = [index for index, layer in enumerate(weights) if layer is None]
    if missing:
        captured = len(weights) - len(missing)
        raise CaptureError(
            f"{captured} of {len(weights)} layers captured for {role}: no attention weights from "
            f"layers {missing} ({', '.join(paths[index] for index in missing[:3])}). The model ran "
            "these layers without returning weights (a fused kernel, SDPA, or a direct .forward() "
            "call); load it with attn_implementation='eager'."
        )


def _row_sums(array: np.ndarray) -> np.ndarray:
    """Sum each row of the last axis. torch uses every CPU thread, where numpy's sum uses one."""
    if array.flags.writeable and array.dtype in (np.float32, np.float64):
        return torch.from_numpy(array).sum(dim=-1).numpy()
    return array.sum(axis=-1)


def _largest_future_weight(array: np.ndarray, block: int = CAUSAL_BLOCK_ROWS) -> float:
    """Return the largest weight any query puts on a later key of ``[..., query, key]``, 0.0 when there is none.

    Rows are read a block at a time through views. Indexing the upper triangle with a mask
    would copy half the array, 300 MB for a 12 x 12 decoder at 1024 tokens.
    """
    queries = array.shape[-2]
    largest = 0.0
    for start in range(0, queries, block):
        stop = min(start + block, queries)
        corner = np.triu(array[..., start:stop, start:stop], k=1)
        largest = max(largest, float(corner.max()))
        if stop < array.shape[-1]:
            largest = max(largest, float(array[..., start:stop, stop:].max()))
    return largest


def check_attention(array: np.ndarray, *, heads: int, queries: int, keys: int, causal: bool, role: str) -> None:
    """Raise CaptureError unless ``array`` is ``[layer, heads, queries, keys]`` of probability rows.

    Causal attention must put zero weight on every later key. A row that fails either check
    means the backend dropped a mask or returned something else, and must not be drawn.
    """
    expected = (heads, queries, keys)
    if array.ndim != 4 or tuple(array.shape[1:]) != expected:
        raise CaptureError(
            f"{role}: captured shape {tuple(array.shape)} does not match [layer, {heads} heads, "
            f"{queries} queries, {keys} keys]. The attention module returned something other than weights."
        )
    row_sums = _row_sums(array)
    # A NaN or infinity anywhere makes its row sum NaN or infinite, so one pass checks both.
    if not np.isfinite(row_sums).all():
        raise CaptureError(f"{role}: captured weights contain NaN or infinity; try dtype float32.")
    worst = float(np.abs(row_sums - 1.0).max()) if row_sums.size else 0.0
    if worst > ROW_SUM_TOLERANCE:
        raise CaptureError(
            f"{role}: attention rows must sum to 1, but one sums to {1.0 + worst:.4f} "
            f"(tolerance {ROW_SUM_TOLERANCE}). The captured tensor is not a softmax output."
        )
    if causal and queries == keys:
        leak = _largest_future_weight(array)
        if leak > CAUSAL_TOLERANCE:
            raise CaptureError(
                f"{role}: a causal model put weight {leak:.3g} on a later token. The causal mask "
                "was lost (a known failure of attention backends); this result is not drawn."
            )
