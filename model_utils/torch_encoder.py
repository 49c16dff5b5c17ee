"""Capture from plain PyTorch `nn.TransformerEncoder` stacks, whose fused fast path skips hooks.

In eval mode `nn.TransformerEncoderLayer` may run one fused kernel that never calls its
`MultiheadAttention` child, and it always calls that child with ``need_weights=False``.
The capture here turns PyTorch's fast path off for the forward pass
(`torch.backends.mha.set_fastpath_enabled`, torch 2.1 and later) and asks each attention
module for per-head weights through a forward pre-hook, so the math path runs and its
output is unchanged up to float rounding.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .checks import check_attention, check_layers
from .errors import CaptureError
from .hooks import AttentionRecorder

# The fast-path switch is process-wide, so captures take turns changing it.
_FASTPATH_LOCK = threading.Lock()
ROLE = "attentions"


@dataclass(frozen=True)
class TorchEncoderCapture:
    """The encoder's own output and the weights of every layer, ``[batch, layer, head, query, key]``."""

    output: torch.Tensor
    attentions: np.ndarray
    paths: tuple[str, ...]


@contextlib.contextmanager
def fastpath_disabled() -> Iterator[None]:
    """Turn PyTorch's fused attention fast path off and restore the previous setting on exit."""
    with _FASTPATH_LOCK:
        previous = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            yield
        finally:
            torch.backends.mha.set_fastpath_enabled(previous)


def _request_weights(module: nn.Module, args: tuple, kwargs: dict):
    """Ask one MultiheadAttention call for per-head weights, whatever its caller asked for."""
    return args, {**kwargs, "need_weights": True, "average_attn_weights": False}


def capture_torch_encoder(
    encoder: nn.Module,
    source: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    src_key_padding_mask: torch.Tensor | None = None,
    is_causal: bool = False,
) -> TorchEncoderCapture:
    """Run ``encoder`` on ``source`` and capture every MultiheadAttention module's weights.

    When a module never ran or returned no weights (a parent that calls ``.forward()``
    directly skips hooks), CaptureError says how many layers were captured and names the rest.
    """
    targets = [(path, module) for path, module in encoder.named_modules() if isinstance(module, nn.MultiheadAttention)]
    if not targets:
        raise CaptureError(f"{type(encoder).__name__} contains no nn.MultiheadAttention modules to capture.")
    recorder = AttentionRecorder(targets, 1)
    handles = []
    try:
        with fastpath_disabled(), torch.inference_mode():
            for _, module in targets:
                handles.append(module.register_forward_pre_hook(_request_weights, with_kwargs=True))
            with recorder.attached():
                keywords = {"mask": mask, "src_key_padding_mask": src_key_padding_mask}
                if is_causal:
                    keywords["is_causal"] = True
                output = encoder(source, **keywords)
    finally:
        for handle in handles:
            handle.remove()

    paths = [path for path, _ in targets]
    first_calls = [recorder.weights[path][0] if recorder.weights[path] else None for path in paths]
    check_layers(first_calls, paths, ROLE)
    attentions = torch.stack([weights.float() for weights in first_calls], dim=1).numpy()
    batch, _, heads, queries, keys = attentions.shape
    for item in range(batch):
        check_attention(attentions[item], heads=heads, queries=queries, keys=keys, causal=is_causal, role=ROLE)
    return TorchEncoderCapture(output=output, attentions=attentions, paths=tuple(paths))
