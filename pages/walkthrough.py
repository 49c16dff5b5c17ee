"""Q·K walk-through page: softmax(QKᵀ/√d_k)V for one head and one query, from the model's own vectors."""

import numpy as np
import streamlit as st

from analysis.walkthrough import attention_steps
from model_utils import AtlasError
from model_utils.qk import capture_query_key
from ui.analysis import keep_valid_choice, render_table_download
from ui.downloads import render_downloads
from ui.payload import show_chart
from ui.routing import require_app_entry
from ui.session import _load_shared_model, current_capture, current_request, hardware
from ui.text import error_text, literal_markdown, t
from viz.walkthrough import steps_figure, steps_frame, vectors_figure

require_app_entry()

# The captured weights and the recomputed softmax agree to float32 rounding.
MATCH_TOLERANCE = 1e-5


@st.cache_data(show_spinner=False, max_entries=8)
def _query_key(source: str, text: str, token_ids: tuple, segment_ids: tuple | None, device: str | None, dtype: str | None):
    # The model is already loaded and cached: current_capture() above loaded it. The capture's
    # own token ids are run, so generated tokens and sentence pairs line up with it.
    loaded = _load_shared_model(source, device, dtype)
    return capture_query_key(loaded, text, token_ids=token_ids, segment_ids=segment_ids)


st.header(t("walkthrough.title"))
st.caption(t("walkthrough.intro"))
result = current_capture(apply_token_view=False)
if result is None:
    st.stop()
if st.session_state.get("atlas.merge_words") or st.session_state.get("atlas.hide_special"):
    st.info(t("walkthrough.pieces_note"))

request = current_request()
try:
    record = _query_key(request.model, request.text, result.token_ids, result.segment_ids, *hardware())
except AtlasError as error:
    st.error(error_text("walkthrough.failed", error))
    st.stop()
if record.token_ids != result.token_ids:
    st.error(t("walkthrough.token_mismatch", recorded=len(record.token_ids), captured=result.num_tokens))
    st.stop()

keep_valid_choice("walkthrough.layer", result.layers, result.layers[0])
keep_valid_choice("walkthrough.head", range(result.num_heads), 0)
keep_valid_choice("walkthrough.query", range(result.num_tokens), 0)
layer_column, head_column, query_column = st.columns(3)
layer = layer_column.selectbox(t("heads.layer"), result.layers, key="walkthrough.layer")
head = head_column.selectbox(t("heads.head"), range(result.num_heads), key="walkthrough.head")
query = query_column.selectbox(
    t("walkthrough.query"), range(result.num_tokens), format_func=lambda position: f"{position}: {result.tokens[position]}",
    key="walkthrough.query",
)
layer_index = result.layers.index(layer)
head_dim = record.head_dim
scaling = record.scalings[layer]
steps = attention_steps(record.queries[layer, head, query], record.keys[layer, head], record.masks[layer, query], scaling)
heatmap_row = result.attentions[layer_index, head, query]

st.latex(
    r"\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^{\top}}{\sqrt{d_k}} + M\right) V,"
    rf"\qquad d_k = {head_dim},\ \sqrt{{d_k}} = {np.sqrt(head_dim):.4f}"
)
if not np.isclose(scaling, head_dim ** -0.5, rtol=1e-6):
    st.info(t("walkthrough.custom_scaling", scaling=f"{scaling:.6g}", expected=f"{head_dim ** -0.5:.6g}"))
if record.kv_heads < result.num_heads:
    group = head // (result.num_heads // record.kv_heads)
    st.caption(t("walkthrough.gqa", heads=result.num_heads, kv_heads=record.kv_heads, head=head, group=group))

st.subheader(t("walkthrough.vectors"))
st.caption(t("walkthrough.vectors_help", token=literal_markdown(result.tokens[query]), dim=head_dim))
output = steps.weights @ record.values[layer, head].astype(np.float64)
vectors = vectors_figure(
    steps.query, steps.keys, result.tokens, query_label=t("walkthrough.query_vector", token=result.tokens[query]),
    output=output, output_label=t("walkthrough.output_vector"), dimension_title=t("walkthrough.dimension"),
    key_label=t("common.key"),
)
show_chart(vectors, key="walkthrough.vectors_chart")
render_downloads(vectors, result, f"qk-vectors-layer{layer}-head{head}-query{query}", key="walkthrough.vectors_export")

st.subheader(t("walkthrough.steps"))
st.caption(t("walkthrough.steps_help", scaling=f"{scaling:.6g}"))
titles = {name: t(f"walkthrough.step_{name}") for name in ("raw", "scaled", "masked", "weights")}
chart = steps_figure(steps, result.tokens, titles, key_label=t("common.key"))
show_chart(chart, key="walkthrough.steps_chart")
render_downloads(chart, result, f"qk-steps-layer{layer}-head{head}-query{query}", key="walkthrough.steps_export")

difference = float(np.abs(steps.weights - heatmap_row).max())
if difference <= MATCH_TOLERANCE:
    st.success(t("walkthrough.match", difference=f"{difference:.1e}"))
else:
    st.warning(t("walkthrough.mismatch", difference=f"{difference:.1e}", tolerance=f"{MATCH_TOLERANCE:.0e}"))

columns = {name: t(f"walkthrough.column_{name}") for name in ("position", "token", "raw", "scaled", "mask", "masked", "weights", "heatmap")}
table = steps_frame(steps, result.tokens, heatmap_row, columns)
st.dataframe(table, key="walkthrough.table", hide_index=True)
render_table_download(table, result, f"qk-steps-layer{layer}-head{head}-query{query}", key="walkthrough.table_csv")
