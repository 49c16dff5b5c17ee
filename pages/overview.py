"""Model overview page: every layer × head as thumbnails, and chosen heads side by side."""

import streamlit as st

from ui.downloads import render_downloads
from ui.payload import show_chart
from ui.routing import require_app_entry
from ui.selection import selected_head
from ui.session import current_capture, current_thumbnails
from ui.text import t
from ui.views import choose_square_view
from viz.grid import head_grid_figure, heads_side_by_side

require_app_entry()

MAX_COMPARED_HEADS = 4

st.header(t("overview.title"))
st.caption(t("overview.intro"))
result = current_capture()
# A capture too large to keep whole (it failed the memory check) still gets thumbnails,
# pooled layer by layer while the model runs.
thumbnails = current_thumbnails() if result is None else None
if result is None and thumbnails is None:
    st.stop()
if thumbnails is not None:
    st.info(t("overview.thumbnails_only", tokens=thumbnails.num_tokens))

source = result if result is not None else thumbnails
# Encoder-decoders pick encoder or decoder self-attention here; both are square.
view = choose_square_view(result, "overview") if result is not None else None
grid = head_grid_figure(
    view.attentions if view is not None else thumbnails.thumbnails,
    view.layers if view is not None else source.layers,
    causal=view.causal if view is not None else source.is_causal,
    layer_label=t("common.layer"),
    head_label=t("common.head"),
    query_label=t("common.query"),
    key_label=t("common.key"),
    weight_title=t("common.weight"),
    token_count=len(view.query_tokens) if view is not None else source.num_tokens,
)
event = show_chart(grid, key="overview.grid_chart", on_select="rerun", selection_mode="points")
clicked = selected_head(event)
if clicked is not None:
    st.session_state["heads.layer"], st.session_state["heads.head"] = clicked
    st.switch_page("pages/heads.py")
if result is None:
    st.stop()
render_downloads(grid, result, "model-overview", key="overview.grid_export")

st.subheader(t("overview.compare"))
choices = [(layer, head) for layer in view.layers for head in range(result.num_heads)]
picked = st.multiselect(
    t("overview.pick"),
    choices,
    default=choices[:2],
    format_func=lambda pair: f"{t('common.layer')} {pair[0]} · {t('common.head')} {pair[1]}",
    key="overview.compare_heads",
    help=t("overview.compare_help"),
    placeholder=t("common.choose_heads"),
)
if len(picked) < 2:
    st.info(t("overview.pick_hint"))
    st.stop()
if len(picked) > MAX_COMPARED_HEADS:
    st.warning(t("overview.pick_limit", count=len(picked)))
    st.stop()

matrices = [view.attentions[view.layers.index(layer)][head] for layer, head in picked]
titles = [f"{t('common.layer')} {layer} · {t('common.head')} {head}" for layer, head in picked]
comparison = heads_side_by_side(
    matrices,
    titles,
    view.query_tokens,
    causal=view.causal,
    difference=matrices[0] - matrices[1],
    difference_title=t("overview.difference", first=titles[0], second=titles[1]),
    query_title=t("common.query"),
    key_title=t("common.key"),
    weight_title=t("common.weight"),
)
show_chart(comparison, key="overview.compare_chart")
render_downloads(comparison, result, "head-comparison", key="overview.compare_export")
