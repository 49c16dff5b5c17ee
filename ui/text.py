"""The current session's language and the `t` lookup every page uses for text on screen."""

from __future__ import annotations

import streamlit as st

from i18n import DEFAULT_LANGUAGE, language_from_locale, translate

LANGUAGE_KEY = "atlas.language"


def current_language() -> str:
    """Return the session's language, defaulting to the browser's locale when Streamlit exposes it."""
    if LANGUAGE_KEY not in st.session_state:
        locale = getattr(getattr(st, "context", None), "locale", None)
        st.session_state[LANGUAGE_KEY] = language_from_locale(locale) if locale else DEFAULT_LANGUAGE
    return st.session_state[LANGUAGE_KEY]


def t(key: str, **values) -> str:
    """Translate ``key`` into the session's language."""
    return translate(current_language(), key, **values)
