"""Attention rollout: how much of each input token reaches each position after every layer.

Abnar and Zuidema, "Quantifying Attention Flow in Transformers" (ACL 2020): fuse the heads
of a layer, add the identity for the residual connection, renormalise the rows, and
multiply the layers from the bottom up.
"""

from __future__ import annotations

import numpy as np

HEAD_FUSIONS = ("mean", "max", "min")


def fuse_heads(attentions: np.ndarray, fusion: str = "mean") -> np.ndarray:
    """Combine the heads of every layer: ``[layer, head, query, key]`` to ``[layer, query, key]``."""
    if fusion not in HEAD_FUSIONS:
        raise ValueError(f"Invalid head fusion '{fusion}'. Choose one of {', '.join(HEAD_FUSIONS)}.")
    weights = np.asarray(attentions)
    if weights.ndim != 4:
        raise ValueError(f"Expected attention shaped [layer, head, query, key], got shape {weights.shape}.")
    # Layer by layer, so only the fused result is float64, not a copy of every head.
    fused = np.empty((weights.shape[0], *weights.shape[2:]))
    for layer, heads in enumerate(weights):
        fused[layer] = heads.mean(axis=0, dtype=np.float64) if fusion == "mean" else getattr(heads, fusion)(axis=0)
    return fused


def residual_attention(fused: np.ndarray) -> np.ndarray:
    """Add the identity to each fused layer ``[layer, query, key]`` and renormalise every row to sum to 1.

    With mean fusion the rows of ``fused`` already sum to 1, so this equals the paper's
    ``0.5 * A + 0.5 * I``. Max and min fusion give rows of another total; the
    renormalisation makes every layer a distribution again either way.
    """
    layers, queries, keys = fused.shape
    if queries != keys:
        raise ValueError(f"Rollout needs square self-attention, got {queries} queries and {keys} keys.")
    augmented = fused + np.eye(queries)[None]
    return augmented / augmented.sum(axis=-1, keepdims=True)


def attention_rollout(attentions: np.ndarray, fusion: str = "mean") -> np.ndarray:
    """Return the rollout after every layer, shaped ``[layer, query, key]``.

    Entry ``[l, q, k]`` is the share of input token ``k`` in position ``q`` after layer
    ``l``: ``R_0 = Â_0`` and ``R_l = Â_l · R_(l-1)``, where ``Â`` is the fused,
    residual-augmented, row-normalised attention. Every row sums to 1.
    """
    layers = residual_attention(fuse_heads(attentions, fusion))
    rollout = np.empty_like(layers)
    running = np.eye(layers.shape[-1])
    for index, layer in enumerate(layers):
        running = layer @ running
        rollout[index] = running
    return rollout


def traced_shares(layers: np.ndarray, level: int, token: int) -> np.ndarray:
    """Return the share of every node below ``(level, token)`` in it, shaped ``[level + 1, token]``.

    ``layers`` is the residual-augmented attention ``[layer, query, key]`` from
    ``residual_attention``. Row ``level`` is one-hot at ``token``; row ``m`` below is row
    ``m + 1`` times layer ``m``, so row 0 equals row ``token`` of the rollout after layer
    ``level - 1``.
    """
    num_layers, num_tokens, _ = layers.shape
    if not 0 <= level <= num_layers or not 0 <= token < num_tokens:
        raise ValueError(f"Node ({level}, {token}) is out of range: levels 0 to {num_layers}, tokens 0 to {num_tokens - 1}.")
    shares = np.zeros((level + 1, num_tokens))
    shares[level, token] = 1.0
    for lower in range(level - 1, -1, -1):
        shares[lower] = shares[lower + 1] @ layers[lower]
    return shares
