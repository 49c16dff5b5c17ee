"""Where each architecture family keeps its attention modules, and how to read their weights."""

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


FAMILIES: dict[str, FamilySpec] = {
    "bert": FamilySpec("BERT", ("BertSelfAttention",)),
    "roberta": FamilySpec("RoBERTa", ("RobertaSelfAttention",)),
    "gpt2": FamilySpec("GPT-2", ("GPT2Attention",), causal=True),
    "llama": FamilySpec("Llama", ("LlamaAttention",), causal=True),
    "qwen2": FamilySpec("Qwen2", ("Qwen2Attention",), causal=True),
    "mistral": FamilySpec("Mistral", ("MistralAttention",), causal=True),
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
    recorded = {}
    for candidate in (model, getattr(model, "base_model", None)):
        recorded = getattr(type(candidate), "_can_record_outputs", None) or {}
        if recorded:
            break
    self_target = _recorder_target(recorded.get("attentions"))
    if self_target is None:
        return None
    cross_target = _recorder_target(recorded.get("cross_attentions"))
    cross = (cross_target[0].__name__,) if cross_target else ()
    causal = bool(getattr(model.config, "is_decoder", False)) or _is_causal_lm(model)
    return FamilySpec(model_type, (self_target[0].__name__,), cross, self_target[1], causal)


def _is_causal_lm(model: nn.Module) -> bool:
    architectures = getattr(model.config, "architectures", None) or []
    return any(name.endswith("ForCausalLM") or name.endswith("LMHeadModel") for name in architectures)


def family_for(model: nn.Module) -> FamilySpec:
    """Return the family spec for a loaded model, or raise CaptureError for an unknown one."""
    model_type = getattr(model.config, "model_type", "")
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    spec = spec_from_transformers(model, model_type)
    if spec is None:
        raise CaptureError(
            f"Unknown architecture '{model_type}': Attention Atlas does not know where its attention "
            "modules are, and transformers lists none for it. Load a supported family "
            f"({', '.join(sorted(FAMILIES))}) or a model whose transformers class records attentions."
        )
    logger.info("Using transformers' own attention classes for model type %s: %s", model_type, spec)
    return spec


def find_attention_modules(model: nn.Module, spec: FamilySpec) -> dict[str, list[tuple[str, nn.Module]]]:
    """Group the model's attention modules by role, each list in layer order.

    Roles are ``attentions`` for encoder-only and decoder-only models, and
    ``encoder_attentions``, ``decoder_attentions`` and ``cross_attentions`` for
    encoder-decoders, told apart by the module path.
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
