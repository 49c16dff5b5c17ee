"""Comparison page: two sentences on one model, or one sentence on two models, head by head."""

import numpy as np
import pandas as pd
import streamlit as st

from analysis.compare import compare_attention
from ui.analysis import keep_valid_choice, render_table_download, selected_head
from ui.downloads import render_downloads
from ui.payload import show_chart
from ui.routing import require_app_entry
from ui.session import MERGE_WORDS_KEY, Request, capture_for, current_capture, current_request
from ui.text import error_text, t
from viz.compare import head_distance_figure
from viz.grid import heads_side_by_side

require_app_entry()

SENTENCES, MODELS = "sentences", "models"
DEFAULT_SECOND_TEXT = "The dog sat on the rug because it was hungry."


def aligned_labels(first_tokens, second_tokens, count: int) -> list[str]:
    """Label each shared position with its token, or with both tokens where they differ."""
    labels = []
    for position in range(count):
        first, second = first_tokens[position], second_tokens[position]
        labels.append(first if first == second else f"{first} | {second}")
    return labels


st.header(t("compare.title"))
st.caption(t("compare.intro"))
mode = st.radio(
    t("compare.mode"), (SENTENCES, MODELS), format_func=lambda name: t(f"compare.mode_{name}"), key="compare.mode",
    horizontal=True,
)
request = current_request()
if mode == SENTENCES:
    st.session_state.setdefault("compare.second_text", DEFAULT_SECOND_TEXT)
    second_text = st.text_area(t("compare.second_text"), key="compare.second_text", height=80)
    second_request = Request(request.model, second_text)
    first_name, second_name = t("compare.first_sentence"), t("compare.second_sentence")
else:
    second_model = st.text_input(t("compare.second_model"), key="compare.second_model", help=t("compare.second_model_help"))
    if not second_model.strip():
        st.info(t("compare.second_model_hint"))
        st.stop()
    second_request = Request(second_model.strip(), request.text)
    first_name, second_name = t("compare.first_model"), t("compare.second_model_name")

first = current_capture()
if first is None:
    st.stop()
second = capture_for(second_request, second=True)
if second is None:
    st.stop()
if mode == MODELS and first.token_ids != second.token_ids:
    st.error(t("compare.tokenizers_differ", first=first.num_tokens, second=second.num_tokens))
    st.stop()
if first.layers != second.layers:
    st.error(t("compare.layers_differ", first=len(first.layers), second=len(second.layers)))
    st.stop()
try:
    comparison = compare_attention(first.attentions, second.attentions)
except ValueError as error:
    st.error(error_text("compare.failed", error))
    st.stop()
if not comparison.same_length:
    # With the word switch on, the captures count words.
    length_key = "compare.length_differs_words" if st.session_state.get(MERGE_WORDS_KEY) else "compare.length_differs"
    st.warning(t(length_key, first=comparison.first_tokens, second=comparison.second_tokens, shared=comparison.num_tokens))

if "compare.head_request" in st.session_state:
    st.session_state["compare.layer"], st.session_state["compare.head"] = st.session_state.pop("compare.head_request")

st.subheader(t("compare.distance"))
st.caption(t("compare.distance_help"))
distance = head_distance_figure(
    comparison.head_distance, first.layers, title=t("compare.distance_title", first=first_name, second=second_name),
    value_label=t("compare.distance_value"), layer_label=t("common.layer"), head_label=t("common.head"),
)
event = show_chart(distance, key="compare.distance_chart", on_select="rerun", selection_mode="points")
clicked = selected_head(event)
if clicked is not None and clicked != (st.session_state.get("compare.layer"), st.session_state.get("compare.head")):
    st.session_state["compare.head_request"] = clicked
    st.rerun()
render_downloads(distance, first, "compare-head-distance", key="compare.distance_export")
table = pd.DataFrame(
    {
        "layer": np.repeat(np.asarray(first.layers), first.num_heads),
        "head": np.tile(np.arange(first.num_heads), first.num_layers),
        t("compare.distance_value"): comparison.head_distance.ravel(),
        t("compare.max_difference"): comparison.max_abs_difference.ravel(),
    }
)
render_table_download(table, first, "compare-head-distance", key="compare.distance_csv")

keep_valid_choice("compare.layer", first.layers, first.layers[0])
keep_valid_choice("compare.head", range(first.num_heads), 0)
layer_column, head_column = st.columns(2)
layer = layer_column.selectbox(t("heads.layer"), first.layers, key="compare.layer")
head = head_column.selectbox(t("heads.head"), range(first.num_heads), key="compare.head")
layer_index = first.layers.index(layer)
count = comparison.num_tokens
matrices = [
    first.attentions[layer_index, head, :count, :count],
    second.attentions[layer_index, head, :count, :count],
]
titles = [f"{first_name} · {t('common.layer')} {layer} · {t('common.head')} {head}", f"{second_name}"]
figure = heads_side_by_side(
    matrices,
    titles,
    aligned_labels(first.tokens, second.tokens, count),
    causal=first.is_causal,
    difference=comparison.difference(layer_index, head),
    difference_title=t("compare.difference", first=first_name, second=second_name),
    query_title=t("common.query"),
    key_title=t("common.key"),
    weight_title=t("common.weight"),
)
show_chart(figure, key="compare.heads_chart")
render_downloads(figure, first, f"compare-layer{layer}-head{head}", key="compare.heads_export")
