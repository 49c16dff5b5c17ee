"""Capture every head as a small pooled thumbnail, one layer at a time, for the model overview.

A full capture keeps ``layers × heads × tokens²`` float32 weights: 2.4 GB for 12 × 12 heads
at 2048 tokens. The overview only draws thumbnails, so each layer's weights are checked and
max-pooled while the forward pass runs, and only the thumbnails are kept.
"""

from __future__ import annotations

import contextlib
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


class ThumbnailBuilder:
    """Pools the query blocks of every layer into thumbnails as the forward pass hands them over.

    Every block's rows are checked: finite, summing to 1 and, for causal models, with no
    weight on a later key inside the block. Keys after a causal block are never computed,
    because the causal mask gives them exactly zero weight.
    """

    def __init__(self, modules, *, heads: int, tokens: int, pixels: int, causal: bool) -> None:
        self.layer_of = {id(module): layer for layer, module in enumerate(modules)}
        self.heads, self.tokens, self.causal = heads, tokens, causal
        self.side = min(tokens, pixels)
        self.edges = block_edges(tokens, self.side)
        self.block_of = {int(edge): index for index, edge in enumerate(self.edges)}
        self.thumbnails = np.zeros((len(modules), heads, self.side, self.side), dtype=np.float32)
        self.filled: dict[int, int] = {}

    def add_rows(self, module, start: int, stop: int, weights: torch.Tensor) -> None:
        """Check the weights ``[head, stop - start, visible keys]`` of whole query blocks and pool them."""
        layer = self.layer_of[id(module)]
        self._check(layer, start, stop, weights)
        first, last = self.block_of[start], self.block_of[stop]
        edges = self.edges[first : last + 1] - start
        sizes = set(np.diff(edges).tolist())
        if len(sizes) == 1:
            by_block = weights.reshape(self.heads, last - first, sizes.pop(), weights.shape[-1]).amax(dim=2)
        else:
            by_block = torch.stack([weights[:, low:high].amax(dim=1) for low, high in zip(edges[:-1], edges[1:])], dim=1)
        strongest = torch.zeros(self.heads, last - first, self.tokens, dtype=torch.float32, device=weights.device)
        strongest[..., : weights.shape[-1]] = by_block
        if self.tokens % self.side == 0:
            pooled = strongest.view(self.heads, last - first, self.side, self.tokens // self.side).amax(dim=-1).cpu().numpy()
        else:
            pooled = pool_thumbnails(strongest.cpu().numpy(), self.side)
        self.thumbnails[layer, :, first:last, :] = pooled
        self.filled[layer] = self.filled.get(layer, 0) + last - first

    def _check(self, layer: int, start: int, stop: int, weights: torch.Tensor) -> None:
        if weights.shape[0] != self.heads or weights.shape[1] != stop - start:
            raise CaptureError(f"Layer {layer}: captured shape {tuple(weights.shape)} does not match {self.heads} heads × {stop - start} queries.")
        row_sums = weights.sum(dim=-1)
        if not bool(torch.isfinite(row_sums).all()):
            raise CaptureError(f"Layer {layer}: captured weights contain NaN or infinity; try dtype float32.")
        worst = float((row_sums - 1.0).abs().max())
        if worst > ROW_SUM_TOLERANCE:
            raise CaptureError(f"Layer {layer}: attention rows must sum to 1, but one sums to {1.0 + worst:.4f}.")
        if self.causal and stop - start > 1 and weights.shape[-1] >= stop:
            leak = float(weights[:, :, start:stop].triu(1).max())
            if leak > CAUSAL_TOLERANCE:
                raise CaptureError(f"Layer {layer}: a causal model put weight {leak:.3g} on a later token; the causal mask was lost.")

    def missing_layers(self) -> list[int]:
        return [layer for layer in self.layer_of.values() if self.filled.get(layer, 0) != self.side]


@contextlib.contextmanager
def single_torch_thread():
    """Run the block with one torch CPU thread, then restore the previous count.

    The row groups are memory-bound, and on a busy CPU two OpenMP threads made them several
    times slower (bench/run.py on a shared 2-core machine).
    NOTE: the thread count is process-wide, so other captures running meanwhile use one thread too.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
    builder = ThumbnailBuilder(
        modules, heads=int(loaded.config.num_attention_heads), tokens=num_tokens, pixels=pixels, causal=loaded.is_causal
    )
    plan = None if loaded.family.shares_layers else plan_for(loaded.model, modules)
    if plan is None:
        raise InputError(f"{loaded.source} does not run through transformers' attention interface; thumbnails need a full capture.")
    plan.on_rows, plan.row_blocks = builder.add_rows, builder.side
    started = time.perf_counter()
    with loaded.lock, single_torch_thread(), planned_forward(loaded.model, plan), torch.inference_mode():
        loaded.model(**model_inputs(loaded, encoding))
    missing = builder.missing_layers()
    if missing:
        raise InputError(f"Layers {missing} of {loaded.source} handed over no weights; thumbnails need a full capture.")
    logger.info("Captured thumbnails of %s: %d tokens, %d layers in %.0f ms", loaded.source, num_tokens, len(modules), (time.perf_counter() - started) * 1000)
    stacked = builder.thumbnails
    stacked.setflags(write=False)
    return ThumbnailCapture(
        tokens=tuple(tokens),
        layers=tuple(range(len(modules))),
        thumbnails=stacked,
        is_causal=loaded.is_causal,
        manifest=manifest_for(loaded, text, num_tokens, dropped_tokens=dropped, thumbnail_pixels=pixels, raw_token_count=len(raw_tokens)),
        dropped_tokens=dropped,
    )
