"""Attention module classes of each architecture family, and the rule for reading their weights."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from torch import nn

from .errors import CaptureError

logger = logging.getLogger(__name__)

SELF = "attentions"
ENCODER = "encoder_attentions"
DECODER = "decoder_attentions"
CROSS = "cross_attentions"

ENCODER_ONLY = "encoder"
DECODER_ONLY = "decoder"
ENCODER_DECODER = "encoder-decoder"


@dataclass(frozen=True)
class FamilySpec:
    """The attention modules of one architecture family.

    ``self_attention`` and ``cross_attention`` list module class names. ``weights_index`` is
    the position of the attention weights in each module's output tuple (T5 returns the
    position bias at index 1 and the weights last, so reading index 1 there is a silent bug).
    """

    name: str
    self_attention: tuple[str, ...]
    cross_attention: tuple[str, ...] = ()
    weights_index: int = 1
    causal: bool = False
    # True when one module object serves several layers (ALBERT shares its layer weights), so
    # layers are read from the calls in execution order rather than one module per layer.
    shares_layers: bool = False


FAMILIES: dict[str, FamilySpec] = {
    # Encoders.
    "bert": FamilySpec("BERT", ("BertSelfAttention",)),
    "roberta": FamilySpec("RoBERTa", ("RobertaSelfAttention",)),
    "xlm-roberta": FamilySpec("XLM-RoBERTa", ("XLMRobertaSelfAttention",)),
    "distilbert": FamilySpec("DistilBERT", ("DistilBertSelfAttention",)),
    "albert": FamilySpec("ALBERT", ("AlbertAttention",), shares_layers=True),
    "electra": FamilySpec("ELECTRA", ("ElectraSelfAttention",)),
    # Decoders. GPT-Neo wraps GPTNeoSelfAttention in GPTNeoAttention; its "local" layers mask
    # keys further back than `window_size`, so their rows are dense T x T with zeros there.
    "gpt2": FamilySpec("GPT-2", ("GPT2Attention",), causal=True),
    "gpt_neo": FamilySpec("GPT-Neo", ("GPTNeoSelfAttention",), causal=True),
    "llama": FamilySpec("Llama", ("LlamaAttention",), causal=True),
    "qwen2": FamilySpec("Qwen2", ("Qwen2Attention",), causal=True),
    "qwen3": FamilySpec("Qwen3", ("Qwen3Attention",), causal=True),
    "mistral": FamilySpec("Mistral", ("MistralAttention",), causal=True),
    "gemma": FamilySpec("Gemma", ("GemmaAttention",), causal=True),
    "gemma2": FamilySpec("Gemma 2", ("Gemma2Attention",), causal=True),
    "phi": FamilySpec("Phi", ("PhiAttention",), causal=True),
    "phi3": FamilySpec("Phi-3", ("Phi3Attention",), causal=True),
    # Encoder-decoders: one class serves encoder self, decoder self and cross attention, and
    # the module path distinguishes them. T5Attention returns (output, position_bias, weights), and the
    # position bias at index 1 has the weights' shape, so reading index 1 would be a silent bug.
    "bart": FamilySpec("BART", ("BartAttention",)),
    "mbart": FamilySpec("mBART", ("MBartAttention",)),
    "marian": FamilySpec("Marian", ("MarianAttention",)),
    "t5": FamilySpec("T5", ("T5Attention",), weights_index=2),
    "mt5": FamilySpec("mT5", ("MT5Attention",), weights_index=2),
}

# Families whose attention is not a dense query x key matrix. Their weights are never drawn
# against token labels, because a band indexed by offset would put every weight on the wrong key.
UNSUPPORTED_FAMILIES: dict[str, str] = {
    "longformer": "Longformer returns banded sliding-window attention (one column per offset in the window, plus global tokens), not a token x token matrix",
    "led": "LED (Longformer encoder-decoder) returns banded sliding-window attention, not a token x token matrix",
    "big_bird": "BigBird's block-sparse attention returns no per-token weights",
    "bigbird_pegasus": "BigBird-Pegasus's block-sparse attention returns no per-token weights",
    "reformer": "Reformer's LSH attention attends within hashed buckets and returns no token x token matrix",
}


def _recorder_target(entry) -> tuple[type, int] | None:
    """Read a class and an output index from one `_can_record_outputs` entry of transformers."""
    if isinstance(entry, type):
        return entry, 1
    target = getattr(entry, "target_class", None)
    if isinstance(target, type):
        return target, getattr(entry, "index", 1)
    return None


def spec_from_transformers(model: nn.Module, model_type: str) -> FamilySpec | None:
    """Build a spec from the attention classes that transformers itself records outputs from."""
    # The table sits on the top-level class for most models, but on the encoder and decoder
    # submodules for BART-like models, so take the first class in module order that has one.
    self_target = cross_target = None
    seen: set[type] = set()
    for module in model.modules():
        if type(module) in seen:
            continue
        seen.add(type(module))
        recorded = getattr(type(module), "_can_record_outputs", None) or {}
        self_target = self_target or _recorder_target(recorded.get("attentions"))
        cross_target = cross_target or _recorder_target(recorded.get("cross_attentions"))
    if self_target is None:
        return None
    # One class for both roles (BART) leaves the module path to tell cross attention apart.
    cross = (cross_target[0].__name__,) if cross_target and cross_target[0] is not self_target[0] else ()
    causal = not getattr(model.config, "is_encoder_decoder", False) and (
        bool(getattr(model.config, "is_decoder", False)) or _is_causal_lm(model) or _has_causal_attention(model, self_target[0])
    )
    return FamilySpec(model_type, (self_target[0].__name__,), cross, self_target[1], causal)


def _has_causal_attention(model: nn.Module, attention_class: type) -> bool:
    """Return True when the model's attention modules declare themselves causal, as transformers' decoders do."""
    return any(isinstance(module, attention_class) and getattr(module, "is_causal", False) is True for module in model.modules())


def _is_causal_lm(model: nn.Module) -> bool:
    architectures = [*(getattr(model.config, "architectures", None) or []), type(model).__name__]
    return any(name.endswith("ForCausalLM") or name.endswith("LMHeadModel") for name in architectures)


def check_supported(config) -> None:
    """Raise CaptureError for a model type whose attention cannot be drawn, before its weights load."""
    model_type = getattr(config, "model_type", "")
    if model_type in UNSUPPORTED_FAMILIES:
        raise CaptureError(
            f"Model type '{model_type}' is not supported: {UNSUPPORTED_FAMILIES[model_type]}. "
            "Load a model with dense attention (for example BERT, RoBERTa, GPT-2, Llama or T5)."
        )


def family_for(model: nn.Module) -> FamilySpec:
    """Return the family spec for a loaded model, or raise CaptureError for an unknown or unsupported one."""
    model_type = getattr(model.config, "model_type", "")
    check_supported(model.config)
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    spec = spec_from_transformers(model, model_type)
    if spec is None:
        raise CaptureError(
            f"Unknown architecture '{model_type or type(model).__name__}': it has no attention modules that "
            "Attention Atlas or transformers can name, so it may not be a Transformer. Load a supported "
            f"family ({', '.join(sorted(FAMILIES))}) or a model whose transformers class records attentions."
        )
    logger.info("Using transformers' own attention classes for model type %s: %s", model_type, spec)
    return spec


def find_attention_modules(model: nn.Module, spec: FamilySpec) -> dict[str, list[tuple[str, nn.Module]]]:
    """Group the model's attention modules by role, each list in layer order.

    Roles are ``attentions`` for encoder-only and decoder-only models, and
    ``encoder_attentions``, ``decoder_attentions`` and ``cross_attentions`` for
    encoder-decoders, distinguished by the module path.
    """
    is_encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
    roles: dict[str, list[tuple[str, nn.Module]]] = {}
    for path, module in model.named_modules():
        class_name = type(module).__name__
        if class_name in spec.cross_attention or (is_encoder_decoder and _is_cross_path(path, class_name, spec)):
            role = CROSS
        elif class_name in spec.self_attention:
            role = _self_role(path) if is_encoder_decoder else SELF
        else:
            continue
        roles.setdefault(role, []).append((path, module))
    if not roles:
        raise CaptureError(
            f"No attention modules of class {', '.join(spec.self_attention)} were found in this "
            f"{spec.name} model. The checkpoint may use a custom class; load it with a supported family."
        )
    return roles


def _is_cross_path(path: str, class_name: str, spec: FamilySpec) -> bool:
    if class_name not in spec.self_attention:
        return False
    return any(marker in path for marker in ("encoder_attn", "EncDecAttention", "crossattention"))


def _self_role(path: str) -> str:
    return DECODER if "decoder" in path else ENCODER


def model_kind(config) -> str:
    """Return ``encoder``, ``decoder`` or ``encoder-decoder`` for a model config."""
    if getattr(config, "is_encoder_decoder", False):
        return ENCODER_DECODER
    model_type = getattr(config, "model_type", "")
    if (model_type in FAMILIES and FAMILIES[model_type].causal) or getattr(config, "is_decoder", False):
        return DECODER_ONLY
    return ENCODER_ONLY


def kv_groups_for(config) -> tuple[int, ...] | None:
    """Return the key/value head group of every query head, or None for plain multi-head attention.

    With grouped-query attention, query heads ``g * size`` to ``(g + 1) * size - 1`` share
    key/value head ``g``, where ``size = num_attention_heads // num_key_value_heads``.
    Multi-query attention is the case of one key/value head.
    """
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None)
    if not isinstance(heads, int) or not isinstance(kv_heads, int) or kv_heads in (0, heads):
        return None
    if heads % kv_heads:
        raise CaptureError(
            f"{heads} query heads cannot be split evenly over {kv_heads} key/value heads; the config is invalid."
        )
    group_size = heads // kv_heads
    return tuple(head // group_size for head in range(heads))
