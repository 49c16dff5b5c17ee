"""Capture several texts in one padded forward pass, each cropped back to its own tokens.

Padding makes every row as long as the longest text: attention then covers pad positions
while labels cover real tokens. Each text's weights are cropped to the positions where
``attention_mask == 1``, on the query and on the key side. Causal models are padded on
the left and given position ids that count real tokens only, so each text's weights
equal running it alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from .checks import check_attention
from .errors import InputError
from .families import SELF, find_attention_modules, kv_groups_for
from .hooks import AttentionRecorder
from .layers import ensure_eager, forward_errors, recorded_layers
from .loading import LoadedModel
from .result import CaptureResult

logger = logging.getLogger(__name__)

PADDING_SIDES = ("left", "right")


def pad_encodings(encodings: Sequence[dict], pad_id: int, side: str) -> dict[str, torch.Tensor]:
    """Pad single-text encodings ``{input_ids, attention_mask[, token_type_ids]}`` to one batch on ``side``."""
    width = max(encoding["input_ids"].shape[1] for encoding in encodings)
    batch: dict[str, list[torch.Tensor]] = {}
    for encoding in encodings:
        length = encoding["input_ids"].shape[1]
        for name, fill in (("input_ids", pad_id), ("attention_mask", 0), ("token_type_ids", 0)):
            if name not in encoding:
                continue
            padding = torch.full((1, width - length), fill, dtype=encoding[name].dtype)
            parts = (padding, encoding[name]) if side == "left" else (encoding[name], padding)
            batch.setdefault(name, []).append(torch.cat(parts, dim=1))
    return {name: torch.cat(rows, dim=0) for name, rows in batch.items()}


def capture_batch(
    loaded: LoadedModel, texts: Sequence[str], *, padding_side: str | None = None, max_tokens: int | None = None
) -> list[CaptureResult]:
    """Capture every text in ``texts`` with one padded forward pass; return one cropped result per text.

    ``padding_side`` defaults to left for causal models and right otherwise.
    """
    from .capture import _encode, _labels, manifest_for, model_inputs, validate_text

    if loaded.is_encoder_decoder:
        raise InputError("Batched capture applies to encoder and decoder models; capture encoder-decoder texts one by one.")
    if not texts:
        raise InputError("Give at least one text to capture.")
    side = padding_side or ("left" if loaded.is_causal else "right")
    if side not in PADDING_SIDES:
        raise InputError(f"Invalid padding side '{side}'. Choose left or right.")
    if side == "left" and not loaded.is_causal:
        # Encoders derive positions in ways this module cannot correct (BERT counts from the
        # first column, RoBERTa from the pad token), so left padding would shift every position.
        raise InputError("Encoder models are padded on the right; left padding would shift their positions.")
    for text in texts:
        validate_text(text)

    limit = min(max_tokens or loaded.max_tokens, loaded.max_tokens)
    encoded = [_encode(loaded, text, None, limit) for text in texts]
    singles = [model_inputs(loaded, encoding) for encoding, _ in encoded]
    pad_id = loaded.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = loaded.tokenizer.eos_token_id or 0
    batch = pad_encodings([{name: value.cpu() for name, value in single.items()} for single in singles], pad_id, side)
    mask = batch["attention_mask"]
    if loaded.is_causal:
        # Count positions over real tokens only, so left padding does not shift them.
        batch["position_ids"] = (mask.cumsum(dim=-1) - 1).clamp(min=0)
    batch = {name: value.to(loaded.device) for name, value in batch.items()}

    targets = find_attention_modules(loaded.model, loaded.family)[SELF]
    num_layers = int(loaded.config.num_hidden_layers) if loaded.family.shares_layers else len(targets)
    recorder = AttentionRecorder(targets, loaded.family.weights_index)
    with loaded.lock, recorder.attached(), torch.inference_mode(), forward_errors(loaded):
        ensure_eager(loaded)
        loaded.model(**batch)
    weights, names = recorded_layers(recorder, loaded.family, num_layers)
    missing = [names[layer] for layer, item in enumerate(weights) if item is None]
    if missing:
        raise InputError(f"Batched capture needs every layer; no weights came from {', '.join(missing[:3])}.")
    stacked = torch.stack([item.float().cpu() for item in weights], dim=1).numpy()  # [batch, layer, head, query, key]

    results = []
    for index, (text, (encoding, dropped)) in enumerate(zip(texts, encoded)):
        real = np.flatnonzero(mask[index].numpy() == 1)
        attentions = stacked[index][:, :, real][:, :, :, real]
        check_attention(
            attentions,
            heads=int(loaded.config.num_attention_heads),
            queries=len(real),
            keys=len(real),
            causal=loaded.is_causal,
            role=SELF,
        )
        raw_tokens, tokens = _labels(loaded, text, None, encoding)
        results.append(
            CaptureResult(
                tokens=tuple(tokens),
                raw_tokens=tuple(raw_tokens),
                token_ids=tuple(encoding["input_ids"][0].tolist()),
                attentions=attentions,
                layers=tuple(range(num_layers)),
                special_mask=tuple(bool(flag) for flag in encoding["special_tokens_mask"][0].tolist()),
                is_causal=loaded.is_causal,
                manifest=manifest_for(loaded, text, len(tokens), dropped_tokens=dropped, batch_size=len(texts), padding_side=side),
                kv_groups=kv_groups_for(loaded.config),
                dropped_tokens=dropped,
            )
        )
    logger.info("Captured a batch of %d texts from %s, padded on the %s", len(texts), loaded.source, side)
    return results
