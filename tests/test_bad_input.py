"""Bad input catalogue: each case runs through the Python API and through every page with AppTest.

A case either captures (and the result passes its checks) or fails with an AtlasError whose
message names the value and the fix. On the pages, the same message is shown without an
exception, the sidebar fields keep what was typed, and the session keeps serving: every
page runs the whole catalogue in one session.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import ResNetConfig, ResNetModel

from model_utils import AtlasError, CaptureResult, capture, load_model
from model_utils.capture import validate_text
from model_utils.sources import SourcePolicy
from settings import load_settings
from tests import app_driver
from tests.tiny_models import tiny_bert

EMBEDDED = "all-MiniLM-L6-v2"
PLAIN_TEXT = "The cat sat on the mat."
REMOTE_CODE_MARKER = "ATLAS_TEST_REMOTE_CODE_MARKER"
EVIL_PICKLE_MARKER = "ATLAS_TEST_EVIL_PICKLE_MARKER"
# Settings every case starts from: model folders limited to the fixture root, no hub contact.
BASE_SETTINGS = {"ATLAS_HUB_OFFLINE": "true", "ATLAS_MAX_CHARACTERS": "150000"}


def set_marker(variable: str) -> None:
    """Write a marker file named by an environment variable; a pickle that runs code would call this."""
    Path(os.environ[variable]).write_text("ran", encoding="utf-8")


class EvilObject:
    """Unpickles by calling set_marker: torch.load(weights_only=True) must refuse it."""

    def __reduce__(self):
        return (set_marker, (EVIL_PICKLE_MARKER,))


# Checks on successful captures --------------------------------------------------------------


def labels_are_printable(result: CaptureResult) -> None:
    for position, label in enumerate(result.tokens):
        assert label, f"empty label at {position}"
        assert label.isprintable(), f"label {label!r} at {position} holds an invisible character"


def rows_sum_to_one(result: CaptureResult) -> None:
    np.testing.assert_allclose(result.attentions.sum(axis=-1), 1.0, atol=1e-4)


def truncated_to_model_limit(result: CaptureResult) -> None:
    assert result.num_tokens == 512
    assert result.dropped_tokens > 15_000


def label_contains(fragment: str) -> Callable[[CaptureResult], None]:
    def check(result: CaptureResult) -> None:
        assert any(fragment in label for label in result.tokens), (fragment, result.tokens)

    return check


def no_label_contains(*characters: str) -> Callable[[CaptureResult], None]:
    def check(result: CaptureResult) -> None:
        for label in result.tokens:
            for character in characters:
                assert character not in label, (character, label)

    return check


def typed_separator_kept(result: CaptureResult) -> None:
    separators = [position for position, label in enumerate(result.tokens) if label == "[SEP]"]
    assert len(separators) == 2, result.tokens
    assert separators[0] < result.num_tokens - 1


def all_of(*checks: Callable[[CaptureResult], None]) -> Callable[[CaptureResult], None]:
    def check(result: CaptureResult) -> None:
        for each in checks:
            each(result)

    return check


# The catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input: what is typed, the settings in force, and what must come back."""

    name: str
    text: str = PLAIN_TEXT
    model: str = EMBEDDED
    # Fragments the error message must contain; empty when the capture must succeed.
    expect: tuple[str, ...] = ()
    settings: dict[str, str] = field(default_factory=dict)
    check: Callable[[CaptureResult], None] | None = None
    # Cases a browser cannot send (non-text values, lone surrogates) run through the API only.
    browser_can_send: bool = True


LONG_TEXT = ("Attention weights show where each token looks. " * 2100)[:100_000]
HOSTILE_MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'

CASES = [
    Case("empty text", text="", expect=("The text is empty", "Type a sentence")),
    Case("only spaces", text="      ", expect=("The text is empty", "Type a sentence")),
    Case("only newlines and tabs", text="\n\t \n\t", expect=("The text is empty",)),
    Case("only wide spaces", text="\u00a0\u2003\u3000", expect=("The text is empty",)),
    Case("only zero-width characters", text="\u200b\u200c\u200d\ufeff", expect=("only invisible characters", "Type a sentence")),
    Case("only control characters", text="\x00\x01\x07\x1b", expect=("only invisible characters", "Type a sentence")),
    Case("only lone accents", text="\u0301\u0301\u0300", expect=("dropped every character", "Type some words")),
    Case("lone surrogate", text="bad \ud800 text", expect=("lone surrogate", "Copy the text again"), browser_can_send=False),
    Case(
        "over the character limit",
        text="x" * 1001,
        settings={"ATLAS_MAX_CHARACTERS": "1000"},
        expect=("1,001 characters", "the limit is 1,000", "Shorten it"),
        # The text area's max_chars stops the sidebar at the limit; test_settings checks that.
        browser_can_send=False,
    ),
    Case("100,000 characters", text=LONG_TEXT, check=truncated_to_model_limit),
    Case("control characters inside words", text="tab\there nul\x00byte bell\x07 escape\x1b end", check=no_label_contains("\x00", "\x07", "\x1b")),
    Case("zero-width characters inside words", text="zero\u200bwidth join\u200der bom\ufeffmark", check=no_label_contains("\u200b", "\u200d", "\ufeff")),
    Case("emoji", text="I love 🐱 and 👩‍👩‍👧 and 👍🏽 today", check=label_contains("🐱")),
    Case("Chinese", text="注意力机制让模型关注句子中最相关的词。", check=label_contains("注")),
    Case("Japanese and Korean", text="日本語の文と한국어 문장", check=label_contains("日")),
    Case("Arabic right-to-left", text="مرحبا بالعالم الجميل", check=label_contains("م")),
    Case("Hebrew right-to-left", text="שלום עולם יפה", check=label_contains("ש")),
    Case("mixed direction", text="The word שלום means peace, and سلام does too.", check=all_of(label_contains("ש"), label_contains("peace"))),
    Case("direction override characters", text="user\u202etxt.exe\u202c file", check=no_label_contains("\u202e", "\u202c")),
    Case("typed [SEP]", text="first part [SEP] second part", check=typed_separator_kept),
    Case("typed </s>", text="end of sentence </s> next one", check=label_contains("<")),
    Case("typed <|endoftext|>", text="first document <|endoftext|> second document", check=label_contains("|")),
    Case("typed [CLS] [MASK] [PAD]", text="[CLS] a [MASK] b [PAD] c", check=label_contains("[MASK]")),
    Case("HTML tags", text="<b>bold</b> and <br> a break", check=label_contains("<")),
    Case("script tag", text="<script>window.__pwned=1</script> hello", check=label_contains("script")),
    Case("img onerror", text=HOSTILE_MARKUP, check=label_contains("<")),
    Case("javascript link", text='<a href="javascript:window.__pwned=1">click</a>', check=label_contains("click")),
    Case("markdown", text="**bold** _it_ [link](http://127.0.0.1:9/x) ![img](http://127.0.0.1:9/y.png) `code`", check=label_contains("*")),
    Case("HTML entities", text="&lt;b&gt; &amp; &#60;script&#62; &nbsp;", check=label_contains("&")),
    Case("one 5,000-letter word", text="a" * 5000, check=lambda result: None),
    # Model field.
    Case("empty model field", model="", check=lambda result: None),
    Case(
        "unknown hub id",
        model="nobody-atlas/no-such-model",
        expect=("'nobody-atlas/no-such-model' not found", "does not contact the model hub", "Check the spelling"),
    ),
    Case("malformed id with spaces", model="not a model!", expect=("Invalid model id 'not a model!'", "owner/name")),
    Case("malformed id with three parts", model="a/b/c", expect=("Invalid model id 'a/b/c'", "owner/name")),
    Case("markup as model id", model=HOSTILE_MARKUP, expect=("Invalid model id", "owner/name")),
    Case("very long model id", model="m" * 5000, expect=("Invalid model id", "(5,000 characters)")),
    Case("folder outside the roots", model="{outside}/tiny_bert", expect=("outside the folders this server loads models from", "model_roots")),
    Case("symlink out of the roots", model="{root}/escape_link", expect=("outside the folders this server loads models from",)),
    Case("parent path out of the roots", model="{root}/../outside/tiny_bert", expect=("outside the folders",)),
    Case("missing folder", model="{root}/no_such_folder", expect=("no_such_folder' not found", "Check the path")),
    Case("file instead of folder", model="{root}/notes.txt", expect=("is a file", "folder that contains config.json")),
    Case("folder without weights", model="{root}/no_weights", expect=("has no weights", "model.safetensors", "save_pretrained")),
    Case("folder without config", model="{root}/plain_torch", expect=("has no config.json", "save_pretrained")),
    Case("config without model_type", model="{root}/no_model_type", expect=("has no model_type", "save_pretrained")),
    Case("config that is not JSON", model="{root}/broken_config", expect=("config.json in", "could not be read")),
    Case("not a Transformer", model="{root}/resnet", expect=("is not a Transformer", "model_type resnet", "BERT, GPT-2")),
    Case("remote code refused", model="{root}/remote_code_refused", expect=("needs its own Python code", "trust_remote_code = true")),
    Case("remote code enabled", model="{root}/remote_code_enabled", settings={"ATLAS_TRUST_REMOTE_CODE": "true"}, check=rows_sum_to_one),
    Case("pickle weights loaded safely", model="{root}/pickle_weights", check=rows_sum_to_one),
    Case(
        "pickle weights refused",
        model="{root}/pickle_weights_refused",
        settings={"ATLAS_ALLOW_PICKLE_WEIGHTS": "false"},
        expect=("weights only as pickle files (pytorch_model.bin)", "allow_pickle_weights = true"),
    ),
    Case("pickle with code", model="{root}/pickle_with_code", expect=("were rejected", "weights_only=True", "safetensors")),
    Case(
        "model not on the allow-list",
        model="openai-community/gpt2",
        settings={"ATLAS_ALLOWED_MODELS": "google-bert/bert-base-uncased"},
        expect=("'openai-community/gpt2' is not on this server's list", "google-bert/bert-base-uncased", "allowed_models"),
    ),
    Case(
        "folder not on the allow-list",
        model="{outside}/tiny_bert",
        settings={"ATLAS_MODEL_ROOTS": "", "ATLAS_ALLOWED_MODELS": "google-bert/bert-base-uncased"},
        expect=("outside the folders", "model_roots"),
    ),
]
CASE_IDS = [case.name for case in CASES]


# Model folders -------------------------------------------------------------------------------

REMOTE_CONFIG_CODE = '''
import os
from pathlib import Path
from transformers import BertConfig

Path(os.environ["{marker}"]).write_text("ran", encoding="utf-8")


class AtlasCustomConfig(BertConfig):
    model_type = "atlas-custom"
'''
REMOTE_MODEL_CODE = '''
from transformers import BertModel

from .configuration_atlas_custom import AtlasCustomConfig


class AtlasCustomModel(BertModel):
    config_class = AtlasCustomConfig
'''


def save_tiny_bert(folder: Path) -> None:
    loaded = tiny_bert()
    loaded.model.save_pretrained(folder)
    loaded.tokenizer.save_pretrained(folder)


def save_pickle_only(folder: Path, *, evil: bool = False) -> None:
    save_tiny_bert(folder)
    state = dict(tiny_bert().model.state_dict())
    if evil:
        state["evil"] = EvilObject()
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")


def save_remote_code(folder: Path) -> None:
    save_tiny_bert(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["model_type"] = "atlas-custom"
    config["architectures"] = ["AtlasCustomModel"]
    config["auto_map"] = {
        "AutoConfig": "configuration_atlas_custom.AtlasCustomConfig",
        "AutoModel": "modeling_atlas_custom.AtlasCustomModel",
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "configuration_atlas_custom.py").write_text(REMOTE_CONFIG_CODE.format(marker=REMOTE_CODE_MARKER), encoding="utf-8")
    (folder / "modeling_atlas_custom.py").write_text(REMOTE_MODEL_CODE, encoding="utf-8")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Build the model folders the model-field cases point at: one root and one folder outside it."""
    base = tmp_path_factory.mktemp("bad_models")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    save_tiny_bert(outside / "tiny_bert")
    (root / "escape_link").symlink_to(outside / "tiny_bert")
    (root / "notes.txt").write_text("not a model", encoding="utf-8")

    save_tiny_bert(root / "no_weights")
    (root / "no_weights" / "model.safetensors").unlink()

    (root / "plain_torch").mkdir()
    torch.save(torch.nn.Conv2d(3, 4, 3).state_dict(), root / "plain_torch" / "model.pt")

    (root / "no_model_type").mkdir()
    (root / "no_model_type" / "config.json").write_text('{"hidden_size": 8}', encoding="utf-8")
    (root / "broken_config").mkdir()
    (root / "broken_config" / "config.json").write_text("{not json", encoding="utf-8")

    ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 8], depths=[1, 1])).save_pretrained(root / "resnet")
    save_remote_code(root / "remote_code_refused")
    save_remote_code(root / "remote_code_enabled")
    save_pickle_only(root / "pickle_weights")
    save_pickle_only(root / "pickle_weights_refused")
    save_pickle_only(root / "pickle_with_code", evil=True)
    return {"root": root, "outside": outside, "base": base}


@pytest.fixture
def markers(tmp_path, monkeypatch) -> dict[str, Path]:
    """Point the remote-code and pickle markers at files that must exist only when code ran."""
    paths = {REMOTE_CODE_MARKER: tmp_path / "remote_code_ran", EVIL_PICKLE_MARKER: tmp_path / "pickle_code_ran"}
    for variable, path in paths.items():
        monkeypatch.setenv(variable, str(path))
    return paths


def case_environment(case: Case, folders: dict[str, Path]) -> dict[str, str]:
    return {**BASE_SETTINGS, "ATLAS_MODEL_ROOTS": str(folders["root"]), **case.settings}


def case_model(case: Case, folders: dict[str, Path]) -> str:
    return case.model.replace("{root}", str(folders["root"])).replace("{outside}", str(folders["outside"]))


def check_markers(case: Case, markers: dict[str, Path]) -> None:
    assert not markers[EVIL_PICKLE_MARKER].exists(), "a pickle file ran code"
    if case.name != "remote code enabled":
        assert not markers[REMOTE_CODE_MARKER].exists(), f"{case.name}: remote code ran"


# Python API ----------------------------------------------------------------------------------


def capture_like_the_app(case: Case, folders: dict[str, Path], embedded_model) -> CaptureResult:
    """Load and capture with the settings the case sets, through the same calls as the sidebar."""
    settings = load_settings(case_environment(case, folders))
    model = case_model(case, folders)
    if model in ("", EMBEDDED):
        loaded = embedded_model
    else:
        loaded = load_model(model, policy=SourcePolicy.from_settings(settings))
    validate_text(case.text, settings.max_characters)
    return capture(loaded, case.text, max_tokens=settings.max_tokens)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_api_case(case, folders, markers, embedded_model, monkeypatch):
    monkeypatch.delenv("ATLAS_SETTINGS_FILE", raising=False)
    if case.expect:
        with pytest.raises(AtlasError) as caught:
            capture_like_the_app(case, folders, embedded_model)
        message = str(caught.value)
        for fragment in case.expect:
            assert fragment in message, f"{fragment!r} missing from: {message}"
    else:
        result = capture_like_the_app(case, folders, embedded_model)
        labels_are_printable(result)
        rows_sum_to_one(result)
        if case.check is not None:
            case.check(result)
    check_markers(case, markers)


def test_api_rejects_non_text():
    for value in (None, b"bytes", 42):
        with pytest.raises(AtlasError) as caught:
            validate_text(value)
        assert "Text must be a string" in str(caught.value)


def test_pickle_weights_match_safetensors(folders):
    """Pickle-only weights load through weights_only and give the same attention as the safetensors copy."""
    text = "The cat sat on the mat."
    from_pickle = capture(load_model(folders["root"] / "pickle_weights", policy=SourcePolicy()), text)
    reference = capture(load_model(folders["outside"] / "tiny_bert", policy=SourcePolicy()), text)
    np.testing.assert_array_equal(from_pickle.attentions, reference.attentions)


def test_remote_code_runs_only_when_enabled(tmp_path, markers):
    # A folder name no other test uses, so transformers imports its code afresh.
    folder = tmp_path / "remote_code_once"
    save_remote_code(folder)
    with pytest.raises(AtlasError):
        load_model(folder, policy=SourcePolicy())
    assert not markers[REMOTE_CODE_MARKER].exists()
    loaded = load_model(folder, policy=SourcePolicy(trust_remote_code=True))
    assert markers[REMOTE_CODE_MARKER].exists()
    assert type(loaded.model).__name__ == "AtlasCustomModel"


def test_unknown_id_makes_no_connection(monkeypatch):
    """With the hub off, an unknown id fails from the local cache alone: no socket is opened."""
    import socket

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(AtlasError) as caught:
        load_model("nobody-atlas/offline-model", policy=SourcePolicy(hub_offline=True))
    assert "not found" in str(caught.value)
    assert attempts == []


def test_unreachable_hub_fails_without_retries(monkeypatch):
    """When the hub does not respond, an unknown id is looked up in the cache only, after one probe."""
    from model_utils import sources

    probes = []

    def unreachable(timeout_seconds):
        probes.append(timeout_seconds)
        return False

    monkeypatch.setattr(sources, "hub_reachable", unreachable)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(AtlasError) as caught:
        load_model("nobody-atlas/unreachable-model", policy=SourcePolicy(hub_timeout_seconds=2.0))
    message = str(caught.value)
    assert "could not be reached within 2 s" in message
    assert "Check the spelling" in message
    assert probes == [2.0]


# Pages ---------------------------------------------------------------------------------------

PAGES = app_driver.page_files()
_sessions: dict[str, object] = {}


@pytest.fixture
def page_session(request, folders, monkeypatch):
    """Return this page's AppTest session, shared by every case so errors must not break the next case."""
    from ui import session

    page = request.param
    monkeypatch.delenv("ATLAS_SETTINGS_FILE", raising=False)
    with app_driver.navigation_only():
        if page not in _sessions:
            _sessions[page] = app_driver.start_app(page)
        yield _sessions[page]
    session.get_settings.clear()


def browser_cases() -> list[Case]:
    return [case for case in CASES if case.browser_can_send]


@pytest.mark.parametrize("page_session", PAGES, indirect=True)
@pytest.mark.parametrize("case", browser_cases(), ids=[case.name for case in browser_cases()])
def test_page_case(case, page_session, folders, markers, monkeypatch, embedded_model):
    from ui import session

    for name, value in case_environment(case, folders).items():
        monkeypatch.setenv(name, value)
    session.get_settings.clear()
    app = page_session
    # Render once under the case's settings, because widgets take limits such as max_chars from them.
    app.run()
    model = case_model(case, folders)
    app_driver.submit(app, text=case.text, model=model)

    assert app_driver.exception_messages(app) == []
    assert app_driver.field_values(app) == (model, case.text), "the sidebar lost what was typed"
    errors = app_driver.error_messages(app)
    if case.expect:
        assert errors, "no error message shown"
        for fragment in case.expect:
            assert any(fragment in message for message in errors), f"{fragment!r} missing from: {errors}"
    else:
        assert errors == []
    if case.name == "100,000 characters":
        reference = capture(embedded_model, case.text)
        warnings = app_driver.warning_messages(app)
        assert any(f"{reference.dropped_tokens} tokens were dropped" in warning for warning in warnings), warnings
    check_markers(case, markers)


@pytest.mark.parametrize("page_session", PAGES, indirect=True)
def test_page_serves_after_catalogue(page_session, monkeypatch):
    """After every case, the same session still captures a plain sentence."""
    monkeypatch.setenv("ATLAS_HUB_OFFLINE", "true")
    app = app_driver.submit(page_session, text=PLAIN_TEXT, model=EMBEDDED)
    assert app_driver.exception_messages(app) == []
    assert app_driver.error_messages(app) == []
    assert app_driver.field_values(app) == (EMBEDDED, PLAIN_TEXT)


def test_catalogue_size():
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)



def test_failed_load_status_says_failed(tmp_path):
    missing = str(tmp_path / "missing")
    with app_driver.navigation_only():
        app = app_driver.start_app()
        app_driver.submit(app, model=missing)

    statuses = [(status.label, status.state) for status in app.main.status]
    assert any("could not be loaded" in label and label.endswith("missing could not be loaded.") and state == "error" for label, state in statuses), statuses
    assert not any(label.startswith("Loading model") for label, _ in statuses), statuses
