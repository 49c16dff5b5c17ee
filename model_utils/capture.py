"""Run one forward pass with hooks on every attention module and return checked weights."""

from __future__ import annotations

import datetime
import logging
import platform
import time
from collections.abc import Sequence

import numpy as np
import torch
import transformers

from viz.labels import display_tokens

from .checks import check_attention, check_layers
from .errors import InputError
from .families import SELF, find_attention_modules
from .hooks import AttentionRecorder
from .loading import LoadedModel
from .result import CaptureResult

logger = logging.getLogger(__name__)


def _encode(loaded: LoadedModel, text: str, text_pair: str | None, max_tokens: int):
    """Tokenize with truncation and count the tokens that truncation dropped."""
    tokenizer = loaded.tokenizer
    full_length = len(tokenizer(text, text_pair)["input_ids"])
    fast = getattr(tokenizer, "is_fast", False)
    encoding = tokenizer(
        text,
        text_pair,
        truncation=True,
        max_length=max_tokens,
        return_tensors="pt",
        return_special_tokens_mask=True,
        return_offsets_mapping=fast,
        return_token_type_ids=text_pair is not None,
    )
    return encoding, max(0, full_length - encoding["input_ids"].shape[1])


def _labels(loaded: LoadedModel, text: str, text_pair: str | None, encoding) -> tuple[list[str], list[str]]:
    ids = encoding["input_ids"][0].tolist()
    raw = loaded.tokenizer.convert_ids_to_tokens(ids)
    special = encoding["special_tokens_mask"][0].tolist()
    offsets = encoding.get("offset_mapping")
    if offsets is None or text_pair is not None:
        # Offsets of a pair index into two texts; labels then come from the tokens themselves.
        return raw, display_tokens(text, raw, None, special)
    return raw, display_tokens(text, raw, offsets[0].tolist(), special)


def validate_text(text: str, max_characters: int | None = None) -> str:
    """Return ``text`` or raise InputError naming what is wrong with it and the fix."""
    if not isinstance(text, str):
        raise InputError(f"Text must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise InputError("The text is empty. Type a sentence to see its attention.")
    if max_characters is not None and len(text) > max_characters:
        raise InputError(
            f"The text has {len(text):,} characters; the limit is {max_characters:,}. Shorten it."
        )
    return text


def manifest_for(loaded: LoadedModel, text: str, num_tokens: int, **extra) -> dict:
    """Describe where a capture came from, for every export."""
    return {
        "model": loaded.source,
        "family": loaded.family.name,
        "revision": loaded.revision,
        "dtype": loaded.dtype,
        "device": loaded.device,
        "attn_implementation": loaded.attn_implementation,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "python_version": platform.python_version(),
        "text": text,
        "token_count": num_tokens,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def _stack_layers(recorder: AttentionRecorder, role: str, layers: Sequence[int]) -> np.ndarray:
    """Stack the recorded weights of the chosen layers into ``[layer, head, query, key]``."""
    paths = [path for path, _ in recorder.targets]
    first_calls = [recorder.weights[path][0] if recorder.weights[path] else None for path in paths]
    check_layers(first_calls, paths, role)
    return np.stack([first_calls[index][0].float().cpu().numpy() for index in layers])


def capture(
    loaded: LoadedModel,
    text: str,
    text_pair: str | None = None,
    target: str | None = None,
    *,
    layers: Sequence[int] | None = None,
    max_tokens: int | None = None,
) -> CaptureResult:
    """Capture every head's attention for ``text`` (and ``text_pair`` for sentence pairs).

    ``layers`` picks the layers to keep (all by default). Weights are checked before they
    are returned: one tensor per layer, the model's head count, rows summing to 1 and, for
    causal models, nothing on later keys.
    """
    validate_text(text)
    if target is not None:
        raise InputError("A target text applies to encoder-decoder models only.")
    limit = min(max_tokens or loaded.max_tokens, loaded.max_tokens)
    encoding, dropped = _encode(loaded, text, text_pair, limit)
    raw_tokens, tokens = _labels(loaded, text, text_pair, encoding)
    num_tokens = len(tokens)

    targets = find_attention_modules(loaded.model, loaded.family)[SELF]
    chosen = list(range(len(targets))) if layers is None else sorted(set(layers))
    if any(not 0 <= layer < len(targets) for layer in chosen):
        raise InputError(f"Layers {list(layers)} are out of range: the model has layers 0 to {len(targets) - 1}.")
    inputs = {name: value.to(loaded.device) for name, value in encoding.items() if name in ("input_ids", "attention_mask", "token_type_ids")}

    started = time.perf_counter()
    recorder = AttentionRecorder(targets, loaded.family.weights_index)
    with loaded.lock, recorder.attached(), torch.inference_mode():
        loaded.model(**inputs)
    attentions = _stack_layers(recorder, SELF, chosen)
    check_attention(
        attentions,
        heads=int(loaded.config.num_attention_heads),
        queries=num_tokens,
        keys=num_tokens,
        causal=loaded.is_causal,
        role=SELF,
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.info("Captured %s: %d tokens, %d layers in %.0f ms", loaded.source, num_tokens, len(chosen), elapsed_ms)

    segments = encoding.get("token_type_ids")
    return CaptureResult(
        tokens=tuple(tokens),
        raw_tokens=tuple(raw_tokens),
        token_ids=tuple(encoding["input_ids"][0].tolist()),
        attentions=attentions,
        layers=tuple(chosen),
        special_mask=tuple(bool(flag) for flag in encoding["special_tokens_mask"][0].tolist()),
        is_causal=loaded.is_causal,
        manifest=manifest_for(loaded, text, num_tokens, text_pair=text_pair, dropped_tokens=dropped),
        segment_ids=tuple(segments[0].tolist()) if segments is not None and text_pair is not None else None,
        dropped_tokens=dropped,
    )
