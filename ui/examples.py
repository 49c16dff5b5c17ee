"""The sidebar's example-sentence picker and its note on how the embedded model tokenises Chinese."""

from __future__ import annotations

import streamlit as st

from i18n.examples import EXAMPLES, Example, contains_cjk, example_by_name
from model_utils import EMBEDDED_MODEL_NAME

from .text import t

EXAMPLE_KEY = "atlas.example"
PICKED_EXAMPLE_KEY = "atlas.example_picked"
EMBEDDED_MODEL_SOURCES = ("", EMBEDDED_MODEL_NAME, f"sentence-transformers/{EMBEDDED_MODEL_NAME}")


def _remember_pick() -> None:
    """Keep the picked name for the coming run and reset the picker, so it works like a menu."""
    st.session_state[PICKED_EXAMPLE_KEY] = st.session_state[EXAMPLE_KEY]
    st.session_state[EXAMPLE_KEY] = None


def example_picker() -> Example | None:
    """Draw the example picker in the sidebar; return the example picked just before this run, or None."""
    # Format the options now: Streamlit may call format_func later, outside this session's run.
    options = {
        example.name: t("sidebar.example_option", label=t(f"example.{example.name}"), text=example.text)
        for example in EXAMPLES
    }
    st.sidebar.selectbox(
        t("sidebar.example"),
        list(options),
        index=None,
        format_func=options.get,
        placeholder=t("sidebar.example_placeholder"),
        help=t("sidebar.example_help"),
        key=EXAMPLE_KEY,
        on_change=_remember_pick,
    )
    name = st.session_state.pop(PICKED_EXAMPLE_KEY, None)
    return None if name is None else example_by_name(name)


def tokenisation_note(model: str, text: str) -> None:
    """Explain under the form why Chinese text shows single characters and [UNK] with the embedded model."""
    if contains_cjk(text) and model.strip() in EMBEDDED_MODEL_SOURCES:
        st.sidebar.caption(t("example.cjk_note"))
