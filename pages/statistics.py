"""Head statistics page: what kind of pattern every head has, as heatmaps and one sortable table."""

import numpy as np
import streamlit as st

from analysis.statistics import STATISTICS, head_statistics, punctuation_mask, similar_heads
from ui.analysis import keep_valid_choice, render_table_download, result_key, selected_head
from ui.downloads import render_downloads
from ui.payload import show_chart
from ui.routing import require_app_entry
from ui.session import current_capture
from ui.text import t
from viz.grid import heads_side_by_side
from viz.statistics import statistics_figure, statistics_frame

require_app_entry()

MAX_SHOWN_SIMILAR = 3


@st.cache_data(show_spinner=False, max_entries=16)
def _statistics(_result, key: str, skip_first: bool):
    punctuation = punctuation_mask(_result.tokens, _result.special_mask)
    return head_statistics(
        _result.attentions, _result.special_mask, punctuation,
        causal=_result.is_causal, layers=_result.layers, skip_first=skip_first,
    )


@st.cache_data(show_spinner=False, max_entries=32)
def _similar(_result, key: str, layer_index: int, head: int, count: int):
    return similar_heads(_result.attentions, layer_index, head, count)


def open_head(layer: int, head: int) -> None:
    st.session_state["heads.layer"], st.session_state["heads.head"] = layer, head
    st.switch_page("pages/heads.py")


st.header(t("stats.title"))
st.caption(t("stats.intro"))
result = current_capture()
if result is None:
    st.stop()

skip_first = st.toggle(t("stats.skip_first"), key="stats.skip_first", help=t("stats.skip_first_help"))
statistics = _statistics(result, result_key(result), skip_first)
titles = {name: t(f"stats.{name}") for name in STATISTICS}
with st.expander(t("stats.definitions")):
    for name in STATISTICS:
        st.markdown(t("stats.definition", statistic=titles[name], definition=t(f"stats.{name}_help")))

figure = statistics_figure(
    statistics.values, result.layers, titles, layer_label=t("common.layer"), head_label=t("common.head")
)
event = show_chart(figure, key="stats.figure_chart", on_select="rerun", selection_mode="points")
clicked = selected_head(event)
if clicked is not None:
    open_head(*clicked)
render_downloads(figure, result, "head-statistics", key="stats.figure_export")

st.subheader(t("stats.table"))
st.caption(t("stats.table_help"))
frame = statistics_frame(statistics.values, result.layers, titles)
# The frame keeps "layer" and "head" as column names for the CSV; only the screen translates them.
header_labels = {"layer": t("common.layer"), "head": t("common.head")}
table = st.dataframe(
    frame.round(4), key="stats.table_view", on_select="rerun", selection_mode="single-row", hide_index=True,
    column_config=header_labels,
)
rows = table.selection.rows if table is not None else []
if rows:
    picked = frame.iloc[rows[0]]
    open_head(int(picked["layer"]), int(picked["head"]))
render_table_download(frame, result, "head-statistics", key="stats.table_csv")

st.subheader(t("stats.similar"))
st.caption(t("stats.similar_help"))
keep_valid_choice("stats.similar_layer", result.layers, result.layers[0])
keep_valid_choice("stats.similar_head", range(result.num_heads), 0)
layer_column, head_column, count_column = st.columns([1, 1, 2])
layer = layer_column.selectbox(t("heads.layer"), result.layers, key="stats.similar_layer")
head = head_column.selectbox(t("heads.head"), range(result.num_heads), key="stats.similar_head")
other_heads = max(1, result.num_layers * result.num_heads - 1)
if not 1 <= st.session_state.get("stats.similar_count", 0) <= min(20, other_heads):
    st.session_state["stats.similar_count"] = min(5, other_heads)
count = count_column.slider(t("stats.similar_count"), 1, min(20, other_heads), key="stats.similar_count")
layer_index = result.layers.index(layer)
ranked = _similar(result, result_key(result), layer_index, head, count)
similar_frame = statistics_frame(statistics.values, result.layers, titles)
similar_frame = similar_frame.set_index(["layer", "head"]).loc[[(result.layers[index], other) for index, other, _ in ranked]]
similar_frame.insert(0, t("stats.similarity"), [round(score, 4) for _, _, score in ranked])
similar_frame = similar_frame.reset_index()
st.dataframe(similar_frame.round(4), key="stats.similar_table", hide_index=True, column_config=header_labels)
render_table_download(similar_frame, result, f"heads-like-layer{layer}-head{head}", key="stats.similar_csv")

shown = ranked[:MAX_SHOWN_SIMILAR]
matrices = [result.attentions[layer_index, head]] + [result.attentions[index, other] for index, other, _ in shown]
panel_titles = [t("stats.reference", layer=layer, head=head)] + [
    t("stats.similar_panel", layer=result.layers[index], head=other, similarity=score) for index, other, score in shown
]
comparison = heads_side_by_side(
    np.asarray(matrices),
    panel_titles,
    result.tokens,
    causal=result.is_causal,
    query_title=t("common.query"),
    key_title=t("common.key"),
    weight_title=t("common.weight"),
)
show_chart(comparison, key="stats.similar_chart")
render_downloads(comparison, result, f"heads-like-layer{layer}-head{head}", key="stats.similar_export")
