"""Heads page: one head's heatmap beside the token-flow graph of its layer."""

import streamlit as st

from ui.downloads import render_downloads
from ui.payload import show_chart
from ui.routing import require_app_entry
from ui.selection import selected_cell, selected_token
from ui.session import current_capture
from ui.text import literal_markdown, t
from ui.views import add_kv_group_hover, choose_view, head_label
from viz.flow import token_flow_figure
from viz.heatmap import attention_heatmap

require_app_entry()

st.header(t("heads.title"))
st.caption(t("heads.intro"))
result = current_capture()
if result is None:
    st.stop()
view = choose_view(result, "heads")

if "heads.focus_request" in st.session_state:
    st.session_state["heads.focus"] = st.session_state.pop("heads.focus_request")

layer_column, head_column, rescale_column = st.columns([1, 1, 2])
if st.session_state.get("heads.layer") not in view.layers:
    st.session_state.pop("heads.layer", None)  # The decoder of a distilled model has fewer layers.
layer = layer_column.selectbox(t("heads.layer"), view.layers, key="heads.layer")
head = head_column.selectbox(
    t("heads.head"), range(result.num_heads), format_func=lambda head: head_label(result, head), key="heads.head"
)
rescale = rescale_column.toggle(t("heads.rescale"), key="heads.rescale", help=t("heads.rescale_help"))
layer_weights = view.attentions[view.layers.index(layer)]

heatmap_column, flow_column = st.columns(2)
with heatmap_column:
    heatmap = attention_heatmap(
        layer_weights[head],
        view.query_tokens,
        view.key_tokens,
        title=t("heads.heatmap_title", layer=layer, head=head),
        causal=view.causal,
        rescale=rescale,
        query_title=t("common.query"),
        key_title=t("common.key"),
        weight_title=t("common.weight"),
    )
    add_kv_group_hover(heatmap, result, head)
    event = show_chart(heatmap, key="heads.heatmap_chart", on_select="rerun", selection_mode="points")
    cell = selected_cell(event)
    if cell is not None:
        query, key = cell
        st.info(
            t(
                "heads.selected_cell",
                query=view.query_positions[query],
                query_token=literal_markdown(view.query_tokens[query]),
                key=view.key_positions[key],
                key_token=literal_markdown(view.key_tokens[key]),
                weight=float(layer_weights[head, query, key]),
            )
        )
    render_downloads(heatmap, result, f"attention-layer{layer}-head{head}", key="heads.heatmap_export")

with flow_column:
    if st.session_state.get("heads.flow_follows") != head:
        # A new head in the picker (or from a click elsewhere) resets the flow graph to that head.
        st.session_state["heads.flow_follows"] = head
        st.session_state["heads.flow_heads"] = [head]
    flow_heads = st.multiselect(
        t("heads.flow_heads"),
        list(range(result.num_heads)),
        default=[head],
        format_func=lambda head: head_label(result, head),
        placeholder=t("common.choose_heads"),
        key="heads.flow_heads",
    )
    threshold = st.slider(t("heads.threshold"), 0.0, 1.0, 0.1, 0.01, key="heads.threshold")
    focus_options = [None, *range(len(view.query_tokens))]
    if st.session_state.get("heads.focus") not in focus_options:
        st.session_state["heads.focus"] = None  # A focus from a longer view (another role or pair block).
    focus = st.selectbox(
        t("heads.focus"),
        focus_options,
        format_func=lambda position: t("heads.focus_none") if position is None else f"{position}: {view.query_tokens[position]}",
        placeholder=t("heads.focus_none"),
        key="heads.focus",
    )
    flow = token_flow_figure(
        layer_weights,
        view.query_tokens,
        view.key_tokens,
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
