"""Forward hooks that record attention weights, added for one forward pass and always removed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

# Attribute set on every hook function that AttentionRecorder registers.
RECORDER_HOOK_MARKER = "_attention_atlas_recorder"


class AttentionRecorder:
    """Weights recorded from a list of attention modules, keyed by module path.

    A module that never ran (a parent that calls ``.forward()`` directly skips hooks), or
    whose output held no weights, keeps ``None`` so the caller can name the missing layers.
    """

    def __init__(self, targets: Sequence[tuple[str, nn.Module]], weights_index: int) -> None:
        self.targets = list(targets)
        self.weights_index = weights_index
        self.weights: dict[str, list[torch.Tensor | None]] = {path: [] for path, _ in self.targets}
        # Every call in execution order: a module shared by several layers (ALBERT) or run
        # once per generation step records one entry per call.
        self.calls: list[tuple[str, torch.Tensor | None]] = []

    def _make_hook(self, path: str):
        def record(module: nn.Module, args: tuple, kwargs: dict, output) -> None:
            weights = read_weights(output, self.weights_index)
            self.weights[path].append(weights)
            self.calls.append((path, weights))

        setattr(record, RECORDER_HOOK_MARKER, True)
        return record

    @contextlib.contextmanager
    def attached(self) -> Iterator["AttentionRecorder"]:
        """Register one forward hook per target and remove every handle on exit, also on error."""
        handles = []
        try:
            for path, module in self.targets:
                handles.append(module.register_forward_hook(self._make_hook(path), with_kwargs=True))
            yield self
        finally:
            for handle in handles:
                handle.remove()


def read_weights(output, weights_index: int) -> torch.Tensor | None:
    """Return the weights tensor at ``weights_index`` of a module output, or None if absent."""
    if isinstance(output, torch.Tensor) or not isinstance(output, (tuple, list)):
        return None
    if not -len(output) <= weights_index < len(output):
        return None
    weights = output[weights_index]
    if not isinstance(weights, torch.Tensor) or weights.dim() != 4:
        return None
    return weights.detach()


def count_hooks(model: nn.Module) -> int:
    """Count the recorder hooks on every module of a model, which is 0 after a capture.

    Only hooks added by AttentionRecorder count: transformers 5.x registers its own
    permanent output-capturing hooks the first time a caller passes output_attentions=True.
    """
    return sum(
        getattr(hook, RECORDER_HOOK_MARKER, False)
        for module in model.modules()
        for hook in [*module._forward_hooks.values(), *module._forward_pre_hooks.values()]
    )
