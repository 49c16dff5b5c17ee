"""Server settings: one object read from a TOML file and ATLAS_* environment variables."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SETTINGS_FILE_VARIABLE = "ATLAS_SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = Path("atlas.toml")


@dataclass(frozen=True)
class Settings:
    """Operator settings for one Attention Atlas server."""

    default_model: str = field(default="all-MiniLM-L6-v2", metadata={"help": "Model loaded on first open: a model id, a folder, or all-MiniLM-L6-v2 for the embedded one."})
    allowed_models: tuple[str, ...] = field(default=(), metadata={"help": "Model ids users may load; empty allows any id."})
    model_roots: tuple[str, ...] = field(default=(), metadata={"help": "Folders under which local models may be loaded; empty allows any folder."})
    max_tokens: int = field(default=2048, metadata={"help": "Most tokens one capture may use; longer text is truncated with a notice."})
    max_characters: int = field(default=200_000, metadata={"help": "Most characters accepted in one text field."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Run a model's own Python code from the hub. Off unless every user is trusted."})
    export_timeout_seconds: float = field(default=10.0, metadata={"help": "Time limit for one PNG, SVG or PDF export."})
    device: str = field(default="auto", metadata={"help": "Device for models: auto, cpu, cuda or mps."})

    @classmethod
    def help(cls) -> dict[str, str]:
        """Return every field's help string, keyed by field name."""
        return {item.name: item.metadata["help"] for item in dataclasses.fields(cls)}


def _convert(raw: str, current):
    if isinstance(current, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, tuple):
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    return raw


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the TOML file named by ATLAS_SETTINGS_FILE (or ./atlas.toml), then ATLAS_<FIELD> variables."""
    environ = os.environ if environ is None else environ
    values: dict = {}
    path = Path(environ.get(SETTINGS_FILE_VARIABLE, DEFAULT_SETTINGS_FILE))
    if path.is_file():
        with path.open("rb") as handle:
            values.update(tomllib.load(handle))
    defaults = Settings()
    unknown = set(values) - {item.name for item in dataclasses.fields(Settings)}
    if unknown:
        raise ValueError(f"Unknown settings {sorted(unknown)} in {path}. Valid names: {sorted(Settings.help())}.")
    for item in dataclasses.fields(Settings):
        variable = f"ATLAS_{item.name.upper()}"
        if variable in environ:
            values[item.name] = _convert(environ[variable], getattr(defaults, item.name))
        elif isinstance(values.get(item.name), list):
            values[item.name] = tuple(values[item.name])
    return Settings(**values)
