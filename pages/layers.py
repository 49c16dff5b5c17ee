"""Token flow across layers: attention rollout and attention flow as a layered graph and heatmaps."""

import numpy as np
import streamlit as st

from analysis.flow import (
    EXACT_FLOW_MAX_TOKENS,
    FLOW_MATRIX_MAX_TOKENS,
    FLOW_TRACE_MAX_TOKENS,
    FlowSolver,
    choose_flow_method,
)
from analysis.rollout import HEAD_FUSIONS, attention_rollout, fuse_heads, residual_attention, traced_shares
from ui.analysis import keep_valid_choice, matrix_frame, render_table_download, result_key, selected_node
from ui.downloads import render_downloads
from ui.payload import show_chart
from ui.routing import require_app_entry
from ui.session import current_capture
from ui.text import t
from viz.heatmap import attention_heatmap
from viz.layer_flow import layer_flow_figure

require_app_entry()

ROLLOUT, FLOW = "rollout", "flow"


@st.cache_data(show_spinner=False, max_entries=16)
def _layers(_result, key: str, fusion: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the residual-augmented layers ``[layer, query, key]`` and the rollout after every layer."""
    return residual_attention(fuse_heads(_result.attentions, fusion)), attention_rollout(_result.attentions, fusion)


@st.cache_data(show_spinner=False, max_entries=32)
def _flow_trace(_capacities, key: str, fusion: str, level: int, token: int, method: str) -> np.ndarray:
    flows = FlowSolver(_capacities, method).flows_from(level, token)
    top = np.zeros((1, flows.shape[1]))
    top[0, token] = 1.0
    return np.vstack([flows, top])


@st.cache_data(show_spinner=False, max_entries=16)
def _flow_matrix(_capacities, key: str, fusion: str, level: int, method: str) -> np.ndarray:
    return FlowSolver(_capacities, method).input_matrix(level)


st.header(t("layers.title"))
st.caption(t("layers.intro"))
result = current_capture()
if result is None:
    st.stop()
if result.num_layers == 0:
    st.info(t("layers.no_layers"))
    st.stop()
key = result_key(result)
levels = result.num_layers + 1
level_names = [t("layers.input")] + [f"{t('common.layer')} {layer}" for layer in result.layers]

# Defaults go into session state, not the widgets: a widget given both a default and a
# session value (as keep_widget_state() leaves after a page switch) makes Streamlit warn.
st.session_state.setdefault("layers.edges", 2)
for name in ("layers.trace_level", "layers.matrix_level"):
    if st.session_state.get(name) not in range(1, levels):
        st.session_state[name] = levels - 1
keep_valid_choice("layers.trace_token", [None, *range(result.num_tokens)], None)
if "layers.trace_request" in st.session_state:
    st.session_state["layers.trace_level"], st.session_state["layers.trace_token"] = st.session_state.pop("layers.trace_request")

method_column, fusion_column, edges_column = st.columns([2, 1, 1])
method = method_column.radio(
    t("layers.method"), (ROLLOUT, FLOW), format_func=lambda name: t(f"layers.{name}"), key="layers.method", horizontal=True
)
fusion = fusion_column.selectbox(
    t("layers.fusion"), HEAD_FUSIONS, format_func=lambda name: t(f"layers.fusion_{name}"), key="layers.fusion",
    help=t("layers.fusion_help"),
)
per_node = edges_column.slider(t("layers.edges"), 1, 5, key="layers.edges")
level_column, token_column = st.columns(2)
trace_level = level_column.selectbox(
    t("layers.trace_level"), range(1, levels), format_func=lambda level: level_names[level], key="layers.trace_level"
)
trace_token = token_column.selectbox(
    t("layers.trace_token"), [None, *range(result.num_tokens)],
    format_func=lambda position: t("layers.trace_none") if position is None else f"{position}: {result.tokens[position]}",
    key="layers.trace_token",
)
st.caption(t(f"layers.{method}_rule"))
if result.is_causal:
    st.info(t("layers.decoder_note"))

capacities, rollout = _layers(result, key, fusion)
traced = None if trace_token is None else (trace_level, trace_token)
node_values = None
flow_method = choose_flow_method(result.num_tokens)
if method == FLOW:
    st.caption(t("layers.flow_method", exact=EXACT_FLOW_MAX_TOKENS, method=t(f"layers.flow_{flow_method}")))
if traced is not None and method == ROLLOUT:
    node_values = traced_shares(capacities, *traced)
elif traced is not None and result.num_tokens > FLOW_TRACE_MAX_TOKENS:
    st.warning(t("layers.flow_too_long", tokens=result.num_tokens, limit=FLOW_TRACE_MAX_TOKENS))
    traced = None
elif traced is not None:
    with st.spinner(t("layers.flow_running")):
        node_values = _flow_trace(capacities, key, fusion, *traced, flow_method)

graph = layer_flow_figure(
    capacities,
    result.tokens,
    level_names=level_names,
    per_node=per_node,
    traced=traced,
    node_values=node_values,
    title=t("layers.graph_title"),
    value_label=t(f"layers.{method}_share"),
)
event = show_chart(graph, key="layers.graph_chart", on_select="rerun", selection_mode="points")
clicked = selected_node(event)
if clicked is not None and clicked[0] > 0 and clicked != traced:
    st.session_state["layers.trace_request"] = clicked
    st.rerun()
st.caption(t("layers.graph_help"))
counts = graph.layout.meta or {}
if counts.get("edges_shown", 0) < counts.get("edges_total", 0):
    st.caption(t("layers.edges_thinned", shown=counts["edges_shown"], total=counts["edges_total"]))
render_downloads(graph, result, f"token-flow-layers-{method}", key="layers.graph_export")

st.subheader(t(f"layers.{method}_matrix"))
matrix_level = st.selectbox(
    t("layers.matrix_level"), range(1, levels), format_func=lambda level: level_names[level], key="layers.matrix_level"
)
if method == ROLLOUT:
    matrix = rollout[matrix_level - 1]
elif result.num_tokens > FLOW_MATRIX_MAX_TOKENS:
    st.info(t("layers.flow_matrix_too_long", tokens=result.num_tokens, limit=FLOW_MATRIX_MAX_TOKENS))
    st.stop()
else:
    with st.spinner(t("layers.flow_running")):
        matrix = _flow_matrix(capacities, key, fusion, matrix_level, flow_method)
heatmap = attention_heatmap(
    matrix,
    result.tokens,
    title=t(f"layers.{method}_heatmap_title", level=level_names[matrix_level]),
    causal=result.is_causal,
    query_title=t("layers.output_token"),
    key_title=t("layers.input_token"),
    weight_title=t(f"layers.{method}_share"),
    clickable=False,
)
show_chart(heatmap, key="layers.matrix_chart")
matrix_name = f"{method}-level{matrix_level}"
render_downloads(heatmap, result, matrix_name, key="layers.matrix_export")
render_table_download(matrix_frame(matrix, result.tokens), result, matrix_name, key="layers.matrix_csv")
