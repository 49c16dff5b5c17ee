"""The current session's language and the `t` lookup every page uses for text on screen."""

from __future__ import annotations

import re

import streamlit as st

from i18n import DEFAULT_LANGUAGE, language_from_locale, translate

LANGUAGE_KEY = "atlas.language"
# Characters that open Markdown inside a line in Streamlit: code, emphasis, links and images,
# strikethrough, LaTeX ($), emoji shortcodes and colour directives (:), HTML tags and entities.
MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>~$:&])")


def current_language() -> str:
    """Return the session's language, defaulting to the browser's locale when Streamlit exposes it."""
    if LANGUAGE_KEY not in st.session_state:
        # st.context.locale is navigator.language; it is None outside a browser session (AppTest, bare mode).
        locale = st.context.locale
        st.session_state[LANGUAGE_KEY] = language_from_locale(locale) if locale else DEFAULT_LANGUAGE
    return st.session_state[LANGUAGE_KEY]


def t(key: str, /, **values) -> str:
    """Translate ``key`` into the session's language."""
    return translate(current_language(), key, **values)


def error_text(key: str, error: Exception) -> str:
    """Frame an error for the screen: a translated summary (``key``) followed by the error's own message.

    Errors raised in model_utils stay in English on purpose, because they name the exact
    value, limit and fix, which users copy into searches and bug reports. The frame
    around them states in the session's language what failed.
    """
    return t("error.frame", summary=t(key), detail=literal_markdown(str(error)))


def literal_markdown(text: str) -> str:
    """Escape ``text`` so that Streamlit's Markdown (errors, captions, status labels) shows it as typed.

    Without this, a model field holding ``![x](http://host/pixel.png)`` puts an image in the
    page, ``$x$`` renders as LaTeX and ``:red[x]`` changes colour.
    """
    return MARKDOWN_INLINE.sub(r"\\\1", text)
