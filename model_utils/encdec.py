"""Capture for encoder-decoder models: encoder self, decoder self and cross attention from one forward pass.

Without a target text the model first generates one greedily. Attention is then read from
a single teacher-forced forward pass over the decoder start token plus the final output,
so every decoder row attends to the same keys as during generation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import torch

from viz.labels import clean_raw_token, display_tokens

from .checks import check_attention
from .errors import InputError
from .families import CROSS, DECODER, ENCODER, find_attention_modules
from .generation import generated_labels, greedy_settings, validate_new_tokens
from .hooks import AttentionRecorder
from .layers import choose_layers, ensure_eager, forward_errors, missing_layers_note, recorded_layers, stack_layers
from .loading import LoadedModel
from .result import CaptureResult

logger = logging.getLogger(__name__)


def decoder_start_id(loaded: LoadedModel) -> int:
    """Return the token id that starts every decoder sequence, from the generation config or the model config."""
    for config in (getattr(loaded.model, "generation_config", None), loaded.config):
        value = getattr(config, "decoder_start_token_id", None)
        if isinstance(value, int):
            return value
    for name in ("bos_token_id", "pad_token_id"):
        value = getattr(loaded.config, name, None)
        if isinstance(value, int):
            return value
    raise InputError("The model config names no decoder start token (decoder_start_token_id); give a target text.")


def decoder_heads(config) -> int:
    """Return the decoder's head count: BART names it separately, T5 shares one count."""
    return int(getattr(config, "decoder_attention_heads", None) or config.num_attention_heads)


def _target_inputs(loaded: LoadedModel, target: str, start_id: int, max_tokens: int) -> tuple[list[int], list[str], list[str], list[bool]]:
    """Tokenize a target text as the decoder receives it: the start token, then the target tokens."""
    fast = getattr(loaded.tokenizer, "is_fast", False)
    with loaded.tokenizer_lock:
        encoding = loaded.tokenizer(
            text_target=target,
            truncation=True,
            max_length=max_tokens - 1,
            return_special_tokens_mask=True,
            return_offsets_mapping=fast,
        )
    ids = list(encoding["input_ids"])
    raw = loaded.tokenizer.convert_ids_to_tokens(ids)
    special = list(encoding["special_tokens_mask"])
    offsets = encoding.get("offset_mapping")
    labels = display_tokens(target, raw, offsets, special)
    start_raw = loaded.tokenizer.convert_ids_to_tokens([start_id])[0]
    return [start_id, *ids], [start_raw, *raw], [clean_raw_token(start_raw), *labels], [True, *map(bool, special)]


def _generate_target(loaded: LoadedModel, inputs: dict, start_id: int, max_new_tokens: int):
    """Generate a target greedily; return the decoder ids (start token first), raw tokens, labels and special flags."""
    with loaded.lock, torch.inference_mode(), forward_errors(loaded):
        output = loaded.model.generate(
            **inputs, decoder_start_token_id=start_id, **greedy_settings(loaded.tokenizer, max_new_tokens)
        )
    ids = output[0].tolist()
    if not ids or ids[0] != start_id:
        ids = [start_id, *ids]
    new_ids = ids[1:]
    raw = loaded.tokenizer.convert_ids_to_tokens(ids)
    labels = [clean_raw_token(raw[0]), *generated_labels(loaded.tokenizer, [], new_ids)]
    special_ids = set(loaded.tokenizer.all_special_ids)
    return ids, raw, labels, [token_id in special_ids for token_id in ids]


def capture_seq2seq(
    loaded: LoadedModel,
    source: str,
    target: str | None = None,
    *,
    text_pair: str | None = None,
    layers: Sequence[int] | None = None,
    max_tokens: int | None = None,
    max_new_tokens: int = 20,
    allow_missing: bool = False,
) -> CaptureResult:
    """Capture an encoder-decoder's three kinds of attention for ``source`` and ``target``.

    ``attentions`` is the encoder self-attention ``[layer, head, source, source]``;
    ``decoder_attentions`` is ``[layer, head, target, target]`` and causal;
    ``cross_attentions`` is ``[layer, head, target, source]``: decoder tokens as rows, source
    tokens as columns. Target rows start with the decoder start token.
    """
    from .capture import _encode, _labels, manifest_for, model_inputs

    if text_pair is not None:
        raise InputError("Sentence pairs apply to encoder models; for an encoder-decoder, give a source and a target.")
    if target is not None and not target.strip():
        target = None
    limit = min(max_tokens or loaded.max_tokens, loaded.max_tokens)
    encoding, dropped = _encode(loaded, source, None, limit)
    source_raw, source_labels = _labels(loaded, source, None, encoding)
    inputs = model_inputs(loaded, encoding)
    start_id = decoder_start_id(loaded)

    started = time.perf_counter()
    if target is None:
        validate_new_tokens(max_new_tokens)
        target_ids, target_raw, target_labels, target_special = _generate_target(loaded, inputs, start_id, max_new_tokens)
    else:
        target_ids, target_raw, target_labels, target_special = _target_inputs(loaded, target, start_id, limit)

    roles = find_attention_modules(loaded.model, loaded.family)
    missing_roles = [role for role in (ENCODER, DECODER, CROSS) if role not in roles]
    if missing_roles:
        raise InputError(f"This {loaded.family.name} model has no {', '.join(missing_roles)} modules to capture.")
    recorders = {role: AttentionRecorder(roles[role], loaded.family.weights_index) for role in (ENCODER, DECODER, CROSS)}
    decoder_input_ids = torch.tensor([target_ids], device=loaded.device)
    with loaded.lock, torch.inference_mode():
        ensure_eager(loaded)
        with recorders[ENCODER].attached(), recorders[DECODER].attached(), recorders[CROSS].attached(), forward_errors(loaded):
            loaded.model(**inputs, decoder_input_ids=decoder_input_ids, use_cache=False)

    num_source, num_target = len(source_labels), len(target_ids)
    shapes = {
        ENCODER: (int(loaded.config.num_attention_heads), num_source, num_source, False),
        DECODER: (decoder_heads(loaded.config), num_target, num_target, True),
        CROSS: (decoder_heads(loaded.config), num_target, num_source, False),
    }
    arrays, captured_layers, extra = {}, {}, {}
    for role, recorder in recorders.items():
        num_layers = len(roles[role])
        weights, names = recorded_layers(recorder, loaded.family, num_layers)
        requested = layers
        if layers is not None and role != ENCODER:
            # A decoder with fewer layers than the encoder keeps the requested layers it has.
            requested = [layer for layer in layers if layer < num_layers] or layers
        chosen = choose_layers(requested, num_layers)
        array, captured, missing = stack_layers(weights, names, role, chosen, allow_missing)
        heads, queries, keys, causal = shapes[role]
        check_attention(array, heads=heads, queries=queries, keys=keys, causal=causal, role=role)
        arrays[role], captured_layers[role] = array, captured
        if missing:
            logger.warning("Capture of %s is missing %s layers %s", loaded.source, role, list(missing))
            extra.setdefault("missing_layers", {})[role] = list(missing)
            extra.setdefault("missing_note", "")
            extra["missing_note"] += missing_layers_note(missing, names, role) + " "

    if captured_layers[DECODER] != captured_layers[CROSS]:
        raise InputError(
            f"Decoder self-attention captured layers {list(captured_layers[DECODER])} but cross-attention "
            f"{list(captured_layers[CROSS])}; both come from the same decoder layers, so the model is not supported."
        )
    # The decoder may have another layer count than the encoder (distilled models).
    decoder_layers = captured_layers[DECODER] if captured_layers[DECODER] != captured_layers[ENCODER] else None

    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.info(
        "Captured %s: %d source and %d target tokens in %.0f ms", loaded.source, num_source, num_target, elapsed_ms
    )
    return CaptureResult(
        tokens=tuple(source_labels),
        raw_tokens=tuple(source_raw),
        token_ids=tuple(encoding["input_ids"][0].tolist()),
        attentions=arrays[ENCODER],
        layers=captured_layers[ENCODER],
        special_mask=tuple(bool(flag) for flag in encoding["special_tokens_mask"][0].tolist()),
        is_causal=False,
        manifest=manifest_for(
            loaded,
            source,
            num_source,
            dropped_tokens=dropped,
            target=target,
            target_generated=target is None,
            max_new_tokens=max_new_tokens if target is None else None,
            target_token_ids=target_ids,
            target_raw_tokens=target_raw,
            target_special_mask=target_special,
            **extra,
        ),
        target_tokens=tuple(target_labels),
        decoder_attentions=arrays[DECODER],
        cross_attentions=arrays[CROSS],
        dropped_tokens=dropped,
        decoder_layers=decoder_layers,
    )
