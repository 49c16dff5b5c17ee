"""Check a model source against the server's policy before transformers reads anything from it.

A source is the embedded model, a Hugging Face hub id (``owner/name``) or a local folder.
The checks here read only the text the user typed, the folder's file names and its
``config.json``. No model code runs and no weights file is opened. What they cannot see from
outside (a hub model's files) is enforced through the arguments given to ``from_pretrained``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .errors import ModelLoadError

logger = logging.getLogger(__name__)

# Hub ids: an optional owner and a name of letters, digits, '-', '_' and '.', at most 96 characters.
HUB_ID_PATTERN = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$")
HUB_ID_MAX_LENGTH = 96
SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
PATH_PREFIXES = ("/", "./", "../", "~", "\\")
HUB_PROBE_CACHE_SECONDS = 60.0
CLIPPED_MAX_CHARACTERS = 120


@dataclass(frozen=True)
class SourcePolicy:
    """Limits on the models a server loads. The defaults allow everything except remote code."""

    allowed_models: tuple[str, ...] = ()
    model_roots: tuple[str, ...] = ()
    trust_remote_code: bool = False
    allow_pickle_weights: bool = True
    hub_offline: bool = False
    hub_timeout_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings) -> "SourcePolicy":
        """Build the policy from a ``settings.Settings`` object (or anything with the same fields)."""
        return cls(
            allowed_models=tuple(settings.allowed_models),
            model_roots=tuple(settings.model_roots),
            trust_remote_code=settings.trust_remote_code,
            allow_pickle_weights=settings.allow_pickle_weights,
            hub_offline=settings.hub_offline,
            hub_timeout_seconds=settings.hub_timeout_seconds,
        )


@dataclass(frozen=True)
class CheckedSource:
    """A source that passed the policy, with the arguments that keep ``from_pretrained`` inside it."""

    target: str
    shown_name: str
    is_local: bool
    use_safetensors: bool | None
    local_files_only: bool
    trust_remote_code: bool


def check_source(text: str, policy: SourcePolicy) -> CheckedSource:
    """Check a typed model source and return how to load it, or raise ModelLoadError with the value and the fix."""
    if _looks_like_path(text):
        folder = check_folder(text, policy)
        return _checked(str(folder), text, policy, is_local=True, pickle_only=_weights_are_pickle_only(folder))
    check_hub_id(text, policy)
    offline = policy.hub_offline or hub_offline_from_environment() or not hub_reachable(policy.hub_timeout_seconds)
    return _checked(text, text, policy, is_local=False, local_files_only=offline)


def embedded_source(target: str, shown_name: str) -> CheckedSource:
    """Return how to load the embedded model: allowed under every policy, safetensors from its package folder."""
    return CheckedSource(
        target=target, shown_name=shown_name, is_local=True, use_safetensors=True, local_files_only=True, trust_remote_code=False
    )


def _checked(target: str, shown_name: str, policy: SourcePolicy, *, is_local: bool, pickle_only: bool = False, local_files_only: bool = False) -> CheckedSource:
    # use_safetensors=True makes transformers reject pickle weights, also on the hub where we cannot list files.
    if not policy.allow_pickle_weights:
        use_safetensors = True
    else:
        use_safetensors = False if pickle_only else None
    return CheckedSource(
        target=target,
        shown_name=shown_name,
        is_local=is_local,
        use_safetensors=use_safetensors,
        local_files_only=local_files_only or is_local,
        trust_remote_code=policy.trust_remote_code,
    )


def _looks_like_path(text: str) -> bool:
    if text.startswith(PATH_PREFIXES):
        return True
    try:
        return Path(text).expanduser().exists()
    except (OSError, ValueError):  # a name too long for the file system, or a NUL character
        return False


def clipped(value: str, limit: int = CLIPPED_MAX_CHARACTERS) -> str:
    """Return ``value`` cut to ``limit`` characters for a message, marking the cut."""
    return value if len(value) <= limit else f"{value[:limit]}… ({len(value):,} characters)"


def check_hub_id(model_id: str, policy: SourcePolicy) -> None:
    """Raise ModelLoadError for a malformed hub id or one missing from a non-empty allow-list."""
    if len(model_id) > HUB_ID_MAX_LENGTH or not HUB_ID_PATTERN.match(model_id) or ".." in model_id or "--" in model_id:
        raise ModelLoadError(
            f"Invalid model id '{clipped(model_id)}': a hub id is owner/name made of letters, digits, '-', '_' and '.', "
            f"at most {HUB_ID_MAX_LENGTH} characters (for example google-bert/bert-base-uncased). "
            "For a local model, give the path of an existing folder."
        )
    if policy.allowed_models and model_id not in policy.allowed_models:
        raise ModelLoadError(
            f"Model '{model_id}' is not on this server's list of allowed models. "
            f"Choose one of: all-MiniLM-L6-v2, {', '.join(policy.allowed_models)}; or ask the operator to add it to allowed_models."
        )


def check_folder(text: str, policy: SourcePolicy) -> Path:
    """Return the resolved folder of a local model, or raise ModelLoadError naming what is missing.

    The folder must be allowed (under a model root, or listed), hold ``config.json`` with a
    ``model_type``, hold weights, and need no remote code unless the policy trusts it.
    """
    folder = Path(text).expanduser().resolve()
    _check_folder_allowed(text, folder, policy)
    if not folder.exists():
        raise ModelLoadError(f"Folder '{clipped(text)}' not found. Check the path, or give a hub id such as owner/name.")
    if not folder.is_dir():
        raise ModelLoadError(f"'{clipped(text)}' is a file. Give the folder that contains config.json, not a file inside it.")

    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(
            f"Folder '{clipped(text)}' has no config.json, so it is not a Hugging Face Transformers checkpoint. "
            "Save the model with save_pretrained() and load that folder."
        )
    config = _read_config(text, config_path)
    _check_remote_code(text, folder, config, policy)
    _check_weights(text, folder, policy)
    return folder


def _check_folder_allowed(text: str, folder: Path, policy: SourcePolicy) -> None:
    if not policy.model_roots and not policy.allowed_models:
        return
    roots = [Path(root).expanduser().resolve() for root in policy.model_roots]
    if any(folder.is_relative_to(root) for root in roots):
        return
    listed = [Path(entry).expanduser().resolve() for entry in policy.allowed_models if _looks_like_path(entry)]
    if folder in listed:
        return
    allowed = ", ".join(policy.model_roots) if policy.model_roots else "none"
    raise ModelLoadError(
        f"Folder '{clipped(text)}' is outside the folders this server loads models from ({allowed}). "
        "Move the model under one of them, or ask the operator to add its folder to model_roots."
    )


def _read_config(text: str, config_path: Path) -> dict:
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"config.json in '{clipped(text)}' could not be read: {error}. Save the model again with save_pretrained().") from error
    if not isinstance(config, dict) or not config.get("model_type"):
        raise ModelLoadError(
            f"config.json in '{clipped(text)}' has no model_type, so it is not a Transformers model config. "
            "Save the model with save_pretrained() and load that folder."
        )
    return config


def _check_remote_code(text: str, folder: Path, config: dict, policy: SourcePolicy) -> None:
    """Reject a model that needs its own Python code (an ``auto_map`` entry) unless the policy trusts it."""
    if policy.trust_remote_code:
        return
    auto_map = dict(config.get("auto_map") or {})
    tokenizer_config = folder / "tokenizer_config.json"
    if tokenizer_config.is_file():
        try:
            auto_map.update(json.loads(tokenizer_config.read_text(encoding="utf-8")).get("auto_map") or {})
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            pass  # transformers reports a broken tokenizer config when it loads it
    if not auto_map:
        return
    classes = ", ".join(sorted(str(value) for value in auto_map.values()))
    raise ModelLoadError(
        f"Model '{clipped(text)}' needs its own Python code ({classes}), and this server does not run a model's code. "
        "Pick a model that transformers supports without it, or ask the operator to set trust_remote_code = true "
        "if every user of this server is trusted."
    )


def _weight_files(folder: Path) -> tuple[list[str], list[str]]:
    names = [path.name for path in folder.iterdir() if path.is_file()]
    safetensors = sorted(name for name in names if name.endswith(SAFETENSORS_SUFFIXES))
    pickles = sorted(name for name in names if name.endswith(PICKLE_SUFFIXES) and name != "training_args.bin")
    return safetensors, pickles


def _weights_are_pickle_only(folder: Path) -> bool:
    safetensors, pickles = _weight_files(folder)
    return bool(pickles) and not safetensors


def _check_weights(text: str, folder: Path, policy: SourcePolicy) -> None:
    safetensors, pickles = _weight_files(folder)
    if not safetensors and not pickles:
        raise ModelLoadError(
            f"Folder '{clipped(text)}' has no weights: expected model.safetensors (or pytorch_model.bin) beside config.json. "
            "Save the model with save_pretrained() into it."
        )
    if not safetensors and not policy.allow_pickle_weights:
        raise ModelLoadError(
            f"Folder '{clipped(text)}' has weights only as pickle files ({', '.join(pickles)}). Pickle files can run code when "
            "they are opened, so this server loads safetensors only. Convert them by loading the model where the file "
            "is trusted and calling save_pretrained(folder), which writes model.safetensors, or ask the operator to set "
            "allow_pickle_weights = true."
        )


def hub_offline_from_environment() -> bool:
    """Return whether HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE turns on offline mode."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


_probe_lock = threading.Lock()
_probe_cache: dict[str, tuple[float, bool]] = {}


def hub_reachable(timeout_seconds: float) -> bool:
    """Return whether the hub endpoint accepts a TCP connection within ``timeout_seconds``.

    The result is cached for a minute, so an unreachable hub costs one wait, not one per
    request. The connection runs in a daemon thread because a DNS lookup ignores socket
    timeouts.
    """
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    with _probe_lock:
        cached = _probe_cache.get(endpoint)
        if cached is not None and time.monotonic() - cached[0] < HUB_PROBE_CACHE_SECONDS:
            return cached[1]
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    outcome: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((parsed.hostname, port), timeout=timeout_seconds):
                outcome.append(True)
        except OSError as error:
            logger.info("Model hub %s not reachable: %s", endpoint, error)
            outcome.append(False)

    probe = threading.Thread(target=connect, name="hub-probe", daemon=True)
    probe.start()
    probe.join(timeout_seconds)
    reachable = bool(outcome and outcome[0])
    if not outcome:
        logger.info("Model hub %s did not respond within %.1f s", endpoint, timeout_seconds)
    with _probe_lock:
        _probe_cache[endpoint] = (time.monotonic(), reachable)
    return reachable


def explain_missing_hub_model(model_id: str, policy: SourcePolicy) -> ModelLoadError:
    """Return the error for a hub id that is not in the local cache while the hub is off or unreachable."""
    reason = "this server does not contact the model hub" if policy.hub_offline or hub_offline_from_environment() else (
        f"the model hub could not be reached within {policy.hub_timeout_seconds:g} s"
    )
    return ModelLoadError(
        f"Model '{model_id}' not found: it is not in this server's model cache, and {reason}. "
        "Check the spelling (owner/name), or download the model on a connected machine and load its folder."
    )


def explain_rejected_pickle(shown_name: str, error: Exception) -> ModelLoadError:
    """Return the error for pickle weights that torch.load(weights_only=True) refused to open."""
    # torch's message opens with advice to retry with weights_only=False; quote only the line naming the object.
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = next((line for line in lines if "GLOBAL" in line or "Unsupported" in line), type(error).__name__)
    return ModelLoadError(
        f"Weights of '{clipped(shown_name)}' were rejected: the pickle file contains objects other than tensors ({clipped(detail, 200)}). "
        "Pickle files are opened with torch.load(weights_only=True), which refuses code and other objects. "
        "Re-save the weights as safetensors: load them where the file is trusted and call save_pretrained(folder)."
    )


def check_config(config, shown_name: str) -> None:
    """Raise ModelLoadError when a loaded config describes a model without attention heads (not a Transformer)."""
    heads = getattr(config, "num_attention_heads", None)
    if heads is None:
        text_config = getattr(config, "get_text_config", lambda: None)()
        heads = getattr(text_config, "num_attention_heads", None)
    if not heads:
        raise ModelLoadError(
            f"Model '{shown_name}' (model_type {getattr(config, 'model_type', 'unknown')}) is not a Transformer: "
            "its config has no attention heads. Load a Transformer model such as BERT, GPT-2, Llama or T5."
        )
