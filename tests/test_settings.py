"""Server settings: file and environment loading, validation, help strings, and their use by the app."""

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import settings as settings_module
from model_utils.sources import SourcePolicy
from settings import Settings, SettingsError, describe, environment_variable, load_settings
from tests import app_driver

ROOT = Path(__file__).resolve().parents[1]


def write_toml(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "atlas.toml"
    path.write_text(text, encoding="utf-8")
    return {"ATLAS_SETTINGS_FILE": str(path)}


def test_defaults_suit_a_shared_server(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = load_settings({})
    assert loaded == Settings()
    assert loaded.trust_remote_code is False
    assert loaded.max_tokens == 2048
    assert loaded.default_model == "all-MiniLM-L6-v2"


def test_every_field_has_help():
    helps = Settings.help()
    assert set(helps) == {item.name for item in dataclasses.fields(Settings)}
    for name, text in helps.items():
        assert len(text) > 20, name
        assert text.endswith("."), name


def test_file_values_are_read(tmp_path):
    environ = write_toml(
        tmp_path,
        'allowed_models = ["google-bert/bert-base-uncased", "openai-community/gpt2"]\n'
        'model_roots = ["/srv/models"]\nmax_tokens = 256\nhub_offline = true\nexport_timeout_seconds = 4\n',
    )
    loaded = load_settings(environ)
    assert loaded.allowed_models == ("google-bert/bert-base-uncased", "openai-community/gpt2")
    assert loaded.model_roots == ("/srv/models",)
    assert loaded.max_tokens == 256
    assert loaded.hub_offline is True
    assert loaded.export_timeout_seconds == 4.0


def test_environment_overrides_file(tmp_path):
    environ = write_toml(tmp_path, "max_tokens = 256\ntrust_remote_code = false\n")
    environ.update(
        ATLAS_MAX_TOKENS="128",
        ATLAS_TRUST_REMOTE_CODE="yes",
        ATLAS_ALLOWED_MODELS=" a/b , c/d ,",
        ATLAS_HUB_TIMEOUT_SECONDS="2.5",
    )
    loaded = load_settings(environ)
    assert loaded.max_tokens == 128
    assert loaded.trust_remote_code is True
    assert loaded.allowed_models == ("a/b", "c/d")
    assert loaded.hub_timeout_seconds == 2.5


def test_environment_variable_names():
    assert environment_variable("max_tokens") == "ATLAS_MAX_TOKENS"
    assert environment_variable("model_roots") == "ATLAS_MODEL_ROOTS"


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"ATLAS_MAX_TOKENS": "many"}, "ATLAS_MAX_TOKENS='many'"),
        ({"ATLAS_MAX_TOKENS": "0"}, "max_tokens = 0"),
        ({"ATLAS_TRUST_REMOTE_CODE": "maybe"}, "Use true or false"),
        ({"ATLAS_HUB_TIMEOUT_SECONDS": "-1"}, "positive number of seconds"),
        ({"ATLAS_DEVICE": "tpu"}, "Invalid device 'tpu'"),
        ({"ATLAS_LOG_LEVEL": "loud"}, "Invalid log_level 'loud'"),
        ({"ATLAS_SETTINGS_FILE": "/no/such/atlas.toml"}, "not found"),
    ],
)
def test_invalid_environment_values(environ, fragment):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("max_token = 5\n", "Unknown settings ['max_token']"),
        ('max_tokens = "many"\n', "expected int"),
        ("max_tokens = true\n", "expected int"),
        ('allowed_models = "a/b"\n', "expected a list of strings"),
        ("trust_remote_code = 1\n", "expected bool"),
        ("max_tokens = \n", "not valid TOML"),
    ],
)
def test_invalid_file_values(tmp_path, text, fragment):
    environ = write_toml(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert fragment in str(caught.value)


def test_describe_lists_every_field():
    text = describe(Settings())
    for name, help_text in Settings.help().items():
        assert f"{name} ({environment_variable(name)})" in text
        assert help_text in text


def test_module_prints_help(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "settings"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "ATLAS_MAX_TOKENS": "99"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "max_tokens (ATLAS_MAX_TOKENS) = 99" in completed.stdout
    assert Settings.help()["trust_remote_code"] in completed.stdout


def test_module_reports_invalid_value():
    completed = subprocess.run(
        [sys.executable, "-m", "settings"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "ATLAS_MAX_TOKENS": "lots"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    assert "ATLAS_MAX_TOKENS='lots'" in completed.stderr


def test_source_policy_from_settings():
    loaded = Settings(allowed_models=("a/b",), model_roots=("/srv",), trust_remote_code=True, allow_pickle_weights=False)
    policy = SourcePolicy.from_settings(loaded)
    assert policy.allowed_models == ("a/b",)
    assert policy.model_roots == ("/srv",)
    assert policy.trust_remote_code is True
    assert policy.allow_pickle_weights is False


def test_streamlit_binds_localhost():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Deploying for a team" in readme
    section = readme.split("## Deploying for a team", 1)[1].split("\n## ", 1)[0]
    for name in Settings.help():
        assert name in section, name


@pytest.fixture
def fresh_settings(monkeypatch):
    """Let a test set ATLAS_* variables that the app reads on its next run."""
    from ui import session

    session.get_settings.clear()
    yield monkeypatch
    session.get_settings.clear()


def sidebar_app(text: str, model: str) -> AppTest:
    with app_driver.navigation_only():
        return app_driver.submit(app_driver.start_app(), text=text, model=model)


def test_sidebar_enforces_allow_list(fresh_settings):
    fresh_settings.setenv("ATLAS_ALLOWED_MODELS", "google-bert/bert-base-uncased")
    at = sidebar_app("The cat sat.", "openai-community/gpt2")
    assert not at.exception
    messages = [element.value for element in at.error]
    assert any("not on this server's list of allowed models" in message for message in messages), messages
    assert any("google-bert/bert-base-uncased" in message for message in messages), messages


def test_sidebar_enforces_max_tokens(fresh_settings):
    fresh_settings.setenv("ATLAS_MAX_TOKENS", "8")
    at = sidebar_app("one two three four five six seven eight nine ten eleven twelve", "all-MiniLM-L6-v2")
    assert not at.exception
    assert not at.error
    warnings = [element.value for element in at.warning]
    assert any("8 tokens" in warning for warning in warnings), warnings


def test_sidebar_enforces_character_limit(fresh_settings):
    fresh_settings.setenv("ATLAS_MAX_CHARACTERS", "50")
    at = sidebar_app("x" * 51, "all-MiniLM-L6-v2")
    assert not at.exception
    field = at.sidebar.text_area(key="atlas.text_field")
    assert field.max_chars == 50
    assert field.value == "x" * 50


def test_settings_module_has_no_heavy_imports():
    source = Path(settings_module.__file__).read_text(encoding="utf-8")
    assert "import torch" not in source
    assert "import streamlit" not in source
