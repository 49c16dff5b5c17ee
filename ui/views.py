"""Controls that pick which attention a page shows: encoder/decoder/cross, pair blocks, the first-token switch."""

from __future__ import annotations

import dataclasses

import plotly.graph_objects as go
import streamlit as st

from analysis.views import (
    CROSS,
    DECODER_SELF,
    ENCODER_SELF,
    AttentionView,
    first_token_share,
    hide_first_token,
    role_view,
    segment_view,
)

from .text import t

# Pair filters: (query segment, key segment); None shows the whole pair.
PAIR_FILTERS = {"all": None, "AA": (0, 0), "AB": (0, 1), "BA": (1, 0), "BB": (1, 1)}
ROLES = (ENCODER_SELF, DECODER_SELF, CROSS)


def choose_view(result, prefix: str) -> AttentionView:
    """Draw the view controls that apply to this capture and return the chosen view.

    Encoder-decoders switch between encoder self, decoder self and cross attention. Sentence
    pairs filter to one block (A→B: rows of text A, columns of text B). Causal views get a
    switch that hides the first token and renormalises the rows.
    """
    view = role_view(result)
    if result.cross_attentions is not None:
        role = st.radio(
            t("views.role"), ROLES, format_func=lambda name: t(f"views.role_{name}"), key=f"{prefix}.role", horizontal=True,
            help=t("views.role_help"),
        )
        view = role_view(result, role)
    elif result.segment_ids is not None and len(set(result.segment_ids)) == 2:
        pair = st.radio(
            t("views.pair"), list(PAIR_FILTERS), format_func=lambda name: t(f"views.pair_{name}"), key=f"{prefix}.pair",
            horizontal=True, help=t("views.pair_help"),
        )
        if PAIR_FILTERS[pair] is not None:
            view = segment_view(view, result.segment_ids, *PAIR_FILTERS[pair])
    if view.causal:
        hide = st.toggle(t("views.hide_first"), key=f"{prefix}.hide_first", help=t("views.hide_first_help"))
        if hide:
            st.caption(t("views.hide_first_note", share=first_token_share(view.attentions)))
            view = dataclasses.replace(view, attentions=hide_first_token(view.attentions))
    return view


def head_label(result, head: int) -> str:
    """Label a head for pickers, with its key/value group under grouped-query attention."""
    if result.kv_groups is None:
        return str(head)
    return t("views.head_with_group", head=head, group=result.kv_groups[head])


def add_kv_group_hover(figure: go.Figure, result, head: int) -> go.Figure:
    """Add the head's key/value group to the hover text of every heatmap trace of ``figure``."""
    if result.kv_groups is None:
        return figure
    line = t("views.kv_group_hover", group=result.kv_groups[head], kv_heads=max(result.kv_groups) + 1)
    for trace in figure.data:
        template = getattr(trace, "hovertemplate", None)
        if isinstance(trace, go.Heatmap) and template and "<extra>" in template:
            trace.hovertemplate = template.replace("<extra>", f"<br>{line}<extra>", 1)
    return figure


def choose_square_view(result, prefix: str) -> AttentionView:
    """Return the self-attention to show in views that need square matrices.

    Encoder-decoders get a switch between encoder and decoder self-attention. Cross-attention
    has a different token count on each axis, so those views leave it to the Heads page.
    """
    if result.decoder_attentions is None:
        return role_view(result)
    role = st.radio(
        t("views.role"), (ENCODER_SELF, DECODER_SELF), format_func=lambda name: t(f"views.role_{name}"),
        key=f"{prefix}.role", horizontal=True, help=t("views.square_role_help"),
    )
    return role_view(result, role)
