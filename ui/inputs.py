"""The inputs that depend on the model's kind: text B for encoders, a target for encoder-decoders, generation."""

from __future__ import annotations

import dataclasses
import logging

import streamlit as st

from model_utils import CaptureResult, LoadedModel, capture
from model_utils.capture import DEFAULT_TARGET_TOKENS
from model_utils.families import DECODER_ONLY, ENCODER_DECODER, ENCODER_ONLY, model_kind
from model_utils.generation import MAX_NEW_TOKENS, capture_generation

from .text import t

logger = logging.getLogger(__name__)

MODEL_KIND_KEY = "atlas.model_kind"
TEXT_PAIR_FIELD_KEY = "atlas.text_pair_field"
TARGET_FIELD_KEY = "atlas.target_field"
TARGET_TOKENS_FIELD_KEY = "atlas.target_tokens_field"


def remember_kind(model: LoadedModel) -> None:
    """Store the loaded model's kind; when it changed, rerun so the sidebar shows that kind's fields."""
    kind = model_kind(model.config)
    previous = st.session_state.get(MODEL_KIND_KEY)
    st.session_state[MODEL_KIND_KEY] = kind
    if previous is not None and previous != kind:
        logger.info("Model kind changed from %s to %s; redrawing the sidebar", previous, kind)
        st.rerun()


def current_kind() -> str | None:
    return st.session_state.get(MODEL_KIND_KEY)


def render_kind_fields(request, max_characters: int) -> None:
    """Draw, inside the sidebar form, the fields that the loaded model's kind uses."""
    kind = current_kind()
    if kind == ENCODER_ONLY:
        st.session_state.setdefault(TEXT_PAIR_FIELD_KEY, request.text_pair or "")
        st.text_area(
            t("sidebar.text_pair"), key=TEXT_PAIR_FIELD_KEY, help=t("sidebar.text_pair_help"), height=80, max_chars=max_characters
        )
    elif kind == ENCODER_DECODER:
        st.session_state.setdefault(TARGET_FIELD_KEY, request.target or "")
        st.session_state.setdefault(TARGET_TOKENS_FIELD_KEY, request.new_tokens or DEFAULT_TARGET_TOKENS)
        st.text_area(t("sidebar.target"), key=TARGET_FIELD_KEY, help=t("sidebar.target_help"), height=80, max_chars=max_characters)
        st.number_input(
            t("sidebar.target_tokens"), 1, MAX_NEW_TOKENS, key=TARGET_TOKENS_FIELD_KEY, help=t("sidebar.target_tokens_help")
        )


def submitted_request(request, model: str, text: str):
    """Build the request from the submitted form; fields another kind of model uses keep their values."""
    kind = current_kind()
    text_pair, target, new_tokens = request.text_pair, request.target, request.new_tokens
    if kind == ENCODER_ONLY:
        text_pair = st.session_state.get(TEXT_PAIR_FIELD_KEY, "").strip() or None
    elif kind == ENCODER_DECODER:
        target = st.session_state.get(TARGET_FIELD_KEY, "").strip() or None
        new_tokens = int(st.session_state.get(TARGET_TOKENS_FIELD_KEY, DEFAULT_TARGET_TOKENS))
    return dataclasses.replace(request, model=model, text=text, text_pair=text_pair, target=target, new_tokens=new_tokens)


def capture_kind(model: LoadedModel, text: str, text_pair: str | None, target: str | None, new_tokens: int, settings) -> CaptureResult:
    """Capture what this model's kind uses from a request and ignore the rest.

    Encoders take text B, decoders generate ``new_tokens`` tokens when it is above 0, and
    encoder-decoders take a target or generate one of up to ``new_tokens`` tokens. Layers
    without weights are left out and named, so the pages still show the others.
    """
    kind = model_kind(model.config)
    if kind == DECODER_ONLY and new_tokens > 0:
        return capture_generation(model, text, new_tokens, max_tokens=settings.max_tokens)
    if kind == ENCODER_DECODER:
        return capture(
            model, text, target=target, max_new_tokens=new_tokens or DEFAULT_TARGET_TOKENS, max_tokens=settings.max_tokens,
            allow_missing=True,
        )
    pair = text_pair if kind == ENCODER_ONLY else None
    return capture(model, text, pair, max_tokens=settings.max_tokens, allow_missing=True)


def is_single_text(result: CaptureResult) -> bool:
    """Tell whether a capture contains one plain text: no pair, no target and no generated tokens."""
    return result.segment_ids is None and result.target_tokens is None and result.prompt_length is None


def with_new_tokens(request, new_tokens: int):
    """Return the request with a new generation length (0 shows the prompt alone)."""
    return dataclasses.replace(request, new_tokens=new_tokens)
