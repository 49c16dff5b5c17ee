"""Server settings: one object read from a TOML file and ATLAS_* environment variables.

Print every field with its environment variable, current value and help string::

    python -m settings
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SETTINGS_FILE_VARIABLE = "ATLAS_SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = Path("atlas.toml")
ENVIRONMENT_PREFIX = "ATLAS_"
DEVICES = ("auto", "cpu", "cuda", "mps")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


class SettingsError(ValueError):
    """An unknown name or an invalid value in the settings file or an ATLAS_* variable."""


@dataclass(frozen=True)
class Settings:
    """Operator settings for one Attention Atlas server."""

    default_model: str = field(
        default="all-MiniLM-L6-v2",
        metadata={"help": "Model loaded on first open: a model id, a folder, or all-MiniLM-L6-v2 for the embedded one."},
    )
    allowed_models: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "Model ids and folders users may load, besides the embedded model and folders under model_roots. "
            "Empty allows any id, and any folder when model_roots is empty too."
        },
    )
    model_roots: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Folders under which local models may be loaded (symbolic links are resolved first). Empty allows any folder unless allowed_models is set."},
    )
    max_tokens: int = field(
        default=2048,
        metadata={"help": "Maximum tokens in one capture; longer text is truncated with a notice. The model's own limit applies when lower."},
    )
    max_capture_megabytes: int = field(
        default=2048,
        metadata={"help": "Largest estimated memory one capture may use, in MiB: float32 weights of every kept layer plus working memory. Larger captures are rejected with the numbers and the fix."},
    )
    max_characters: int = field(
        default=200_000,
        metadata={"help": "Maximum characters accepted in one text field; longer text is rejected with a message."},
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Run a model's own Python code (auto_map in its config). Off unless every user is trusted."},
    )
    allow_pickle_weights: bool = field(
        default=True,
        metadata={
            "help": "Load weights stored only as pickle files (pytorch_model.bin) through torch.load(weights_only=True), "
            "which rejects pickled code. False loads safetensors only."
        },
    )
    hub_offline: bool = field(
        default=False,
        metadata={"help": "Never contact the Hugging Face hub: model ids load from the local cache only. HF_HUB_OFFLINE=1 does the same."},
    )
    hub_timeout_seconds: float = field(
        default=5.0,
        metadata={"help": "Seconds to wait for the hub to accept a connection before a model id is looked up in the local cache only."},
    )
    export_timeout_seconds: float = field(
        default=10.0,
        metadata={"help": "Time limit in seconds for rendering one figure's PNG, SVG and PDF together; past it the export is stopped and the user is told why."},
    )
    chromium_path: str = field(
        default="",
        metadata={"help": "Chrome or Chromium executable used for PNG, SVG and PDF export. Empty searches BROWSER_PATH, then PATH."},
    )
    device: str = field(default="auto", metadata={"help": "Device for models: auto, cpu, cuda, cuda:N or mps."})
    dtype: str = field(default="float32", metadata={"help": "Data type models are loaded in: float32, bfloat16 or float16. Captured weights are float32 either way."})
    log_level: str = field(default="INFO", metadata={"help": "Level of the operator log on stderr: DEBUG, INFO, WARNING or ERROR."})

    def __post_init__(self) -> None:
        for name in ("max_tokens", "max_characters"):
            if getattr(self, name) < 1:
                raise SettingsError(f"Invalid {name} = {getattr(self, name)}: it must be at least 1.")
        for name in ("hub_timeout_seconds", "export_timeout_seconds"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"Invalid {name} = {getattr(self, name)}: it must be a positive number of seconds.")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise SettingsError(f"Invalid device '{self.device}'. Choose one of {', '.join(DEVICES)} or cuda:N.")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise SettingsError(f"Invalid dtype '{self.dtype}'. Choose one of float32, bfloat16, float16.")
        if self.log_level.upper() not in LOG_LEVELS:
            raise SettingsError(f"Invalid log_level '{self.log_level}'. Choose one of {', '.join(LOG_LEVELS)}.")

    @classmethod
    def help(cls) -> dict[str, str]:
        """Return every field's help string, keyed by field name."""
        return {item.name: item.metadata["help"] for item in dataclasses.fields(cls)}


def environment_variable(name: str) -> str:
    """Return the environment variable that sets field ``name``, such as ATLAS_MAX_TOKENS."""
    return f"{ENVIRONMENT_PREFIX}{name.upper()}"


def _field_type(name: str) -> type:
    """Return the type of a field's default value: bool, int, float, str or tuple."""
    return type(getattr(Settings(), name))


def _from_environment(name: str, raw: str):
    """Convert the text of an ATLAS_* variable to the field's type; lists are comma-separated."""
    kind = _field_type(name)
    variable = environment_variable(name)
    if kind is bool:
        word = raw.strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise SettingsError(f"Invalid {variable}='{raw}'. Use true or false.")
        return word in TRUE_WORDS
    if kind in (int, float):
        try:
            return kind(raw.strip())
        except ValueError:
            raise SettingsError(f"Invalid {variable}='{raw}'. Use a {'whole ' if kind is int else ''}number.") from None
    if kind is tuple:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    return raw.strip()


def _from_file(name: str, value, path: Path):
    """Check a value read from the TOML file against the field's type; lists become tuples."""
    kind = _field_type(name)
    if kind is tuple and isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    expected = "a list of strings" if kind is tuple else kind.__name__
    raise SettingsError(f"Invalid {name} = {value!r} in {path}: expected {expected}.")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the TOML file named by ATLAS_SETTINGS_FILE (or ./atlas.toml), then ATLAS_<FIELD> variables.

    A variable overrides the file. Raises SettingsError for an unknown name, a value of the
    wrong type, or an ATLAS_SETTINGS_FILE that does not exist.
    """
    environ = os.environ if environ is None else environ
    names = [item.name for item in dataclasses.fields(Settings)]
    values: dict = {}

    path = Path(environ.get(SETTINGS_FILE_VARIABLE, DEFAULT_SETTINGS_FILE))
    if SETTINGS_FILE_VARIABLE in environ and not path.is_file():
        raise SettingsError(f"Settings file {path} (from {SETTINGS_FILE_VARIABLE}) not found. Fix the path or unset the variable.")
    if path.is_file():
        try:
            with path.open("rb") as handle:
                from_file = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"Settings file {path} is not valid TOML: {error}.") from error
        unknown = set(from_file) - set(names)
        if unknown:
            raise SettingsError(f"Unknown settings {sorted(unknown)} in {path}. Valid names: {', '.join(names)}.")
        values.update({name: _from_file(name, value, path) for name, value in from_file.items()})

    for name in names:
        variable = environment_variable(name)
        if variable in environ:
            values[name] = _from_environment(name, environ[variable])
    return Settings(**values)


def describe(settings: Settings) -> str:
    """Format every field as name, environment variable, current value and help string."""
    blocks = []
    for name, help_text in Settings.help().items():
        blocks.append(f"{name} ({environment_variable(name)}) = {getattr(settings, name)!r}\n    {help_text}")
    return "\n".join(blocks)


def main() -> int:
    """Print the current settings with their help strings, or the reason they are invalid."""
    try:
        settings = load_settings()
    except SettingsError as error:
        sys.stderr.write(f"{error}\n")
        return 1
    sys.stdout.write(describe(settings) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
