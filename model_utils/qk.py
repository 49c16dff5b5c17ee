"""Capture the query, key and value vectors that each attention module really used.

The vectors come from inside the model's own forward pass, after every projection and
rotary embedding, so nothing about the architecture is re-implemented here. For the
pass, the model's attention implementation is switched to ``QK_IMPLEMENTATION``, a
function registered in transformers' ``AttentionInterface`` that records its inputs and
then calls the module's own ``eager_attention_forward``. The same name is registered in
``AttentionMaskInterface`` with transformers' eager mask, so the mask is eager's too.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

from .capture import _encode, validate_text
from .errors import CaptureError, InputError
from .families import SELF, find_attention_modules
from .loading import LoadedModel

logger = logging.getLogger(__name__)

QK_IMPLEMENTATION = "atlas_qk_capture"
_active = threading.local()


@dataclass(frozen=True)
class QueryKeyCapture:
    """Per-layer attention inputs from one forward pass.

    ``queries``, ``keys`` and ``values`` are float32 ``[layer, head, token, head_dim]`` with
    keys and values repeated to every query head under grouped-query attention (query head
    ``h`` uses key/value head ``h // (heads / kv_heads)``, as transformers' ``repeat_kv``).
    ``masks`` is ``[layer, query, key]``, the additive mask each layer added to its scores
    (0 where visible). ``weights`` are the ``[layer, head, query, key]`` weights the eager
    function returned in this pass.
    """

    token_ids: tuple[int, ...]
    queries: np.ndarray
    keys: np.ndarray
    values: np.ndarray
    masks: np.ndarray
    scalings: tuple[float, ...]
    weights: np.ndarray
    kv_heads: int

    @property
    def head_dim(self) -> int:
        return int(self.queries.shape[-1])


def _module_eager(module: torch.nn.Module):
    """Return the ``eager_attention_forward`` of the file that defines the module's class."""
    function = getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
    if function is None:
        raise CaptureError(
            f"{type(module).__name__} has no eager_attention_forward in {type(module).__module__}, so its "
            "query and key vectors cannot be recorded. The Q·K walk-through supports models whose attention "
            "goes through transformers' AttentionInterface."
        )
    return function


def _recording_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Record the inputs of one attention call, then run the module's own eager attention."""
    attn_output, attn_weights = _module_eager(module)(
        module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
    )
    records = getattr(_active, "records", None)
    if records is not None:
        records[id(module)] = {
            "query": query.detach(),
            "key": key.detach(),
            "value": value.detach(),
            "mask": None if attention_mask is None else attention_mask.detach(),
            "scaling": query.size(-1) ** -0.5 if scaling is None else float(scaling),
            "weights": attn_weights.detach(),
        }
    return attn_output, attn_weights


AttentionInterface.register(QK_IMPLEMENTATION, _recording_attention)
AttentionMaskInterface.register(QK_IMPLEMENTATION, eager_mask)


@contextlib.contextmanager
def _recording(model: torch.nn.Module):
    """Switch the model to the recording implementation for one pass and always switch it back."""
    previous = model.config._attn_implementation
    _active.records = {}
    try:
        model.set_attn_implementation(QK_IMPLEMENTATION)
        yield _active.records
    finally:
        model.set_attn_implementation(previous)
        _active.records = None


def _first_sequence(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].float().cpu().numpy()


def _mask_matrix(mask: torch.Tensor | None, num_tokens: int) -> np.ndarray:
    """Return the additive ``[query, key]`` mask of the first sequence; a boolean mask becomes 0 / -inf."""
    if mask is None:
        return np.zeros((num_tokens, num_tokens), dtype=np.float32)
    matrix = mask[0, 0]
    if matrix.dtype == torch.bool:
        return np.where(matrix.cpu().numpy(), 0.0, -np.inf).astype(np.float32)
    return matrix.float().cpu().numpy()[:, -num_tokens:]


def _inputs_from_ids(loaded: LoadedModel, token_ids: Sequence[int], segment_ids: Sequence[int] | None) -> dict:
    """Build the model inputs for given token ids, with segment ids as token types where the model takes them."""
    ids = torch.tensor([list(token_ids)], dtype=torch.long, device=loaded.device)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if segment_ids is not None and "token_type_ids" in getattr(loaded.tokenizer, "model_input_names", ()):
        inputs["token_type_ids"] = torch.tensor([list(segment_ids)], dtype=torch.long, device=loaded.device)
    return inputs


def capture_query_key(
    loaded: LoadedModel,
    text: str,
    *,
    max_tokens: int | None = None,
    token_ids: Sequence[int] | None = None,
    segment_ids: Sequence[int] | None = None,
) -> QueryKeyCapture:
    """Run ``text`` once and return every layer's query, key and value vectors, mask and scaling.

    The text is tokenized exactly as ``capture()`` does, so positions match its result.
    ``token_ids`` (with ``segment_ids`` for a sentence pair) run those tokens instead, for a
    capture whose tokens do not come from the text alone, such as one with generated tokens.
    """
    validate_text(text)
    if loaded.is_encoder_decoder:
        raise InputError(
            "The Q·K walk-through covers encoder and decoder models; for an encoder-decoder, use the Heads page."
        )
    if token_ids is None:
        limit = min(max_tokens or loaded.max_tokens, loaded.max_tokens)
        encoding, _ = _encode(loaded, text, None, limit)
        inputs = {name: value.to(loaded.device) for name, value in encoding.items() if name in ("input_ids", "attention_mask")}
    else:
        inputs = _inputs_from_ids(loaded, token_ids, segment_ids)
    targets = find_attention_modules(loaded.model, loaded.family)[SELF]
    num_tokens = int(inputs["input_ids"].shape[1])

    started = time.perf_counter()
    with loaded.lock, _recording(loaded.model) as records, torch.inference_mode():
        loaded.model(**inputs)
    missing = [path for path, module in targets if id(module) not in records]
    if missing:
        raise CaptureError(
            f"{len(missing)} of {len(targets)} attention modules did not go through transformers' "
            f"AttentionInterface ({', '.join(missing[:3])}), so their query and key vectors cannot be recorded."
        )

    per_layer = [records[id(module)] for _, module in targets]
    num_heads = per_layer[0]["query"].shape[1]
    kv_heads = per_layer[0]["key"].shape[1]
    repeats = num_heads // kv_heads
    queries = np.stack([_first_sequence(entry["query"]) for entry in per_layer])
    keys = np.stack([np.repeat(_first_sequence(entry["key"]), repeats, axis=0) for entry in per_layer])
    values = np.stack([np.repeat(_first_sequence(entry["value"]), repeats, axis=0) for entry in per_layer])
    masks = np.stack([_mask_matrix(entry["mask"], num_tokens) for entry in per_layer])
    weights = np.stack([_first_sequence(entry["weights"]) for entry in per_layer])
    logger.info(
        "Captured query and key vectors of %s: %d tokens, %d layers in %.0f ms",
        loaded.source, num_tokens, len(per_layer), (time.perf_counter() - started) * 1000,
    )
    return QueryKeyCapture(
        token_ids=tuple(inputs["input_ids"][0].tolist()),
        queries=queries,
        keys=keys,
        values=values,
        masks=masks,
        scalings=tuple(entry["scaling"] for entry in per_layer),
        weights=weights,
        kv_heads=int(kv_heads),
    )
