"""Estimate the memory a capture needs before it runs, and reject runs that cannot fit."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from .errors import CaptureError

logger = logging.getLogger(__name__)

MIB = 1024**2
DEFAULT_LIMIT_BYTES = 2048 * MIB
RESULT_BYTES_PER_WEIGHT = 4  # captured weights are always kept as float32
# Working memory of one layer while it runs: the raw scores, the softmax output and the mask.
# transformers' own eager code allocates about three such tensors per layer.
TRANSIENT_TENSORS_PER_LAYER = 3
# Hidden states, feed-forward intermediates and a few copies of each kept alive at once.
ACTIVATION_COPIES = 8
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one capture needs, split the way the fixes act on them."""

    layers: int
    heads: int
    queries: int
    keys: int
    dtype: str
    weights_bytes: int
    transient_bytes: int
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.transient_bytes + self.activation_bytes

    def describe(self) -> str:
        return (
            f"{format_bytes(self.total_bytes)}: {self.layers} layers × {self.heads} heads × "
            f"{self.queries} × {self.keys} tokens × {RESULT_BYTES_PER_WEIGHT} bytes (float32 weights) = "
            f"{format_bytes(self.weights_bytes)}, plus {format_bytes(self.transient_bytes)} working memory per layer "
            f"and {format_bytes(self.activation_bytes)} activations in {self.dtype}"
        )


def format_bytes(count: float) -> str:
    """Format a byte count with a binary unit, e.g. ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def estimate_capture(
    *, layers: int, heads: int, queries: int, keys: int | None = None, hidden_size: int, intermediate_size: int | None = None, dtype: str = "float32"
) -> MemoryEstimate:
    """Estimate the bytes of a capture that keeps ``layers`` layers of ``heads`` heads.

    The kept weights are ``layers × heads × queries × keys`` float32 values. Each running
    layer also needs a few ``heads × queries × keys`` tensors in the model dtype, and the
    activations are a few ``tokens × width`` tensors. It is an estimate: allocator overhead
    and the model's own weights are not counted.
    """
    keys = queries if keys is None else keys
    dtype_bytes = DTYPE_BYTES.get(dtype, 4)
    width = max(hidden_size, intermediate_size or 0)
    return MemoryEstimate(
        layers=layers,
        heads=heads,
        queries=queries,
        keys=keys,
        dtype=dtype,
        weights_bytes=layers * heads * queries * keys * RESULT_BYTES_PER_WEIGHT,
        transient_bytes=TRANSIENT_TENSORS_PER_LAYER * heads * queries * keys * dtype_bytes,
        activation_bytes=ACTIVATION_COPIES * max(queries, keys) * width * dtype_bytes,
    )


def available_bytes() -> int | None:
    """Return the memory the operating system can still give this process, or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def largest_fitting_tokens(estimate: MemoryEstimate, limit: int) -> int:
    """Return the most tokens that keep a square capture of the same layers under ``limit``."""
    low, high = 0, max(estimate.queries, estimate.keys)
    while low < high:
        middle = (low + high + 1) // 2
        trial = _rescaled(estimate, middle, estimate.layers)
        if trial.total_bytes <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def largest_fitting_layers(estimate: MemoryEstimate, limit: int) -> int:
    """Return the most layers that fit under ``limit`` at the same length."""
    per_layer = estimate.weights_bytes // max(1, estimate.layers)
    spare = limit - estimate.transient_bytes - estimate.activation_bytes
    return max(0, min(estimate.layers, spare // per_layer if per_layer else estimate.layers))


def _rescaled(estimate: MemoryEstimate, tokens: int, layers: int) -> MemoryEstimate:
    scale = tokens / max(estimate.queries, estimate.keys, 1)
    return MemoryEstimate(
        layers=layers,
        heads=estimate.heads,
        queries=tokens,
        keys=tokens,
        dtype=estimate.dtype,
        weights_bytes=layers * estimate.heads * tokens * tokens * RESULT_BYTES_PER_WEIGHT,
        transient_bytes=int(estimate.transient_bytes * scale * scale),
        activation_bytes=int(estimate.activation_bytes * scale),
    )


def check_capture_memory(estimate: MemoryEstimate, limit_bytes: int | None = None, available: int | None = None) -> None:
    """Raise CaptureError when ``estimate`` exceeds the limit or the memory available now.

    The message gives the estimate, the limit and the fixes: the number of tokens and the
    number of layers that would fit, and a smaller dtype where that alone would be enough.
    """
    limit = DEFAULT_LIMIT_BYTES if limit_bytes is None else limit_bytes
    source = "the per-capture limit (setting max_capture_megabytes)"
    if available is not None and available < limit:
        limit, source = available, "the memory available now"
    if estimate.total_bytes <= limit:
        return
    fixes = [f"use at most {largest_fitting_tokens(estimate, limit):,} tokens"]
    layers = largest_fitting_layers(estimate, limit)
    if layers > 0:
        fixes.append(f"capture at most {layers} of the {estimate.layers} layers")
    if estimate.dtype == "float32":
        smaller = MemoryEstimate(
            **{**estimate.__dict__, "dtype": "float16", "transient_bytes": estimate.transient_bytes // 2, "activation_bytes": estimate.activation_bytes // 2}
        )
        if smaller.total_bytes <= limit:
            fixes.append("load the model in float16 or bfloat16")
    logger.warning("Capture rejected: needs %d bytes, limit %d (%s)", estimate.total_bytes, limit, source)
    raise CaptureError(
        f"This capture needs about {estimate.describe()}, more than {format_bytes(limit)}, {source}. "
        f"To fix it, {', or '.join(fixes)}."
    )


def estimate_for(loaded, layers: int, tokens: int) -> MemoryEstimate:
    """Estimate a square self-attention capture of ``layers`` layers of a loaded model."""
    config = loaded.config
    return estimate_capture(
        layers=layers,
        heads=int(config.num_attention_heads),
        queries=tokens,
        hidden_size=int(getattr(config, "hidden_size", 0) or 0),
        intermediate_size=getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None),
        dtype=loaded.dtype,
    )
