"""The token-flow graph: queries on the left, keys on the right, one line per query→key weight."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .labels import plotly_literal
from .style import FONT_FAMILY, head_color

OPACITY_LEVELS = 5
# The figure grows 22 px per token up to 1400 px, which fits about this many labels.
MAX_LABELLED_TOKENS = 60
QUERY_COLUMN_X = 0.0
KEY_COLUMN_X = 1.0


def flow_segments(
    weights: np.ndarray, threshold: float, focus: int | None = None, focus_side: str = "query"
) -> list[tuple[int, int, float]]:
    """List the ``(query_pos, key_pos, weight)`` pairs to draw for one head, strongest first.

    Pairs under ``threshold`` are dropped. With ``focus``, only the lines of that token are
    kept: its outgoing lines when it is a query, its incoming lines when it is a key.
    """
    queries, keys = np.nonzero(weights >= threshold)
    pairs = [(int(q), int(k), float(weights[q, k])) for q, k in zip(queries, keys)]
    if focus is not None:
        index = 0 if focus_side == "query" else 1
        pairs = [pair for pair in pairs if pair[index] == focus]
    return sorted(pairs, key=lambda pair: -pair[2])


def _head_traces(head: int, pairs, label: str) -> list[go.Scatter]:
    """Group one head's lines into a few opacity levels, one trace each, so thousands of lines stay cheap."""
    traces = []
    for level in range(OPACITY_LEVELS):
        low, high = level / OPACITY_LEVELS, (level + 1) / OPACITY_LEVELS
        chosen = [pair for pair in pairs if low <= pair[2] < high or (level == OPACITY_LEVELS - 1 and pair[2] >= high)]
        if not chosen:
            continue
        xs, ys = [], []
        for query, key, _ in chosen:
            xs += [QUERY_COLUMN_X, KEY_COLUMN_X, None]
            ys += [query, key, None]
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line=dict(color=head_color(head), width=1 + 4 * high),
                opacity=0.15 + 0.85 * high,
                hoverinfo="skip",
                name=label,
                legendgroup=f"head{head}",
                showlegend=False,
            )
        )
    if traces:
        traces[-1].showlegend = True
    return traces


def _token_column(x: float, tokens: Sequence[str], side: str, hover: Sequence[str]) -> go.Scatter:
    # Long inputs label every n-th token only, so the labels stay readable; every marker keeps its hover.
    stride = max(1, int(np.ceil(len(tokens) / MAX_LABELLED_TOKENS)))
    return go.Scatter(
        x=[x] * len(tokens),
        y=list(range(len(tokens))),
        mode="markers+text",
        text=[plotly_literal(token) if position % stride == 0 else "" for position, token in enumerate(tokens)],
        textposition="middle left" if side == "query" else "middle right",
        marker=dict(size=10 if stride == 1 else 5, color="#444"),
        customdata=[[side, position] for position in range(len(tokens))],
        hovertext=hover,
        hoverinfo="text",
        name=side,
        showlegend=False,
    )


def strongest_keys_text(
    weights: np.ndarray,
    tokens: Sequence[str],
    query: int,
    count: int = 3,
    *,
    query_label: str = "query",
    strongest_label: str = "strongest keys (mean of heads):",
    query_tokens: Sequence[str] | None = None,
) -> str:
    """Describe a query's strongest keys, averaged over the drawn heads, for its hover text.

    ``tokens`` label the keys; ``query_tokens`` label the queries when they differ (cross-attention).
    """
    row = weights[:, query, :].mean(axis=0)
    best = np.argsort(-row)[:count]
    listed = "<br>".join(f"{int(key)}: {plotly_literal(tokens[key])} {row[key]:.3f}" for key in best)
    query_token = (tokens if query_tokens is None else query_tokens)[query]
    heading = f"{plotly_literal(query_label)} {query}: {plotly_literal(query_token)}"
    return f"{heading}<br>{plotly_literal(strongest_label)}<br>{listed}"


def token_flow_figure(
    layer_weights: np.ndarray,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str] | None = None,
    *,
    heads: Sequence[int] | None = None,
    threshold: float = 0.1,
    focus: int | None = None,
    focus_side: str = "query",
    title: str = "",
    head_label: str = "head",
    query_label: str = "query",
    key_label: str = "key",
    strongest_label: str = "strongest keys (mean of heads):",
) -> go.Figure:
    """Draw the chosen heads of one layer ``[head, query, key]`` as lines between two token columns.

    Each head has its own colour; line width and opacity grow with the weight. Clicking a
    token marker selects it, so a page can pass it back as ``focus``.
    """
    key_tokens = query_tokens if key_tokens is None else key_tokens
    heads = list(range(layer_weights.shape[0])) if heads is None else list(heads)
    figure = go.Figure()
    for head in heads:
        pairs = flow_segments(layer_weights[head], threshold, focus, focus_side)
        for trace in _head_traces(head, pairs, f"{head_label} {head}"):
            figure.add_trace(trace)

    drawn = layer_weights[heads] if heads else layer_weights[:1]
    query_hover = [
        strongest_keys_text(
            drawn, key_tokens, query, query_label=query_label, strongest_label=strongest_label, query_tokens=query_tokens
        )
        for query in range(len(query_tokens))
    ]
    key_hover = [f"{plotly_literal(key_label)} {key}: {plotly_literal(token)}" for key, token in enumerate(key_tokens)]
    figure.add_trace(_token_column(QUERY_COLUMN_X, query_tokens, "query", query_hover))
    figure.add_trace(_token_column(KEY_COLUMN_X, key_tokens, "key", key_hover))
    rows = max(len(query_tokens), len(key_tokens))
    figure.update_layout(
        title=plotly_literal(title),
        xaxis=dict(visible=False, range=[-0.6, 1.6]),
        yaxis=dict(visible=False, autorange="reversed"),
        font=dict(family=FONT_FAMILY),
        plot_bgcolor="white",
        margin=dict(l=10, r=10, t=50, b=10),
        height=max(360, min(1400, 120 + 22 * rows)),
        clickmode="event+select",
        dragmode=False,
        legend=dict(orientation="h", y=-0.02),
    )
    return figure
