"""Greedy generation with attention per step, assembled into one matrix over prompt and generated tokens.

`generate()` runs the prompt once and then one new query per step, so the hooks see one
ragged tensor per step: ``[head, prompt, prompt]`` first, then ``[head, 1, prompt + step]``.
The last generated token is never fed back, so it has no row. The assembled matrix covers
the prompt plus every generated token but the last, and equals one plain forward pass
over those tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import torch

from viz.labels import display_tokens

from .checks import check_attention, check_layers
from .errors import CaptureError, InputError
from .families import SELF, find_attention_modules, kv_groups_for
from .hooks import AttentionRecorder
from .layers import ensure_eager, forward_errors
from .loading import LoadedModel
from .result import CaptureResult

logger = logging.getLogger(__name__)

# Most tokens one generation may add; each adds one forward pass and one row per layer and head.
MAX_NEW_TOKENS = 256


def validate_new_tokens(max_new_tokens: int) -> int:
    """Return ``max_new_tokens`` or raise InputError naming the allowed range."""
    if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise InputError(f"Tokens to generate must be between 1 and {MAX_NEW_TOKENS}, got {max_new_tokens!r}.")
    return max_new_tokens


def greedy_settings(tokenizer, max_new_tokens: int) -> dict:
    """Return `generate()` keywords for plain greedy decoding, whatever the checkpoint's generation config sets."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return dict(
        max_new_tokens=max_new_tokens,
        min_new_tokens=None,
        do_sample=False,
        num_beams=1,
        temperature=None,
        top_p=None,
        top_k=None,
        repetition_penalty=None,
        no_repeat_ngram_size=None,
        pad_token_id=pad_id,
    )


def generated_labels(tokenizer, prefix_ids: Sequence[int], new_ids: Sequence[int]) -> list[str]:
    """Label generated tokens by the text each adds when decoded after ``prefix_ids``.

    Byte fragments of one character decode to nothing readable until the character is
    complete; those tokens share the character's span and get a fragment index, as typed
    text does in `viz.labels.display_tokens`.
    """
    prefix_text = tokenizer.decode(list(prefix_ids))
    full_text = tokenizer.decode([*prefix_ids, *new_ids])[len(prefix_text):]
    ends: list[int | None] = []
    for count in range(1, len(new_ids) + 1):
        text = tokenizer.decode([*prefix_ids, *new_ids[:count]])[len(prefix_text):]
        complete = full_text.startswith(text) and "\ufffd" not in text[-1:]
        ends.append(len(text) if complete else None)
    spans: list[tuple[int, int]] = [(0, 0)] * len(new_ids)
    start = 0
    pending: list[int] = []
    for index, end in enumerate(ends):
        pending.append(index)
        if end is None:
            continue
        for position in pending:
            spans[position] = (start, end)
        start, pending = end, []
    special_ids = set(tokenizer.all_special_ids)
    special = [int(token_id in special_ids) for token_id in new_ids]
    raw = tokenizer.convert_ids_to_tokens(list(new_ids))
    return display_tokens(full_text, raw, spans, special)


def assemble_steps(steps: Sequence[torch.Tensor | None], prompt_length: int) -> np.ndarray | None:
    """Assemble one layer's per-step weights into ``[head, tokens, tokens]``, lower-triangular.

    ``steps[0]`` is ``[batch, head, prompt, prompt]``; step ``k`` is ``[batch, head, 1,
    prompt + k]`` and becomes row ``prompt + k - 1``. Returns None when a step recorded nothing.
    """
    if any(step is None for step in steps):
        return None
    size = prompt_length + len(steps) - 1
    heads = steps[0].shape[1]
    matrix = np.zeros((heads, size, size), dtype=np.float32)
    matrix[:, :prompt_length, :prompt_length] = steps[0][0].float().cpu().numpy()
    for step_index, step in enumerate(steps[1:], start=1):
        row = prompt_length + step_index - 1
        key_count = step.shape[-1]
        if step.shape[2] != 1 or not 1 <= key_count <= row + 1:
            raise CaptureError(
                f"Generation step {step_index} recorded weights of shape {tuple(step.shape)}, expected one query "
                f"over at most {row + 1} keys. The model did not use its key/value cache one token at a time."
            )
        # A sliding-window cache keeps only the latest keys, so a short step ends at the current token.
        matrix[:, row, row + 1 - key_count : row + 1] = step[0, :, 0].float().cpu().numpy()
    return matrix


def capture_generation(
    loaded: LoadedModel,
    prompt: str,
    max_new_tokens: int,
    *,
    max_tokens: int | None = None,
) -> CaptureResult:
    """Generate up to ``max_new_tokens`` tokens greedily from a decoder and capture what each step attended to.

    ``tokens`` contains the prompt plus every generated token but the last; ``prompt_length``
    marks where the prompt ends, and ``generated_tokens`` lists all generated tokens,
    including the last, which has no row. Generation stops early at the end-of-text token.
    """
    from .capture import _encode, _labels, manifest_for, model_inputs, validate_text

    validate_text(prompt)
    validate_new_tokens(max_new_tokens)
    if loaded.is_encoder_decoder or not loaded.is_causal:
        raise InputError("Generation with a step view applies to decoder models (GPT-2, Llama, ...).")
    limit = min(max_tokens or loaded.max_tokens, loaded.max_tokens) - max_new_tokens
    if limit < 2:
        raise InputError(
            f"Generating {max_new_tokens} tokens leaves no room for the prompt within the limit of "
            f"{loaded.max_tokens} tokens. Generate fewer tokens."
        )
    encoding, dropped = _encode(loaded, prompt, None, limit)
    prompt_raw, prompt_labels = _labels(loaded, prompt, None, encoding)
    prompt_ids = encoding["input_ids"][0].tolist()
    prompt_length = len(prompt_ids)

    targets = find_attention_modules(loaded.model, loaded.family)[SELF]
    paths = [path for path, _ in targets]
    recorder = AttentionRecorder(targets, loaded.family.weights_index)
    started = time.perf_counter()
    with loaded.lock, recorder.attached(), torch.inference_mode(), forward_errors(loaded):
        ensure_eager(loaded)
        output = loaded.model.generate(
            **model_inputs(loaded, encoding), **greedy_settings(loaded.tokenizer, max_new_tokens)
        )
    new_ids = output[0, prompt_length:].tolist()
    if not new_ids:
        raise CaptureError("The model generated no tokens; it ended the text right after the prompt.")

    steps_by_layer = [recorder.weights[path] for path in paths]
    first_calls = [steps[0] if steps else None for steps in steps_by_layer]
    check_layers(first_calls, paths, SELF)
    layers = []
    for path, steps in zip(paths, steps_by_layer):
        # The forward pass that produced the last token is the only one with no row to read.
        matrix = assemble_steps(steps[: len(new_ids)], prompt_length)
        if matrix is None:
            raise CaptureError(f"{path} recorded no weights for some generation steps; the capture is incomplete.")
        layers.append(matrix)
    attentions = np.stack(layers)
    num_tokens = prompt_length + len(new_ids) - 1
    check_attention(
        attentions,
        heads=int(loaded.config.num_attention_heads),
        queries=num_tokens,
        keys=num_tokens,
        causal=True,
        role=SELF,
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.info(
        "Generated %d tokens from %s with a %d-token prompt in %.0f ms", len(new_ids), loaded.source, prompt_length, elapsed_ms
    )

    new_labels = generated_labels(loaded.tokenizer, prompt_ids, new_ids)
    new_raw = loaded.tokenizer.convert_ids_to_tokens(new_ids)
    special_ids = set(loaded.tokenizer.all_special_ids)
    prompt_special = [bool(flag) for flag in encoding["special_tokens_mask"][0].tolist()]
    all_ids = prompt_ids + new_ids
    generated_text = loaded.tokenizer.decode(new_ids)
    return CaptureResult(
        tokens=tuple(prompt_labels + new_labels[:-1]),
        raw_tokens=tuple(prompt_raw + new_raw[:-1]),
        token_ids=tuple(all_ids[:num_tokens]),
        attentions=attentions,
        layers=tuple(range(len(layers))),
        special_mask=tuple(prompt_special + [token_id in special_ids for token_id in new_ids[:-1]]),
        is_causal=True,
        manifest=manifest_for(
            loaded,
            prompt,
            num_tokens,
            dropped_tokens=dropped,
            generation="greedy",
            max_new_tokens=max_new_tokens,
            prompt_tokens=prompt_length,
            generated_text=generated_text,
        ),
        kv_groups=kv_groups_for(loaded.config),
        dropped_tokens=dropped,
        prompt_length=prompt_length,
        generated_tokens=tuple(new_labels),
    )
