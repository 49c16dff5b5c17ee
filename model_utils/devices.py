"""Pick the device and the placement of a model: one GPU, Apple MPS, the CPU, or spread by accelerate."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from .errors import ModelLoadError

logger = logging.getLogger(__name__)

AUTO = "auto"
# Weights may use at most this share of a device's free memory; the rest is left for the
# captured weights and activations.
WEIGHTS_SHARE = 0.8
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def available_devices() -> list[str]:
    """List the devices this machine offers, CPU last: ``cuda:N`` per GPU, then ``mps``, then ``cpu``."""
    devices = [f"cuda:{index}" for index in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices + ["cpu"]


def pick_device(requested: str = AUTO) -> str:
    """Return ``requested``, or for ``auto`` the first of CUDA, MPS and CPU that is available.

    Raises ModelLoadError for a device that this machine does not have, naming those it has.
    """
    if requested == AUTO:
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    known = available_devices()
    if requested not in known and not (requested == "cuda" and torch.cuda.is_available()):
        raise ModelLoadError(f"Device '{requested}' is not available on this machine. Choose one of: {', '.join([AUTO, *known])}.")
    return requested


def free_bytes(device: str) -> int | None:
    """Return the free memory of ``device`` in bytes, or None where torch cannot tell (CPU, MPS)."""
    if device.startswith("cuda") and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    return None


def weights_bytes(folder: str | Path) -> int | None:
    """Return the size of the weight files in a local model folder, or None for a hub id."""
    path = Path(folder)
    if not path.is_dir():
        return None
    return sum(item.stat().st_size for item in path.iterdir() if item.name.endswith(WEIGHT_SUFFIXES))


def needs_spreading(model_bytes: int | None, device: str) -> bool:
    """Return whether a model of ``model_bytes`` should be spread with ``device_map="auto"`` instead of put on ``device``.

    Only GPUs report free memory; a model that fits in ``WEIGHTS_SHARE`` of it stays whole.
    """
    free = free_bytes(device)
    if model_bytes is None or free is None:
        return False
    return model_bytes > WEIGHTS_SHARE * free


def input_device(model: torch.nn.Module) -> str:
    """Return the device that input ids must be on: that of the input embeddings, wherever accelerate put them."""
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    parameter = next(embeddings.parameters()) if embeddings is not None else next(model.parameters())
    return str(parameter.device)
