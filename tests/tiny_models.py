"""Tiny random-weight models built from configs, and tokenizers trained in memory: no download."""

from __future__ import annotations

import functools

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from model_utils import LoadedModel, wrap_model
from model_utils.loading import embedded_model_path

TRAINING_TEXT = [
    "The cat sat on the mat because it was tired.",
    "A dog ran in the park and the cat watched it.",
    "Attention weights show where each token looks.",
]
TINY_SIZES = dict(hidden_size=32, num_attention_heads=4, num_hidden_layers=2, intermediate_size=64)


@functools.lru_cache(maxsize=None)
def byte_level_tokenizer() -> PreTrainedTokenizerFast:
    """Train a small byte-level BPE tokenizer (the GPT-2 kind) on a few sentences."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<|endoftext|>", "<pad>"]
    )
    tokenizer.train_from_iterator(TRAINING_TEXT * 5, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<pad>",
        model_max_length=2048,
    )


@functools.lru_cache(maxsize=None)
def wordpiece_tokenizer():
    """Return the embedded model's uncased WordPiece tokenizer."""
    return AutoTokenizer.from_pretrained(embedded_model_path())


def build(model_type: str, tokenizer, *, causal: bool = False, seed: int = 0, **overrides) -> LoadedModel:
    """Build a random-weight model of ``model_type`` sized to ``tokenizer`` and wrap it for capture."""
    torch.manual_seed(seed)
    config = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), **{**TINY_SIZES, **overrides})
    config._attn_implementation = "eager"
    model_class = AutoModelForCausalLM if causal else AutoModel
    model = model_class.from_config(config, attn_implementation="eager")
    return wrap_model(model, tokenizer, f"tiny-{model_type}")


def tiny_bert(**overrides) -> LoadedModel:
    return build("bert", wordpiece_tokenizer(), **overrides)


def tiny_gpt2(**overrides) -> LoadedModel:
    sizes = dict(n_embd=32, n_head=4, n_layer=2, n_positions=2048)
    return build("gpt2", byte_level_tokenizer(), causal=True, **{**sizes, **overrides})


def tiny_llama(num_key_value_heads: int = 2, **overrides) -> LoadedModel:
    """Build a Llama with grouped-query attention: 4 query heads share ``num_key_value_heads`` key/value heads."""
    return build("llama", byte_level_tokenizer(), causal=True, num_key_value_heads=num_key_value_heads, **overrides)
