"""The operator log: loads, captures and caught errors are logged with context, typed text never is."""

from __future__ import annotations

import logging

import pytest

from log_config import OperatorHandler, SessionFilter, configure_logging
from model_utils import AtlasError, capture, load_model
from model_utils.capture import validate_text
from model_utils.sources import SourcePolicy
from tests import app_driver

SECRET = "Quokka Zanzibar passphrase 7391"


def secret_in(record: logging.LogRecord) -> bool:
    """Tell whether the secret text, or one of its words, reached a log record in any form."""
    parts = [record.getMessage(), repr(record.args), record.exc_text or ""]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    joined = " ".join(parts).lower()
    return any(word.lower() in joined for word in SECRET.split())


@pytest.fixture
def all_records(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_api_logs_load_and_capture_without_text(all_records, capfd):
    loaded = load_model(policy=SourcePolicy())
    capture(loaded, f"{SECRET} sits on the mat.")
    with pytest.raises(AtlasError):
        validate_text(SECRET * 100, max_characters=100)

    messages = [record.getMessage() for record in all_records.records]
    assert any("Loaded model all-MiniLM-L6-v2" in message and " on cpu as float32 in " in message for message in messages), messages
    assert any("Captured all-MiniLM-L6-v2" in message and "tokens" in message and " ms" in message for message in messages), messages
    leaked = [record.getMessage() for record in all_records.records if secret_in(record)]
    assert leaked == []
    captured = capfd.readouterr()
    assert "Zanzibar" not in captured.out + captured.err


def test_app_logs_errors_with_context_without_text(all_records, capfd, monkeypatch):
    from ui import session

    monkeypatch.setenv("ATLAS_HUB_OFFLINE", "true")
    session.get_settings.clear()
    try:
        with app_driver.navigation_only():
            app = app_driver.start_app()
            app_driver.submit(app, text=f"{SECRET} is a sentence to capture.")
            assert app_driver.error_messages(app) == []
            app_driver.submit(app, text=f"{SECRET} again.", model="nobody-atlas/missing-model")
            assert app_driver.error_messages(app)
            # Lower the limit after the text area was drawn, so the server-side check rejects the text.
            monkeypatch.setenv("ATLAS_MAX_CHARACTERS", "200")
            session.get_settings.clear()
            app_driver.submit(app, text=SECRET * 10, model="all-MiniLM-L6-v2")
            assert app_driver.error_messages(app)
    finally:
        session.get_settings.clear()

    warnings = [record for record in all_records.records if record.levelno >= logging.WARNING and record.name.startswith("ui.")]
    messages = [record.getMessage() for record in warnings]
    assert any("nobody-atlas/missing-model" in message for message in messages), messages
    assert any("Capture failed for model all-MiniLM-L6-v2" in message and "characters" in message for message in messages), messages
    leaked = [record.getMessage() for record in all_records.records if secret_in(record)]
    assert leaked == []
    captured = capfd.readouterr()
    assert "Zanzibar" not in captured.out + captured.err


def test_configure_logging_adds_one_handler():
    root = logging.getLogger()
    before = [handler for handler in root.handlers if isinstance(handler, OperatorHandler)]
    try:
        first = configure_logging("WARNING")
        second = configure_logging("DEBUG")
        assert first is second
        assert [handler for handler in root.handlers if isinstance(handler, OperatorHandler)] == [first]
        assert logging.getLogger("model_utils").level == logging.DEBUG
    finally:
        configure_logging("INFO")
        if not before:
            root.handlers = [handler for handler in root.handlers if not isinstance(handler, OperatorHandler)]


def test_session_filter_outside_streamlit():
    record = logging.LogRecord("model_utils", logging.INFO, __file__, 1, "message", None, None)
    assert SessionFilter().filter(record)
    assert record.session == "-"
