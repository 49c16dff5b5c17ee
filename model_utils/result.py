"""The frozen result of one capture: tokens plus attention arrays."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError


def _read_only(array: np.ndarray | None) -> np.ndarray | None:
    if array is None:
        return None
    array = np.ascontiguousarray(array, dtype=np.float32)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class CaptureResult:
    """Attention captured from one forward pass.

    Arrays are float32 and shaped ``[layer, head, query_pos, key_pos]``; row ``q`` of a
    head is the distribution of query token ``q`` over the key tokens.
    """

    tokens: tuple[str, ...]
    raw_tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    attentions: np.ndarray
    layers: tuple[int, ...]
    special_mask: tuple[bool, ...]
    is_causal: bool
    manifest: dict = field(default_factory=dict)
    # Sentence pairs: the segment (0 for text A, 1 for text B) of every token.
    segment_ids: tuple[int, ...] | None = None
    # Encoder-decoder models: target tokens and the decoder's two kinds of attention.
    target_tokens: tuple[str, ...] | None = None
    decoder_attentions: np.ndarray | None = None
    cross_attentions: np.ndarray | None = None
    # Grouped-query attention: the key/value group of every query head, per layer.
    kv_groups: tuple[int, ...] | None = None
    # Tokens the tokenizer dropped because the text was longer than the model allows.
    dropped_tokens: int = 0
    # Generation: the number of prompt tokens (tokens after them were generated), and the
    # labels of every generated token, including the last one, which has no row.
    prompt_length: int | None = None
    # Encoder-decoders whose decoder has another layer count (distilled models such as
    # distilbart-12-6): the layer indexes of decoder_attentions and cross_attentions.
    decoder_layers: tuple[int, ...] | None = None
    generated_tokens: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("attentions", "decoder_attentions", "cross_attentions"):
            object.__setattr__(self, name, _read_only(getattr(self, name)))

    @property
    def num_layers(self) -> int:
        return int(self.attentions.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.attentions.shape[1])

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    def layer(self, layer_index: int) -> np.ndarray:
        """Return one layer's weights ``[head, query, key]`` by model layer index.

        Raises InputError naming the captured layers when ``layer_index`` was not captured.
        """
        if layer_index not in self.layers:
            raise InputError(
                f"Layer {layer_index} was not captured; this result contains layers {list(self.layers)}. "
                "Pick one of those, or capture again with layers=None for all layers."
            )
        return self.attentions[self.layers.index(layer_index)]

    def replace(self, **changes) -> "CaptureResult":
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)
