"""Heads page: one head's heatmap beside the token-flow graph of its layer."""

import streamlit as st

from ui.downloads import render_downloads
from ui.payload import show_chart
from ui.routing import require_app_entry
from ui.selection import selected_cell, selected_token
from ui.session import current_capture
from ui.text import t
from viz.flow import token_flow_figure
from viz.heatmap import attention_heatmap

require_app_entry()

st.header(t("heads.title"))
st.caption(t("heads.intro"))
result = current_capture()
if result is None:
    st.stop()

if "heads.focus_request" in st.session_state:
    st.session_state["heads.focus"] = st.session_state.pop("heads.focus_request")

layer_column, head_column, rescale_column = st.columns([1, 1, 2])
layer = layer_column.selectbox(t("heads.layer"), result.layers, key="heads.layer")
head = head_column.selectbox(t("heads.head"), range(result.num_heads), key="heads.head")
rescale = rescale_column.toggle(t("heads.rescale"), key="heads.rescale", help=t("heads.rescale_help"))
layer_weights = result.layer(layer)

heatmap_column, flow_column = st.columns(2)
with heatmap_column:
    heatmap = attention_heatmap(
        layer_weights[head],
        result.tokens,
        title=t("heads.heatmap_title", layer=layer, head=head),
        causal=result.is_causal,
        rescale=rescale,
        query_title=t("common.query"),
        key_title=t("common.key"),
        weight_title=t("common.weight"),
    )
    event = show_chart(heatmap, key="heads.heatmap_chart", on_select="rerun", selection_mode="points")
    cell = selected_cell(event)
    if cell is not None:
        query, key = cell
        st.info(
            t(
                "heads.selected_cell",
                query=query,
                query_token=result.tokens[query],
                key=key,
                key_token=result.tokens[key],
                weight=float(layer_weights[head, query, key]),
            )
        )
    render_downloads(heatmap, result, f"attention-layer{layer}-head{head}", key="heads.heatmap_export")

with flow_column:
    flow_heads = st.multiselect(
        t("heads.flow_heads"), list(range(result.num_heads)), default=[head], key="heads.flow_heads"
    )
    threshold = st.slider(t("heads.threshold"), 0.0, 1.0, 0.1, 0.01, key="heads.threshold")
    focus_options = [None, *range(result.num_tokens)]
    focus = st.selectbox(
        t("heads.focus"),
        focus_options,
        format_func=lambda position: t("heads.focus_none") if position is None else f"{position}: {result.tokens[position]}",
        key="heads.focus",
    )
    flow = token_flow_figure(
        layer_weights,
        result.tokens,
        heads=flow_heads,
        threshold=threshold,
        focus=focus,
        title=t("heads.flow_title", layer=layer),
        head_label=t("common.head"),
        query_label=t("common.query"),
        key_label=t("common.key"),
        strongest_label=t("heads.flow_strongest_keys"),
    )
    flow_event = show_chart(flow, key="heads.flow_chart", on_select="rerun", selection_mode="points")
    clicked = selected_token(flow_event)
    if clicked is not None and clicked != focus:
        st.session_state["heads.focus_request"] = clicked
        st.rerun()
    render_downloads(flow, result, f"token-flow-layer{layer}", key="heads.flow_export")
