"""Token flow across layers: one column per level, one node per token, the strongest edges per node."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .labels import plotly_literal
from .style import FONT_FAMILY

EDGE_COLOR = "#4477aa"
TRACE_COLOR = "#ee6677"
NODE_COLOR = "#444444"
OPACITY_LEVELS = 5
# Beyond this many edges the graph keeps only the strongest. At 2048 tokens every node's two
# strongest edges fill the plot with one solid colour.
MAX_GRAPH_EDGES = 1500
# Beyond this many tokens, only an even stride of positions gets a text label.
MAX_TOKEN_LABELS = 64
# In a trace, nodes with less than this fraction of their level's largest share draw no
# edges, because in an encoder nearly every node has some share and the graph would fill.
TRACE_MIN_SHARE = 0.05


def strongest_edges(
    capacities: np.ndarray, per_node: int, node_values: np.ndarray | None = None
) -> list[tuple[int, int, int, float]]:
    """List the edges to draw as ``(level, query, key, strength)``, from ``(level, query)`` down to ``(level - 1, key)``.

    ``capacities`` is ``[layer, query, key]``. Each node keeps its ``per_node`` strongest
    edges. With ``node_values [level, token]`` (a traced token's share in every node), an
    edge's strength is the node's value times the edge weight. Nodes under
    ``TRACE_MIN_SHARE`` of their level's largest value draw nothing, so only the main
    paths that feed the traced token remain.
    """
    edges = []
    num_layers, num_tokens, _ = capacities.shape
    for layer in range(num_layers):
        level = layer + 1
        for query in range(num_tokens):
            weights = capacities[layer, query]
            if node_values is not None:
                if level >= node_values.shape[0]:
                    continue
                if node_values[level, query] <= TRACE_MIN_SHARE * node_values[level].max():
                    continue
                weights = weights * node_values[level, query]
            for key in np.argsort(-weights, kind="stable")[:per_node]:
                if weights[key] > 0:
                    edges.append((level, query, int(key), float(weights[key])))
    return edges


def _edge_traces(edges: list[tuple[int, int, int, float]], color: str) -> list[go.Scatter]:
    """Group edges into a few opacity levels, one line trace each, so many edges stay cheap to draw."""
    if not edges:
        return []
    top = max(edge[3] for edge in edges)
    traces = []
    for band in range(OPACITY_LEVELS):
        low, high = band / OPACITY_LEVELS, (band + 1) / OPACITY_LEVELS
        xs, ys = [], []
        for level, query, key, strength in edges:
            share = strength / top
            if low <= share < high or (band == OPACITY_LEVELS - 1 and share >= high):
                xs += [level, level - 1, None]
                ys += [query, key, None]
        if xs:
            traces.append(
                go.Scatter(
                    x=xs, y=ys, mode="lines", line=dict(color=color, width=0.5 + 4 * high),
                    opacity=0.15 + 0.85 * high, hoverinfo="skip", showlegend=False,
                )
            )
    return traces


def layer_flow_figure(
    capacities: np.ndarray,
    tokens: Sequence[str],
    *,
    level_names: Sequence[str],
    per_node: int = 2,
    traced: tuple[int, int] | None = None,
    node_values: np.ndarray | None = None,
    title: str = "",
    value_label: str = "share",
    max_edges: int = MAX_GRAPH_EDGES,
) -> go.Figure:
    """Draw the layered graph of ``capacities [layer, query, key]`` with ``layer + 1`` columns of tokens.

    Column 0 shows the input tokens and column ``l`` the tokens after layer ``l - 1``.
    With ``traced = (level, token)`` and ``node_values [level, token]``, node size shows each
    node's share in the traced token and only the edges feeding it are drawn. Clicking a
    node selects it: its customdata is ``["node", level, token]``. Of more than
    ``max_edges`` edges only the strongest are drawn, and ``layout.meta`` holds
    ``edges_total`` and ``edges_shown``.
    """
    num_layers, num_tokens, _ = capacities.shape
    levels = num_layers + 1
    figure = go.Figure()
    color = EDGE_COLOR if traced is None else TRACE_COLOR
    edges = strongest_edges(capacities, per_node, node_values if traced else None)
    # The page reads the counts from the layout's meta to say when edges were left out.
    figure.update_layout(meta={"edges_total": len(edges), "edges_shown": min(len(edges), max_edges)})
    if len(edges) > max_edges:
        edges = sorted(edges, key=lambda edge: edge[3], reverse=True)[:max_edges]
    for trace in _edge_traces(edges, color):
        figure.add_trace(trace)

    level_grid, token_grid = np.meshgrid(np.arange(levels), np.arange(num_tokens), indexing="ij")
    sizes = np.full((levels, num_tokens), 8.0 if num_tokens <= MAX_TOKEN_LABELS else 4.0)
    hover = []
    for level, token in zip(level_grid.ravel(), token_grid.ravel()):
        text = f"{plotly_literal(level_names[level])}<br>{token}: {plotly_literal(tokens[token])}"
        if traced is not None and node_values is not None and level < node_values.shape[0]:
            text += f"<br>{value_label} {node_values[level, token]:.4f}"
        hover.append(text)
    if traced is not None and node_values is not None:
        shares = np.zeros((levels, num_tokens))
        shares[: node_values.shape[0]] = node_values
        peak = shares.max() or 1.0
        sizes = 6.0 + 20.0 * shares / peak
        sizes[traced] = 26.0
    figure.add_trace(
        go.Scatter(
            x=level_grid.ravel(),
            y=token_grid.ravel(),
            mode="markers",
            marker=dict(size=sizes.ravel(), color=NODE_COLOR if traced is None else TRACE_COLOR, line=dict(width=0)),
            customdata=[["node", int(level), int(token)] for level, token in zip(level_grid.ravel(), token_grid.ravel())],
            hovertext=hover,
            hoverinfo="text",
            showlegend=False,
        )
    )
    labelled = list(range(0, num_tokens, max(1, -(-num_tokens // MAX_TOKEN_LABELS))))
    figure.add_trace(
        go.Scatter(
            x=[-0.15] * len(labelled),
            y=labelled,
            mode="text",
            text=[plotly_literal(tokens[position]) for position in labelled],
            textposition="middle left",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    figure.update_layout(
        title=plotly_literal(title),
        xaxis=dict(
            tickmode="array", tickvals=list(range(levels)), ticktext=[plotly_literal(name) for name in level_names],
            range=[-1.6, levels - 0.6], showgrid=False, zeroline=False,
        ),
        yaxis=dict(visible=False, autorange="reversed"),
        font=dict(family=FONT_FAMILY),
        plot_bgcolor="white",
        margin=dict(l=10, r=10, t=50, b=10),
        height=max(380, min(1400, 120 + 24 * num_tokens)),
        clickmode="event+select",
        dragmode=False,
    )
    return figure
