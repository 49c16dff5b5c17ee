"""Session state, the sidebar, and the model and capture caches shared by every page."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import streamlit as st

from i18n import LANGUAGES
from i18n.examples import DEFAULT_EXAMPLE
from model_utils import AtlasError, CaptureResult, LoadedModel, capture, load_model
from model_utils.capture import validate_text
from model_utils.sources import SourcePolicy
from settings import Settings, load_settings

from .examples import example_picker, tokenisation_note
from .text import LANGUAGE_KEY, current_language, error_text, t

logger = logging.getLogger(__name__)

REQUEST_KEY = "atlas.request"
MODEL_FIELD_KEY = "atlas.model_field"
TEXT_FIELD_KEY = "atlas.text_field"
PERSISTENT_PREFIXES = ("atlas.", "heads.", "overview.")


@dataclass(frozen=True)
class Request:
    """What the user submitted: the model and the text, the key of every cached capture."""

    model: str
    text: str


@st.cache_resource(show_spinner=False)
def get_settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_shared_model(source: str) -> LoadedModel:
    """Load a model once per process; every browser session shares it (captures take its lock)."""
    settings = get_settings()
    return load_model(source, device=settings.device, policy=SourcePolicy.from_settings(settings))


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_capture(source: str, text: str) -> CaptureResult:
    settings = get_settings()
    validate_text(text, settings.max_characters)
    return capture(_load_shared_model(source), text, max_tokens=settings.max_tokens)


def keep_widget_state() -> None:
    """Re-store page widget values so they survive switching pages (Streamlit drops unrendered widgets)."""
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(PERSISTENT_PREFIXES):
            st.session_state[key] = st.session_state[key]


def current_request() -> Request:
    if REQUEST_KEY not in st.session_state:
        st.session_state[REQUEST_KEY] = Request(get_settings().default_model, DEFAULT_EXAMPLE.text)
    return st.session_state[REQUEST_KEY]


def render_sidebar() -> Request:
    """Draw the language picker and the model and text form; return the submitted request."""
    request = current_request()
    current_language()
    st.sidebar.selectbox(
        t("sidebar.language"), list(LANGUAGES), format_func=LANGUAGES.get, key=LANGUAGE_KEY
    )
    st.session_state.setdefault(MODEL_FIELD_KEY, request.model)
    example = example_picker()
    if example is not None:
        request = Request(st.session_state[MODEL_FIELD_KEY].strip(), example.text)
        st.session_state[REQUEST_KEY] = request
        st.session_state[TEXT_FIELD_KEY] = example.text
    st.session_state.setdefault(TEXT_FIELD_KEY, request.text)
    with st.sidebar.form("atlas.form"):
        st.text_input(t("sidebar.model"), key=MODEL_FIELD_KEY, help=t("sidebar.model_help"))
        st.text_area(
            t("sidebar.text"), key=TEXT_FIELD_KEY, help=t("sidebar.text_help"), height=120, max_chars=get_settings().max_characters
        )
        submitted = st.form_submit_button(t("sidebar.run"), type="primary", width="stretch")
    if submitted:
        request = Request(st.session_state[MODEL_FIELD_KEY].strip(), st.session_state[TEXT_FIELD_KEY])
        st.session_state[REQUEST_KEY] = request
    tokenisation_note(request.model, request.text)
    return request


def shared_model(source: str) -> LoadedModel | None:
    """Return the cached model, loading it with a progress indicator; show the reason on failure."""
    try:
        with st.status(t("load.status", model=source or "all-MiniLM-L6-v2"), expanded=False) as status:
            model = _load_shared_model(source)
            status.update(label=t("load.done", model=model.source), state="complete")
        return model
    except AtlasError as error:
        logger.warning("Model load failed for %s: %s", source, error)
        st.error(error_text("load.failed", error))
        return None


def current_capture() -> CaptureResult | None:
    """Return the capture for the submitted request, or show why there is none and return None."""
    request = current_request()
    model = shared_model(request.model)
    if model is None:
        return None
    try:
        result = _cached_capture(request.model, request.text)
    except AtlasError as error:
        logger.warning("Capture failed for model %s (%d characters): %s", request.model, len(request.text), error)
        st.error(error_text("capture.failed", error))
        return None
    if result.dropped_tokens:
        st.warning(t("capture.truncated", kept=result.num_tokens, dropped=result.dropped_tokens))
    st.caption(
        t(
            "capture.summary",
            model=result.manifest.get("model"),
            tokens=result.num_tokens,
            layers=result.num_layers,
            heads=result.num_heads,
            implementation=result.manifest.get("attn_implementation"),
        )
    )
    return result
