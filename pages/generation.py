"""Generation page: what each generated token attended to, step by step."""

import numpy as np
import streamlit as st

from model_utils.families import DECODER_ONLY, ENCODER_DECODER
from model_utils.generation import MAX_NEW_TOKENS
from ui.downloads import render_downloads
from ui.inputs import with_new_tokens
from ui.payload import show_chart
from ui.routing import require_app_entry
from ui.session import REQUEST_KEY, current_capture, current_request
from ui.text import t
from ui.views import head_label
from viz.generation import generation_heatmap, step_bars, step_row

require_app_entry()

ALL_HEADS = -1
DEFAULT_NEW_TOKENS = 8

st.header(t("generation.title"))
st.caption(t("generation.intro"))
request = current_request()
result = current_capture(apply_token_view=False)
if result is None:
    st.stop()
if result.cross_attentions is not None:
    kind = ENCODER_DECODER
elif result.is_causal:
    kind = DECODER_ONLY
else:
    st.info(t("generation.needs_generator"))
    st.stop()

if kind == DECODER_ONLY:
    st.session_state.setdefault("generation.new_tokens", request.new_tokens or DEFAULT_NEW_TOKENS)
    count_column, generate_column, reset_column = st.columns([2, 1, 1], vertical_alignment="bottom")
    new_tokens = count_column.number_input(
        t("generation.new_tokens"), 1, MAX_NEW_TOKENS, key="generation.new_tokens", help=t("generation.new_tokens_help")
    )
    if generate_column.button(t("generation.generate"), type="primary", key="generation.generate"):
        st.session_state[REQUEST_KEY] = with_new_tokens(request, int(new_tokens))
        st.rerun()
    if request.new_tokens and reset_column.button(t("generation.prompt_only"), key="generation.prompt_only"):
        st.session_state[REQUEST_KEY] = with_new_tokens(request, 0)
        st.rerun()
    if not request.new_tokens:
        st.info(t("generation.press_generate"))
        st.stop()
else:
    st.caption(t("generation.seq2seq_note"))

if kind == DECODER_ONLY:
    generated = result.generated_tokens or ()
    weights, query_tokens, key_tokens = result.attentions, result.tokens, result.tokens
    prompt_length = result.prompt_length
    st.text(t("generation.output", prompt=request.text, output=result.manifest.get("generated_text", "")))
else:
    generated = result.target_tokens[1:]
    weights, query_tokens, key_tokens = result.cross_attentions, result.target_tokens, result.tokens
    prompt_length = None
layers = result.decoder_layers if result.decoder_layers is not None else result.layers

layer_column, head_column = st.columns(2)
if st.session_state.get("generation.layer") not in layers:
    st.session_state.pop("generation.layer", None)
layer = layer_column.selectbox(t("heads.layer"), layers, key="generation.layer")
head = head_column.selectbox(
    t("heads.head"),
    [ALL_HEADS, *range(result.num_heads)],
    format_func=lambda head: t("generation.all_heads") if head == ALL_HEADS else head_label(result, head),
    key="generation.head",
)
layer_weights = weights[layers.index(layer)]
matrix = layer_weights.mean(axis=0) if head == ALL_HEADS else layer_weights[head]

if not generated:
    st.info(t("generation.nothing_generated"))
    st.stop()
if len(generated) == 1:
    step = 1
else:
    step = st.slider(t("generation.step"), 1, len(generated), len(generated), key="generation.step", help=t("generation.step_help"))
row = step_row(prompt_length, step)
# Token text comes from the model, so it is shown as plain text, never as markdown.
st.text(
    t(
        "generation.step_note",
        step=step,
        token=generated[step - 1],
        query=row,
        query_token=query_tokens[row],
    )
)

bars_column, heatmap_column = st.columns(2)
with bars_column:
    visible = row + 1 if kind == DECODER_ONLY else len(key_tokens)
    bars = step_bars(
        np.asarray(matrix[row, :visible]),
        key_tokens,
        prompt_length=prompt_length,
        title=t("generation.bars_title", step=step, layer=layer),
        key_title=t("common.key"),
        weight_title=t("common.weight"),
        prompt_label=t("generation.prompt") if kind == DECODER_ONLY else t("generation.source"),
        generated_label=t("generation.generated"),
    )
    show_chart(bars, key="generation.bars_chart")
    render_downloads(bars, result, f"generation-step{step}-layer{layer}", key="generation.bars_export")
with heatmap_column:
    heatmap = generation_heatmap(
        matrix,
        query_tokens,
        key_tokens,
        prompt_length=prompt_length,
        row=row,
        causal=kind == DECODER_ONLY,
        title=t("generation.heatmap_title", layer=layer),
        boundary_label=t("generation.boundary"),
        query_title=t("common.query"),
        key_title=t("common.key"),
        weight_title=t("common.weight"),
    )
    show_chart(heatmap, key="generation.heatmap_chart")
    render_downloads(heatmap, result, f"generation-layer{layer}", key="generation.heatmap_export")
