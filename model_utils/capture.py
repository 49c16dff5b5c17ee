"""Run one forward pass with hooks on every attention module and return checked weights."""

from __future__ import annotations

import datetime
import logging
import platform
import time
import unicodedata
from collections.abc import Sequence

import numpy as np
import torch
import transformers

from viz.labels import display_tokens

from .checks import check_attention
from .errors import InputError
from .families import SELF, find_attention_modules, kv_groups_for
from .hooks import AttentionRecorder
from .layers import choose_layers, forward_errors, missing_layers_note, recorded_layers, stack_layers
from .attention_backend import implementation_note, planned_forward, planned_layers, selective_plan
from .loading import LoadedModel
from .memory import available_bytes, check_capture_memory, estimate_for
from .result import CaptureResult

logger = logging.getLogger(__name__)

# Unicode categories that draw nothing: control, format (zero-width, direction marks), unassigned, separators.
INVISIBLE_CATEGORIES = ("C", "Z")
# Target tokens generated for an encoder-decoder when no target text is given.
DEFAULT_TARGET_TOKENS = 20


def _encode(loaded: LoadedModel, text: str, text_pair: str | None, max_tokens: int):
    """Tokenize with truncation and count the tokens that truncation dropped."""
    tokenizer = loaded.tokenizer
    fast = getattr(tokenizer, "is_fast", False)
    with loaded.tokenizer_lock:
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
        dropped = _dropped_tokens(tokenizer, encoding, text, text_pair)
    if not bool((encoding["special_tokens_mask"][0] == 0).any()):
        raise InputError(
            f"The tokenizer of {loaded.source} dropped every character of the text (control characters or lone "
            "accents, for example), so there is nothing to show. Type some words."
        )
    return encoding, dropped


def _dropped_tokens(tokenizer, encoding, text: str, text_pair: str | None) -> int:
    """Count the tokens that truncation cut from ``encoding``.

    A fast tokenizer keeps the cut tokens of one text as overflow pieces, each with its own
    special tokens, so counting their other tokens needs no second pass over the text.
    Sentence pairs and slow tokenizers are tokenized again without truncation.
    """
    pieces = encoding.encodings if text_pair is None and getattr(tokenizer, "is_fast", False) else None
    if pieces:
        return sum(len(piece.ids) - sum(piece.special_tokens_mask) for piece in pieces[0].overflowing)
    full_length = len(tokenizer(text, text_pair)["input_ids"])
    return max(0, full_length - encoding["input_ids"].shape[1])


def _labels(loaded: LoadedModel, text: str, text_pair: str | None, encoding) -> tuple[list[str], list[str]]:
    ids = encoding["input_ids"][0].tolist()
    raw = loaded.tokenizer.convert_ids_to_tokens(ids)
    special = encoding["special_tokens_mask"][0].tolist()
    offsets = encoding.get("offset_mapping")
    if offsets is None:
        return raw, display_tokens(text, raw, None, special)
    if text_pair is None:
        return raw, display_tokens(text, raw, offsets[0].tolist(), special)
    # Offsets of a pair index into two texts: label each segment's tokens against its own text.
    sequences = encoding.sequence_ids(0)
    spans = offsets[0].tolist()
    labels_a = display_tokens(text, raw, [span if seq == 0 else (0, 0) for span, seq in zip(spans, sequences)], special)
    labels_b = display_tokens(text_pair, raw, [span if seq == 1 else (0, 0) for span, seq in zip(spans, sequences)], special)
    return raw, [label_b if seq == 1 else label_a for label_a, label_b, seq in zip(labels_a, labels_b, sequences)]


def validate_text(text: str, max_characters: int | None = None) -> str:
    """Return ``text`` or raise InputError naming what is wrong with it and the fix."""
    if not isinstance(text, str):
        raise InputError(f"Text must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise InputError("The text is empty. Type a sentence to see its attention.")
    if not any(unicodedata.category(char)[0] not in INVISIBLE_CATEGORIES for char in text):
        raise InputError(
            "The text has only invisible characters (control, zero-width or formatting characters). "
            "Type a sentence to see its attention."
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(
            f"The text is not valid Unicode: character {error.start} is a lone surrogate ({text[error.start]!r}). "
            "Copy the text again from its source."
        ) from None
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


def capture(
    loaded: LoadedModel,
    text: str,
    text_pair: str | None = None,
    target: str | None = None,
    *,
    layers: Sequence[int] | None = None,
    max_tokens: int | None = None,
    max_new_tokens: int = DEFAULT_TARGET_TOKENS,
    allow_missing: bool = False,
    memory_limit_bytes: int | None = None,
) -> CaptureResult:
    """Capture every head's attention for ``text`` (and ``text_pair`` for sentence pairs).

    For encoder-decoder models ``text`` is the source and ``target`` the optional target;
    without a target the model generates up to ``max_new_tokens`` tokens greedily, and the
    result also contains ``target_tokens``, ``decoder_attentions`` and ``cross_attentions``.
    ``layers`` picks the layers to keep (all by default). Weights are checked before they
    are returned: the model's head count, rows summing to 1 and, for causal attention,
    nothing on later keys. A layer that recorded no weights raises CaptureError naming it;
    with ``allow_missing`` such layers are left out instead and named in
    ``manifest["missing_layers"]``, and only a capture with no layer at all raises.
    """
    validate_text(text)
    if loaded.is_encoder_decoder:
        from .encdec import capture_seq2seq

        return capture_seq2seq(
            loaded,
            text,
            target,
            text_pair=text_pair,
            layers=layers,
            max_tokens=max_tokens,
            max_new_tokens=max_new_tokens,
            allow_missing=allow_missing,
        )
    if target is not None:
        raise InputError("A target text applies to encoder-decoder models only (BART, T5, Marian); leave it empty.")
    if text_pair is not None and loaded.is_causal:
        raise InputError("Sentence pairs apply to encoder models (BERT-like); for a decoder, put both texts in one.")
    limit = min(max_tokens or loaded.max_tokens, loaded.max_tokens)
    encoding, dropped = _encode(loaded, text, text_pair, limit)
    raw_tokens, tokens = _labels(loaded, text, text_pair, encoding)
    num_tokens = len(tokens)

    targets = find_attention_modules(loaded.model, loaded.family)[SELF]
    num_layers = int(loaded.config.num_hidden_layers) if loaded.family.shares_layers else len(targets)
    chosen = choose_layers(layers, num_layers)
    inputs = model_inputs(loaded, encoding)
    check_capture_memory(estimate_for(loaded, len(chosen), num_tokens), memory_limit_bytes, available_bytes())

    started = time.perf_counter()
    recorder = AttentionRecorder(targets, loaded.family.weights_index)
    # Layers that are not kept run SDPA, and kept layers write straight into ``buffer``.
    heads = int(loaded.config.num_attention_heads)
    planned_modules = [] if loaded.family.shares_layers else [targets[layer][1] for layer in chosen]
    buffer, plan = selective_plan(loaded.model, planned_modules, heads, num_tokens) if planned_modules else (None, None)
    with loaded.lock, recorder.attached(), planned_forward(loaded.model, plan), torch.inference_mode(), forward_errors(loaded):
        loaded.model(**inputs)
    weights, names = recorded_layers(recorder, loaded.family, num_layers)
    planned = planned_layers(plan, buffer, weights, chosen)
    attentions, captured, missing = planned or stack_layers(weights, names, SELF, chosen, allow_missing)
    if missing:
        logger.warning("Capture of %s is missing layers %s", loaded.source, list(missing))
    check_attention(
        attentions,
        heads=int(loaded.config.num_attention_heads),
        queries=num_tokens,
        keys=num_tokens,
        causal=loaded.is_causal,
        role=SELF,
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.info("Captured %s: %d tokens, %d layers in %.0f ms", loaded.source, num_tokens, len(captured), elapsed_ms)

    extra = {"missing_layers": list(missing), "missing_note": missing_layers_note(missing, names, SELF)} if missing else {}
    extra["attn_implementation"] = implementation_note(plan, captured, num_layers, loaded.attn_implementation)
    return CaptureResult(
        tokens=tuple(tokens),
        raw_tokens=tuple(raw_tokens),
        token_ids=tuple(encoding["input_ids"][0].tolist()),
        attentions=attentions,
        layers=captured,
        special_mask=tuple(bool(flag) for flag in encoding["special_tokens_mask"][0].tolist()),
        is_causal=loaded.is_causal,
        manifest=manifest_for(loaded, text, num_tokens, text_pair=text_pair, dropped_tokens=dropped, **extra),
        segment_ids=segment_ids(encoding, text_pair),
        kv_groups=kv_groups_for(loaded.config),
        dropped_tokens=dropped,
    )


def model_inputs(loaded: LoadedModel, encoding) -> dict:
    """Pick the tensors the model takes from an encoding, on the model's device.

    Token type ids go in only where the tokenizer lists them as a model input: RoBERTa-like
    models have a single token type, so a pair's segment 1 would index past their embedding.
    """
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in getattr(loaded.tokenizer, "model_input_names", ()):
        names.append("token_type_ids")
    return {name: encoding[name].to(loaded.device) for name in names if name in encoding}


def segment_ids(encoding, text_pair: str | None) -> tuple[int, ...] | None:
    """Return each token's segment (0 for text A, 1 for text B) of a sentence pair, or None for one text.

    Fast tokenizers tell each token's sequence; special tokens belong to the segment they
    close (``[CLS] A [SEP]`` is A, ``B [SEP]`` is B). Slow tokenizers fall back to token type ids.
    """
    if text_pair is None:
        return None
    sequence_ids = encoding.sequence_ids(0) if getattr(encoding, "is_fast", False) else None
    if sequence_ids is None:
        token_types = encoding.get("token_type_ids")
        return tuple(token_types[0].tolist()) if token_types is not None else None
    segments = []
    current = 0
    for sequence in sequence_ids:
        if sequence is not None:
            current = sequence
        segments.append(current)
    return tuple(segments)
