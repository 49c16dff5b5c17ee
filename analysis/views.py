"""Views of one capture: which attention to show, a sentence-pair block, and the first-token switch.

Pure numpy on ``[layer, head, query, key]`` arrays; the pages pick a view with these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ENCODER_SELF = "attentions"
DECODER_SELF = "decoder_attentions"
CROSS = "cross_attentions"
SEGMENT_NAMES = ("A", "B")


@dataclass(frozen=True)
class AttentionView:
    """One attention matrix per layer and head, with the tokens on each axis.

    ``query_positions`` and ``key_positions`` are the positions of the shown rows and
    columns in the full capture, so a cropped pair block still reports true positions.
    ``layers`` are the model layer indexes of the first axis of ``attentions``.
    """

    attentions: np.ndarray
    query_tokens: tuple[str, ...]
    key_tokens: tuple[str, ...]
    causal: bool
    query_positions: tuple[int, ...]
    key_positions: tuple[int, ...]
    layers: tuple[int, ...] = ()


def role_view(result, role: str = ENCODER_SELF) -> AttentionView:
    """Return the encoder self, decoder self or cross attention of a capture as a view.

    Cross attention has decoder (target) tokens as rows and source tokens as columns.
    """
    decoder_layers = result.decoder_layers if result.decoder_layers is not None else result.layers
    layers = decoder_layers if role in (DECODER_SELF, CROSS) else result.layers
    if role == ENCODER_SELF:
        attentions, queries, keys, causal = result.attentions, result.tokens, result.tokens, result.is_causal
    elif role == DECODER_SELF and result.decoder_attentions is not None:
        attentions, queries, keys, causal = result.decoder_attentions, result.target_tokens, result.target_tokens, True
    elif role == CROSS and result.cross_attentions is not None:
        attentions, queries, keys, causal = result.cross_attentions, result.target_tokens, result.tokens, False
    else:
        raise ValueError(f"This capture has no '{role}'; encoder-decoder captures have decoder and cross attention.")
    return AttentionView(
        attentions=attentions,
        query_tokens=tuple(queries),
        key_tokens=tuple(keys),
        causal=causal,
        query_positions=tuple(range(len(queries))),
        key_positions=tuple(range(len(keys))),
        layers=tuple(layers),
    )


def segment_view(view: AttentionView, segment_ids: Sequence[int], query_segment: int, key_segment: int) -> AttentionView:
    """Crop a self-attention view of a sentence pair to queries of one segment and keys of another.

    Segment 0 is text A and 1 is text B, so ``(0, 1)`` is the A→B block: where A's tokens look in B.
    """
    segments = np.asarray(segment_ids)
    if segments.shape[0] != len(view.query_tokens) or len(view.query_tokens) != len(view.key_tokens):
        raise ValueError(
            f"Segment ids cover {segments.shape[0]} tokens but the view has {len(view.query_tokens)} queries "
            f"and {len(view.key_tokens)} keys; pair filters apply to self-attention of the whole pair."
        )
    queries = np.flatnonzero(segments == query_segment)
    keys = np.flatnonzero(segments == key_segment)
    if queries.size == 0 or keys.size == 0:
        raise ValueError(f"Segment {SEGMENT_NAMES[query_segment]} or {SEGMENT_NAMES[key_segment]} has no tokens.")
    return AttentionView(
        attentions=view.attentions[:, :, queries][:, :, :, keys],
        query_tokens=tuple(view.query_tokens[position] for position in queries),
        key_tokens=tuple(view.key_tokens[position] for position in keys),
        causal=view.causal and query_segment == key_segment,
        query_positions=tuple(int(position) for position in queries),
        key_positions=tuple(int(position) for position in keys),
        layers=view.layers,
    )


def hide_first_token(attentions: np.ndarray) -> np.ndarray:
    """Blank the first key column and renormalise every row over the remaining keys.

    Most decoder heads park much of their weight on the first token (the attention sink),
    which washes out the rest of the row. The first column becomes NaN so it draws as a gap.
    A row with no weight left (the first query of a causal model attends only to itself) becomes
    NaN too, because it has no distribution over the other keys.
    """
    weights = np.asarray(attentions, dtype=np.float64)
    rest = weights[..., 1:]
    totals = rest.sum(axis=-1, keepdims=True)
    shown = np.full(weights.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        shown[..., 1:] = np.where(totals > 0, rest / totals, np.nan)
    return shown.astype(np.float32)


def first_token_share(attentions: np.ndarray) -> float:
    """Return the mean weight that queries after the first put on the first key, for the page's note."""
    weights = np.asarray(attentions)
    if weights.shape[-2] < 2:
        return 0.0
    return float(weights[..., 1:, 0].mean())
