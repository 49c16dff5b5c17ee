"""Turn recorded hook calls into one weights array per role, naming the layers that recorded nothing."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .checks import check_layers
from .errors import AtlasError, CaptureError, InputError
from .families import FamilySpec
from .hooks import AttentionRecorder

logger = logging.getLogger(__name__)


def recorded_layers(
    recorder: AttentionRecorder, spec: FamilySpec, num_layers: int
) -> tuple[list[torch.Tensor | None], list[str]]:
    """Return one weights tensor per model layer (None where nothing was recorded) and the module behind each.

    Each target module is one layer and its first call counts, except in families that share
    one module across layers: there the calls in execution order are the layers.
    """
    if spec.shares_layers:
        calls = recorder.calls[:num_layers]
        weights = [call[1] for call in calls] + [None] * (num_layers - len(calls))
        names = [f"{path} (call {index})" for index, (path, _) in enumerate(calls)]
        names += [f"layer {index} (never called)" for index in range(len(calls), num_layers)]
        return weights, names
    paths = [path for path, _ in recorder.targets]
    return [recorder.weights[path][0] if recorder.weights[path] else None for path in paths], paths


def choose_layers(requested: Sequence[int] | None, num_layers: int) -> list[int]:
    """Return the sorted layer indices to keep, or raise InputError for one out of range."""
    if requested is None:
        return list(range(num_layers))
    chosen = sorted(set(requested))
    if any(not 0 <= layer < num_layers for layer in chosen):
        raise InputError(f"Layers {list(requested)} are out of range: the model has layers 0 to {num_layers - 1}.")
    return chosen


def stack_layers(
    weights: list[torch.Tensor | None],
    names: list[str],
    role: str,
    chosen: Sequence[int],
    allow_missing: bool = False,
) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """Stack the chosen layers' first batch item into ``[layer, head, query, key]`` float32.

    Returns ``(array, captured layers, missing layers)``. A chosen layer that recorded
    nothing raises CaptureError ("k of N layers captured", naming the missing ones) unless
    ``allow_missing`` is set; then it is left out and listed as missing. With no layer
    captured at all, CaptureError is raised either way.
    """
    chosen_weights = [weights[layer] for layer in chosen]
    if not allow_missing or all(item is None for item in chosen_weights):
        check_layers(chosen_weights, [names[layer] for layer in chosen], role)
    captured = tuple(layer for layer in chosen if weights[layer] is not None)
    missing = tuple(layer for layer in chosen if weights[layer] is None)
    shapes = {layer: tuple(weights[layer].shape[1:]) for layer in captured}
    expected = shapes[captured[0]]
    for layer, shape in shapes.items():
        if shape != expected:
            raise CaptureError(
                f"{role}: captured shape {shape} for layer {layer} ({names[layer]}) does not match layer "
                f"{captured[0]}'s {expected}. The module returned something other than [head, query, key] weights."
            )
    array = np.stack([weights[layer][0].float().cpu().numpy() for layer in captured])
    return array, captured, missing


def missing_layers_note(missing: Sequence[int], names: list[str], role: str) -> str:
    """Describe the layers that returned no weights, for the manifest and the page."""
    shown = ", ".join(names[layer] for layer in list(missing)[:3])
    return (
        f"{role}: layers {list(missing)} returned no attention weights ({shown}); they are left out of every view. "
        "The model ran them without weights (a custom module, a fused kernel or a direct .forward() call)."
    )


def ensure_eager(loaded) -> None:
    """Switch the model back to eager attention if something changed it after loading.

    SDPA and flash attention return no weights, so their hooks would record None for every
    layer. Call with ``loaded.lock`` held.
    """
    from .loading import CAPTURE_IMPLEMENTATION

    current = getattr(loaded.model.config, "_attn_implementation", CAPTURE_IMPLEMENTATION)
    if current in (None, CAPTURE_IMPLEMENTATION):
        return
    logger.warning("Model %s runs %s attention, which returns no weights; switching to eager", loaded.source, current)
    try:
        loaded.model.set_attn_implementation(CAPTURE_IMPLEMENTATION)
    except (ValueError, NotImplementedError, AttributeError) as error:
        raise CaptureError(
            f"The model runs {current} attention, which returns no weights, and it cannot switch to eager "
            f"attention ({error}). Load a model that supports attn_implementation='eager'."
        ) from error


@contextlib.contextmanager
def forward_errors(loaded) -> Iterator[None]:
    """Turn an exception raised inside the model's forward pass into CaptureError naming it.

    Custom and remote-code models fail in their own code, for example when an attention
    module returns fewer values than its parent unpacks. Errors of Attention Atlas itself pass through.
    """
    try:
        yield
    except AtlasError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError, KeyError, AttributeError) as error:
        logger.warning("Forward pass of %s failed: %r", loaded.source, error)
        raise CaptureError(
            f"The model {loaded.source} raised {type(error).__name__} during its forward pass: {error}. "
            "Its attention modules may return something other than (output, weights); check the model's code."
        ) from error
