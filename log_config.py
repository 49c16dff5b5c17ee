"""The operator log: the app's own loggers write to stderr, each record tagged with its browser session.

What the logs contain is decided where they are written: model loads (id, device, dtype,
seconds), captures (model, tokens, milliseconds) and every caught error with its context.
Text that users type is logged only as a length.
"""

from __future__ import annotations

import logging
import sys

from streamlit.runtime.scriptrunner import get_script_run_ctx

# Loggers of this project's packages; page scripts run as __main__ under Streamlit.
APP_LOGGERS = ("model_utils", "ui", "viz", "analysis", "settings", "__main__")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [session %(session)s] %(message)s"
SESSION_ID_LENGTH = 8


class SessionFilter(logging.Filter):
    """Add ``record.session``: the first characters of the Streamlit session id, or ``-`` outside a session."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = get_script_run_ctx(suppress_warning=True)
        record.session = context.session_id[:SESSION_ID_LENGTH] if context is not None else "-"
        return True


class OperatorHandler(logging.StreamHandler):
    """The stderr handler that configure_logging adds once to the root logger."""


def configure_logging(level: str = "INFO") -> logging.Handler:
    """Send the app's loggers at ``level`` and above to stderr; calling it again only changes the level.

    Other libraries keep their own levels, so their INFO chatter stays out of the log.
    """
    root = logging.getLogger()
    handler = next((existing for existing in root.handlers if isinstance(existing, OperatorHandler)), None)
    if handler is None:
        handler = OperatorHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(SessionFilter())
        root.addHandler(handler)
    for name in APP_LOGGERS:
        logging.getLogger(name).setLevel(level.upper())
    return handler
