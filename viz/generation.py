"""Figures for generation: the assembled matrix with the prompt boundary, and one step's weights as bars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .heatmap import attention_heatmap
from .labels import plotly_literal
from .style import FONT_FAMILY, MAX_LABELLED_TICKS

BOUNDARY_COLOR = "#d62728"
STEP_COLOR = "#ff7f0e"
PROMPT_BAR_COLOR = "#3e4989"
GENERATED_BAR_COLOR = "#35b779"


def step_row(prompt_length: int | None, step: int) -> int:
    """Return the row whose weights produced generated token ``step`` (1-based).

    A decoder predicts token ``step`` from the position just before it: the last prompt
    token for step 1, the previous generated token after that. Without a prompt (an
    encoder-decoder target, ``prompt_length`` None) row ``step - 1`` produced it.
    """
    if step < 1:
        raise ValueError(f"Generation steps start at 1, got {step}.")
    return step - 1 if prompt_length is None else prompt_length + step - 2


def generation_heatmap(
    weights: np.ndarray,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str] | None = None,
    *,
    prompt_length: int | None = None,
    row: int | None = None,
    causal: bool = True,
    title: str = "",
    boundary_label: str = "prompt ends",
    query_title: str = "query",
    key_title: str = "key",
    weight_title: str = "weight",
) -> go.Figure:
    """Draw a ``[query, key]`` matrix with a line where the prompt ends and a box around one row."""
    figure = attention_heatmap(
        weights,
        query_tokens,
        key_tokens,
        title=title,
        causal=causal,
        query_title=query_title,
        key_title=key_title,
        weight_title=weight_title,
        clickable=False,
    )
    rows, columns = np.shape(weights)
    if prompt_length is not None and 0 < prompt_length < max(rows, columns):
        boundary = prompt_length - 0.5
        line = dict(color=BOUNDARY_COLOR, width=2, dash="dash")
        figure.add_shape(type="line", x0=boundary, x1=boundary, y0=-0.5, y1=rows - 0.5, line=line)
        if prompt_length < rows:
            figure.add_shape(type="line", x0=-0.5, x1=columns - 0.5, y0=boundary, y1=boundary, line=line)
        figure.add_annotation(
            x=boundary, y=-0.5, text=plotly_literal(boundary_label), showarrow=False, yanchor="bottom",
            font=dict(color=BOUNDARY_COLOR, size=11),
        )
    if row is not None:
        figure.add_shape(
            type="rect", x0=-0.5, x1=columns - 0.5, y0=row - 0.5, y1=row + 0.5, line=dict(color=STEP_COLOR, width=3)
        )
    return figure


def step_bars(
    row_weights: np.ndarray,
    key_tokens: Sequence[str],
    *,
    prompt_length: int | None = None,
    title: str = "",
    key_title: str = "key",
    weight_title: str = "weight",
    prompt_label: str = "prompt",
    generated_label: str = "generated",
) -> go.Figure:
    """Draw one query's weights over its keys as bars, prompt keys and generated keys in two colours."""
    weights = np.asarray(row_weights, dtype=np.float64)
    positions = np.arange(weights.shape[0])
    labels = [plotly_literal(token) for token in key_tokens[: weights.shape[0]]]
    in_prompt = positions < (prompt_length if prompt_length is not None else weights.shape[0])
    figure = go.Figure()
    for mask, name, color in ((in_prompt, prompt_label, PROMPT_BAR_COLOR), (~in_prompt, generated_label, GENERATED_BAR_COLOR)):
        if not mask.any():
            continue
        figure.add_trace(
            go.Bar(
                x=positions[mask],
                y=weights[mask],
                name=plotly_literal(name),
                marker_color=color,
                customdata=[[int(position), labels[position]] for position in positions[mask]],
                hovertemplate=(
                    f"{plotly_literal(key_title)} %{{customdata[0]}}: %{{customdata[1]}}<br>"
                    f"{plotly_literal(weight_title)} %{{y:.4f}}<extra></extra>"
                ),
            )
        )
    stride = max(1, int(np.ceil(len(labels) / MAX_LABELLED_TICKS)))
    figure.update_layout(
        title=plotly_literal(title),
        xaxis=dict(
            title=key_title, tickmode="array", tickvals=list(positions[::stride]), ticktext=labels[::stride], tickangle=-60
        ),
        yaxis=dict(title=weight_title, range=[0, 1]),
        font=dict(family=FONT_FAMILY),
        margin=dict(l=10, r=10, t=50, b=10),
        height=320,
        legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
        bargap=0.15,
    )
    return figure
