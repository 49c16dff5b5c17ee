"""Tiny random-weight models built from configs, and tokenizers trained in memory: no download."""

from __future__ import annotations

import functools

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedTokenizerFast,
)

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
    model = build_model(model_type, tokenizer, causal=causal, seed=seed, **overrides)
    return wrap_model(model, tokenizer, f"tiny-{model_type}")


def build_model(
    model_type: str, tokenizer, *, causal: bool = False, seed: int = 0, attn_implementation: str = "eager", **overrides
):
    """Build the bare random-weight transformers model, before any wrapping."""
    torch.manual_seed(seed)
    config = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), **{**TINY_SIZES, **overrides})
    config._attn_implementation = attn_implementation
    if getattr(config, "is_encoder_decoder", False):
        model_class = AutoModelForSeq2SeqLM
    else:
        model_class = AutoModelForCausalLM if causal else AutoModel
    return model_class.from_config(config, attn_implementation=attn_implementation).eval()


def tiny_bert(**overrides) -> LoadedModel:
    return build("bert", wordpiece_tokenizer(), **overrides)


def tiny_gpt2(**overrides) -> LoadedModel:
    sizes = dict(n_embd=32, n_head=4, n_layer=2, n_positions=2048)
    return build("gpt2", byte_level_tokenizer(), causal=True, **{**sizes, **overrides})


def tiny_llama(num_key_value_heads: int = 2, **overrides) -> LoadedModel:
    """Build a Llama with grouped-query attention: 4 query heads share ``num_key_value_heads`` key/value heads."""
    return build("llama", byte_level_tokenizer(), causal=True, num_key_value_heads=num_key_value_heads, **overrides)


@functools.lru_cache(maxsize=None)
def roberta_tokenizer() -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer that frames text as ``<s> A </s></s> B </s>``, as RoBERTa and BART do."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<s>", "<pad>", "</s>", "<unk>"]
    )
    tokenizer.train_from_iterator(TRAINING_TEXT * 5, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=512,
    )


@functools.lru_cache(maxsize=None)
def sentencepiece_tokenizer() -> PreTrainedTokenizerFast:
    """Train a Unigram tokenizer with SentencePiece's ``▁`` word marker that ends text with ``</s>``, as T5 and Marian do."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=200, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    tokenizer.train_from_iterator(TRAINING_TEXT * 5 + ["Das Haus ist klein. Die Katze sitzt auf der Matte."] * 5, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", model_max_length=512
    )


# Token ids that the encoder-decoder configs share with the two tokenizers above.
ROBERTA_SPECIAL_IDS = dict(bos_token_id=0, pad_token_id=1, eos_token_id=2)
SENTENCEPIECE_SPECIAL_IDS = dict(pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
SEQ2SEQ_SIZES = dict(
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    max_position_embeddings=512,
)


def tiny_roberta(**overrides) -> LoadedModel:
    sizes = dict(type_vocab_size=1, max_position_embeddings=520, **ROBERTA_SPECIAL_IDS)
    return build("roberta", roberta_tokenizer(), **{**sizes, **overrides})


def tiny_distilbert(**overrides) -> LoadedModel:
    sizes = dict(dim=32, n_heads=4, n_layers=2, hidden_dim=64)
    return build("distilbert", wordpiece_tokenizer(), **{**sizes, **overrides})


def tiny_albert(**overrides) -> LoadedModel:
    return build("albert", wordpiece_tokenizer(), **{"embedding_size": 16, **overrides})


def tiny_electra(**overrides) -> LoadedModel:
    return build("electra", wordpiece_tokenizer(), **{"embedding_size": 16, **overrides})


def tiny_gpt_neo(**overrides) -> LoadedModel:
    """Build a GPT-Neo whose second layer is "local": keys more than ``window_size`` back are masked."""
    sizes = dict(
        num_heads=4, num_layers=2, attention_types=[[["global", "local"], 1]], window_size=4, max_position_embeddings=2048
    )
    return build("gpt_neo", byte_level_tokenizer(), causal=True, **{**sizes, **overrides})


def tiny_qwen2(num_key_value_heads: int = 2, **overrides) -> LoadedModel:
    return build("qwen2", byte_level_tokenizer(), causal=True, num_key_value_heads=num_key_value_heads, **overrides)


def tiny_mistral(num_key_value_heads: int = 1, **overrides) -> LoadedModel:
    """Build a Mistral with multi-query attention (one key/value head) and a 4-token sliding window."""
    sizes = dict(num_key_value_heads=num_key_value_heads, sliding_window=4, head_dim=8)
    return build("mistral", byte_level_tokenizer(), causal=True, **{**sizes, **overrides})


def tiny_gemma(**overrides) -> LoadedModel:
    sizes = dict(num_key_value_heads=1, head_dim=8)
    return build("gemma", byte_level_tokenizer(), causal=True, **{**sizes, **overrides})


def tiny_phi(**overrides) -> LoadedModel:
    return build("phi", byte_level_tokenizer(), causal=True, **overrides)


def tiny_xlm_roberta(**overrides) -> LoadedModel:
    sizes = dict(type_vocab_size=1, max_position_embeddings=520, **ROBERTA_SPECIAL_IDS)
    return build("xlm-roberta", roberta_tokenizer(), **{**sizes, **overrides})


def tiny_qwen3(**overrides) -> LoadedModel:
    sizes = dict(num_key_value_heads=2, head_dim=8)
    return build("qwen3", byte_level_tokenizer(), causal=True, **{**sizes, **overrides})


def tiny_gemma2(**overrides) -> LoadedModel:
    """Build a Gemma 2, whose layers alternate sliding-window and global attention and soft-cap scores."""
    sizes = dict(num_key_value_heads=1, head_dim=8, sliding_window=4)
    return build("gemma2", byte_level_tokenizer(), causal=True, **{**sizes, **overrides})


def tiny_phi3(**overrides) -> LoadedModel:
    sizes = dict(num_key_value_heads=2, pad_token_id=1)
    return build("phi3", byte_level_tokenizer(), causal=True, **{**sizes, **overrides})


def tiny_bart(**overrides) -> LoadedModel:
    sizes = dict(**SEQ2SEQ_SIZES, **ROBERTA_SPECIAL_IDS, decoder_start_token_id=2, forced_eos_token_id=None)
    return build("bart", roberta_tokenizer(), **{**sizes, **overrides})


def tiny_mbart(**overrides) -> LoadedModel:
    sizes = dict(**SEQ2SEQ_SIZES, **ROBERTA_SPECIAL_IDS, decoder_start_token_id=2, forced_eos_token_id=None)
    return build("mbart", roberta_tokenizer(), **{**sizes, **overrides})


def tiny_marian(**overrides) -> LoadedModel:
    sizes = dict(**SEQ2SEQ_SIZES, **SENTENCEPIECE_SPECIAL_IDS)
    return build("marian", sentencepiece_tokenizer(), **{**sizes, **overrides})


def tiny_t5(**overrides) -> LoadedModel:
    sizes = dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4, **SENTENCEPIECE_SPECIAL_IDS)
    return build("t5", sentencepiece_tokenizer(), **{**sizes, **overrides})


def tiny_mt5(**overrides) -> LoadedModel:
    sizes = dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4, **SENTENCEPIECE_SPECIAL_IDS)
    return build("mt5", sentencepiece_tokenizer(), **{**sizes, **overrides})


ENCODER_BUILDERS = {
    "bert": tiny_bert,
    "roberta": tiny_roberta,
    "distilbert": tiny_distilbert,
    "albert": tiny_albert,
    "electra": tiny_electra,
    "xlm-roberta": tiny_xlm_roberta,
}
DECODER_BUILDERS = {
    "gpt2": tiny_gpt2,
    "gpt_neo": tiny_gpt_neo,
    "llama": tiny_llama,
    "qwen2": tiny_qwen2,
    "mistral": tiny_mistral,
    "gemma": tiny_gemma,
    "phi": tiny_phi,
    "qwen3": tiny_qwen3,
    "gemma2": tiny_gemma2,
    "phi3": tiny_phi3,
}
SEQ2SEQ_BUILDERS = {
    "bart": tiny_bart,
    "t5": tiny_t5,
    "marian": tiny_marian,
    "mbart": tiny_mbart,
    "mt5": tiny_mt5,
}
ALL_BUILDERS = {**ENCODER_BUILDERS, **DECODER_BUILDERS, **SEQ2SEQ_BUILDERS}


def save_tiny_model(loaded: LoadedModel, folder) -> str:
    """Save a tiny model and its tokenizer to ``folder`` so it loads by path like any local model."""
    loaded.model.config.architectures = [type(loaded.model).__name__]
    loaded.model.save_pretrained(folder)
    loaded.tokenizer.save_pretrained(folder)
    return str(folder)
