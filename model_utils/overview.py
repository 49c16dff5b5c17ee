"""Capture every head as a small pooled thumbnail, one layer at a time, for the model overview.

A full capture keeps ``layers × heads × tokens²`` float32 weights: 2.4 GB for 12 × 12 heads
at 2048 tokens. The overview only draws thumbnails, so each layer's weights are checked and
max-pooled while the forward pass runs, and only the thumbnails are kept.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from viz.grid import THUMBNAIL_PIXELS, block_edges, pool_thumbnails

from .attention_backend import plan_for, planned_forward
from .capture import _encode, _labels, manifest_for, model_inputs, validate_text
from .checks import CAUSAL_TOLERANCE, ROW_SUM_TOLERANCE
from .errors import CaptureError, InputError
from .families import SELF, find_attention_modules
from .loading import LoadedModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThumbnailCapture:
    """Pooled attention of every layer and head: ``thumbnails`` is ``[layer, head, row, column]``.

    Each pixel is the strongest weight of its block of ``block_edges(token_count, rows)``
    query positions by the matching key positions; inputs no longer than the pixel count
    are kept whole.
    """

    tokens: tuple[str, ...]
    layers: tuple[int, ...]
    thumbnails: np.ndarray
    is_causal: bool
    manifest: dict = field(default_factory=dict)
    dropped_tokens: int = 0

    @property
    def num_heads(self) -> int:
        return int(self.thumbnails.shape[1])

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)


def pool_layer(weights: torch.Tensor, pixels: int) -> np.ndarray:
    """Max-pool one layer ``[head, query, key]`` to at most ``pixels`` per side, as ``viz.grid`` does."""
    heads, queries, keys = weights.shape
    rows, columns = min(queries, pixels), min(keys, pixels)
    if queries % rows == 0 and keys % columns == 0:
        blocks = weights.reshape(heads, rows, queries // rows, columns, keys // columns)
        return blocks.amax(dim=(2, 4)).float().cpu().numpy()
    return pool_thumbnails(weights.float().cpu().numpy(), pixels)


def check_layer(weights: torch.Tensor, thumbnail: np.ndarray, *, heads: int, tokens: int, causal: bool, layer: int) -> None:
    """Raise CaptureError unless one layer ``[head, query, key]`` holds probability rows (and, if causal, no future weight).

    The causal check reads the pooled blocks that lie wholly after the diagonal (their
    maximum is the largest future weight there) and the diagonal blocks at full resolution.
    """
    if tuple(weights.shape) != (heads, tokens, tokens):
        raise CaptureError(f"Layer {layer}: captured shape {tuple(weights.shape)} does not match [{heads} heads, {tokens} × {tokens} tokens].")
    row_sums = weights.sum(dim=-1, dtype=torch.float32)
    if not bool(torch.isfinite(row_sums).all()):
        raise CaptureError(f"Layer {layer}: captured weights contain NaN or infinity; try dtype float32.")
    worst = float((row_sums - 1.0).abs().max())
    if worst > ROW_SUM_TOLERANCE:
        raise CaptureError(f"Layer {layer}: attention rows must sum to 1, but one sums to {1.0 + worst:.4f}.")
    if not causal:
        return
    blocks = thumbnail.shape[-1]
    edges = block_edges(tokens, blocks)
    future = np.triu(np.ones((blocks, blocks), dtype=bool), k=1)
    leak = float(thumbnail[:, future].max()) if future.any() else 0.0
    for start, stop in zip(edges[:-1], edges[1:]):
        if stop - start > 1:
            leak = max(leak, float(weights[:, start:stop, start:stop].triu(1).max()))
    if leak > CAUSAL_TOLERANCE:
        raise CaptureError(f"Layer {layer}: a causal model put weight {leak:.3g} on a later token; the causal mask was lost.")


def capture_thumbnails(
    loaded: LoadedModel, text: str, *, pixels: int = THUMBNAIL_PIXELS, max_tokens: int | None = None
) -> ThumbnailCapture:
    """Capture every layer and head of ``text`` as thumbnails of at most ``pixels × pixels``.

    Needs a model that dispatches through transformers' attention interface, so that each
    layer's weights can be handed over as the layer runs; other models raise InputError and
    the caller falls back to a full capture.
    """
    validate_text(text)
    if loaded.is_encoder_decoder:
        raise InputError("Thumbnail capture covers encoder-only and decoder-only models; use capture() for encoder-decoders.")
    limit = min(max_tokens or loaded.max_tokens, loaded.max_tokens)
    encoding, dropped = _encode(loaded, text, None, limit)
    raw_tokens, tokens = _labels(loaded, text, None, encoding)
    num_tokens = len(tokens)
    modules = [module for _, module in find_attention_modules(loaded.model, loaded.family)[SELF]]
    heads = int(loaded.config.num_attention_heads)
    thumbnails: dict[int, np.ndarray] = {}
    layer_of = {id(module): layer for layer, module in enumerate(modules)}

    def keep(module, weights: torch.Tensor) -> None:
        layer = layer_of[id(module)]
        thumbnail = pool_layer(weights[0], pixels)
        check_layer(weights[0], thumbnail, heads=heads, tokens=num_tokens, causal=loaded.is_causal, layer=layer)
        thumbnails[layer] = thumbnail

    plan = None if loaded.family.shares_layers else plan_for(loaded.model, modules, on_weights=keep)
    if plan is None:
        raise InputError(f"{loaded.source} does not run through transformers' attention interface; thumbnails need a full capture.")
    started = time.perf_counter()
    with loaded.lock, planned_forward(loaded.model, plan), torch.inference_mode():
        loaded.model(**model_inputs(loaded, encoding))
    missing = [layer for layer in range(len(modules)) if layer not in thumbnails]
    if missing:
        raise CaptureError(f"{len(modules) - len(missing)} of {len(modules)} layers captured: layers {missing} returned no weights.")
    logger.info("Captured thumbnails of %s: %d tokens, %d layers in %.0f ms", loaded.source, num_tokens, len(modules), (time.perf_counter() - started) * 1000)
    stacked = np.stack([thumbnails[layer] for layer in range(len(modules))])
    stacked.setflags(write=False)
    return ThumbnailCapture(
        tokens=tuple(tokens),
        layers=tuple(range(len(modules))),
        thumbnails=stacked,
        is_causal=loaded.is_causal,
        manifest=manifest_for(loaded, text, num_tokens, dropped_tokens=dropped, thumbnail_pixels=pixels, raw_token_count=len(raw_tokens)),
        dropped_tokens=dropped,
    )
