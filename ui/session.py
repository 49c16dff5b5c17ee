"""Session state, the sidebar, and the model and capture caches shared by every page."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.state import get_session_state

from i18n import LANGUAGES
from i18n.examples import DEFAULT_EXAMPLE
from analysis.words import token_view
from model_utils import AtlasError, CaptureResult, InputError, LoadedModel, capture, load_model
from model_utils.capture import validate_text
from model_utils.devices import AUTO as AUTO_DEVICE
from model_utils.devices import available_devices
from model_utils.loading import DTYPES
from model_utils.overview import ThumbnailCapture, capture_thumbnails
from model_utils.sources import SourcePolicy
from settings import Settings, load_settings

from .examples import example_picker, tokenisation_note
from .inputs import capture_kind, is_single_text, remember_kind, render_kind_fields, submitted_request
from .manifest import render_manifest
from .text import LANGUAGE_KEY, current_language, error_text, literal_markdown, t

logger = logging.getLogger(__name__)

REQUEST_KEY = "atlas.request"
MODEL_FIELD_KEY = "atlas.model_field"
TEXT_FIELD_KEY = "atlas.text_field"
MERGE_WORDS_KEY = "atlas.merge_words"
HIDE_SPECIAL_KEY = "atlas.hide_special"
DEVICE_KEY = "atlas.device"
DTYPE_KEY = "atlas.dtype"
PERSISTENT_PREFIXES = ("atlas.", "heads.", "overview.", "stats.", "layers.", "walkthrough.", "compare.", "generation.")
# Widget value types a script may not set: buttons, download buttons, file uploads, chat input.
READ_ONLY_VALUE_TYPES = frozenset(
    {"trigger_value", "string_trigger_value", "json_trigger_value", "file_uploader_state_value", "chat_input_value"}
)


@dataclass(frozen=True)
class Request:
    """What the user submitted: the model and the text, the key of every cached capture.

    ``text_pair`` is text B of a sentence pair (encoders), ``target`` the target text of an
    encoder-decoder (None generates one), and ``new_tokens`` how many tokens to generate:
    the target length of an encoder-decoder, or the tokens a decoder adds to the prompt (0: none).
    """

    model: str
    text: str
    text_pair: str | None = None
    target: str | None = None
    new_tokens: int = 0


@st.cache_resource(show_spinner=False)
def get_settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_shared_model(source: str, device: str | None = None, dtype: str | None = None) -> LoadedModel:
    """Load a model once per process and hardware choice; every browser session shares it (captures take its lock).

    ``device`` and ``dtype`` default to the server settings.
    """
    settings = get_settings()
    return load_model(
        source, device=device or settings.device, dtype=dtype or settings.dtype, policy=SourcePolicy.from_settings(settings)
    )


def hardware() -> tuple[str | None, str | None]:
    """Return the session's ``(device, dtype)`` override from the sidebar; None means the server setting."""
    return st.session_state.get(DEVICE_KEY), st.session_state.get(DTYPE_KEY)


# Captures are cached as shared resources, not copied per rerun like st.cache_data would
# (75 MB at 512 tokens): results are frozen dataclasses with read-only arrays.
@st.cache_resource(show_spinner=False, max_entries=32)
def _cached_capture(
    source: str,
    text: str,
    text_pair: str | None = None,
    target: str | None = None,
    new_tokens: int = 0,
    device: str | None = None,
    dtype: str | None = None,
) -> CaptureResult:
    settings = get_settings()
    validate_text(text, settings.max_characters)
    model = _load_shared_model(source, device, dtype)
    if any(extra is not None for extra in (text_pair, target)) or new_tokens:
        return capture_kind(model, text, text_pair, target, new_tokens, settings)
    return capture(
        model, text, max_tokens=settings.max_tokens, memory_limit_bytes=settings.max_capture_megabytes * 1024**2
    )


@st.cache_resource(show_spinner=False, max_entries=16)
def _cached_thumbnails(source: str, text: str, device: str | None = None, dtype: str | None = None) -> ThumbnailCapture:
    settings = get_settings()
    validate_text(text, settings.max_characters)
    return capture_thumbnails(_load_shared_model(source, device, dtype), text, max_tokens=settings.max_tokens)


def current_thumbnails() -> ThumbnailCapture | None:
    """Return pooled thumbnails of every head for the submitted request, or None where they cannot be made.

    None means the page should draw from a full capture instead, as for encoder-decoders
    and models outside transformers' attention interface. Only a failed check shows an error.
    """
    request = current_request()
    if shared_model(request.model) is None:
        return None
    try:
        return _cached_thumbnails(request.model, request.text, *hardware())
    except InputError as error:
        logger.info("Thumbnails unavailable for model %s: %s", request.model, error)
        return None
    except AtlasError as error:
        logger.warning("Thumbnail capture failed for model %s (%d characters): %s", request.model, len(request.text), error)
        st.error(error_text("capture.failed", error))
        return None


@st.cache_resource(show_spinner=False, max_entries=64)
def _cached_token_view(source: str, text: str, merge: bool, hide_special: bool) -> CaptureResult:
    return token_view(_cached_capture(source, text), merge=merge, hide_special=hide_special)


def request_key(request: Request) -> tuple:
    """Return the arguments of `_cached_capture` for a request, with the session's hardware choice."""
    return request.model, request.text, request.text_pair, request.target, request.new_tokens, *hardware()


def keep_widget_state() -> None:
    """Re-store page widget values so they survive switching pages (Streamlit drops unrendered widgets)."""
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(PERSISTENT_PREFIXES) and _is_settable(key):
            st.session_state[key] = st.session_state[key]


def _is_settable(key: str) -> bool:
    """Tell whether a script may assign ``key``: Streamlit raises for buttons, uploads and chart selections.

    NOTE: Streamlit 1.67 has no public way to ask, so this reads its key-to-widget map and
    widget metadata. Selection states are dicts, so they are recognised without internals.
    """
    if isinstance(st.session_state[key], Mapping):
        return False
    internal = get_session_state()._state
    widget_id = internal._key_id_mapper.get_id_from_key(key)
    metadata = internal._new_widget_state.widget_metadata.get(widget_id) if widget_id else None
    return metadata is None or metadata.value_type not in READ_ONLY_VALUE_TYPES


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
        render_kind_fields(request, get_settings().max_characters)
        submitted = st.form_submit_button(t("sidebar.run"), type="primary", width="stretch")
    if submitted:
        request = submitted_request(request, st.session_state[MODEL_FIELD_KEY].strip(), st.session_state[TEXT_FIELD_KEY])
        st.session_state[REQUEST_KEY] = request
    tokenisation_note(request.model, request.text)
    render_token_view_switches()
    render_hardware_choice()
    return request


def render_hardware_choice() -> None:
    """Draw the sidebar's device and dtype override; the server settings are the defaults."""
    settings = get_settings()
    with st.sidebar.expander(t("sidebar.hardware")):
        st.selectbox(
            t("sidebar.device"),
            [None, AUTO_DEVICE, *available_devices()],
            format_func=lambda device: t("sidebar.server_default", value=settings.device) if device is None else device,
            key=DEVICE_KEY,
            help=t("sidebar.device_help"),
        )
        st.selectbox(
            t("sidebar.dtype"),
            [None, *DTYPES],
            format_func=lambda dtype: t("sidebar.server_default", value=settings.dtype) if dtype is None else dtype,
            key=DTYPE_KEY,
            help=t("sidebar.dtype_help"),
        )


def render_token_view_switches() -> None:
    """Draw the two sidebar switches that every page's capture goes through: words and special tokens."""
    st.sidebar.toggle(t("view.merge_words"), key=MERGE_WORDS_KEY, help=t("view.merge_words_help"))
    st.sidebar.toggle(t("view.hide_special"), key=HIDE_SPECIAL_KEY, help=t("view.hide_special_help"))


def _with_token_view(request: Request, result: CaptureResult, show_rules: bool = True) -> CaptureResult:
    """Apply the sidebar's word and special-token switches to a capture, showing the rule when one is on and ``show_rules`` is set."""
    merge = bool(st.session_state.get(MERGE_WORDS_KEY, False))
    hide_special = bool(st.session_state.get(HIDE_SPECIAL_KEY, False))
    if not merge and not hide_special:
        return result
    if not is_single_text(result):
        st.caption(t("view.single_text_only"))
        return result
    try:
        viewed = _cached_token_view(request.model, request.text, merge, hide_special)
    except ValueError as error:
        logger.warning("Token view failed for model %s: %s", request.model, error)
        st.warning(error_text("view.failed", error))
        return result
    if merge and show_rules:
        st.caption(t("view.merge_words_rule"))
    if hide_special and show_rules:
        st.caption(t("view.hide_special_rule"))
    return viewed


def capture_for(request: Request, *, apply_token_view: bool = True, second: bool = False) -> CaptureResult | None:
    """Return the capture of any request (for example a second sentence or model), or show why there is none.

    A ``second`` capture on a page that already shows one leaves out what the first showed:
    the rules of the word and special-token switches, and the model's status when it is the
    same model.
    """
    show_status = not (second and request.model == current_request().model)
    model = shared_model(request.model, show_status=show_status)
    if model is None:
        return None
    try:
        result = _cached_capture(*request_key(request))
    except AtlasError as error:
        logger.warning("Capture failed for model %s (%d characters): %s", request.model, len(request.text), error)
        st.error(error_text("capture.failed", error))
        return None
    return _with_token_view(request, result, show_rules=not second) if apply_token_view else result


def shared_model(source: str, *, show_status: bool = True) -> LoadedModel | None:
    """Return the cached model, loading it with a progress indicator unless ``show_status`` is off; show the reason on failure."""
    model_name = literal_markdown(source or "all-MiniLM-L6-v2")
    status = st.status(t("load.status", model=model_name), expanded=False) if show_status else contextlib.nullcontext()
    try:
        with status:
            model = _load_shared_model(source, *hardware())
    except AtlasError as error:
        logger.warning("Model load failed for %s: %s", source, error)
        if show_status:
            status.update(label=t("load.failed_status", model=model_name), state="error")
        st.error(error_text("load.failed", error))
        return None
    if show_status:
        status.update(label=t("load.done", model=literal_markdown(model.source)), state="complete")
    if source == current_request().model:
        remember_kind(model)
    return model


def current_capture(*, apply_token_view: bool = True) -> CaptureResult | None:
    """Return the capture for the submitted request, or show why there is none and return None.

    The sidebar's word and special-token switches apply unless ``apply_token_view`` is False.
    """
    request = current_request()
    result = capture_for(request, apply_token_view=False)
    if result is None:
        return None
    if result.manifest.get("missing_note"):
        st.warning(t("capture.missing_layers", note=result.manifest["missing_note"]))
    if result.dropped_tokens:
        st.warning(t("capture.truncated", kept=result.num_tokens, dropped=result.dropped_tokens))
    st.caption(
        t(
            "capture.summary",
            model=literal_markdown(str(result.manifest.get("model"))),
            tokens=result.num_tokens,
            layers=result.num_layers,
            heads=result.num_heads,
            implementation=result.manifest.get("attn_implementation"),
        )
    )
    shown = _with_token_view(request, result) if apply_token_view else result
    render_manifest(shown.manifest)
    return shown
