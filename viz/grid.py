"""The model overview: every layer × head as a small heatmap, and heads side by side."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .heatmap import hover_data, hover_template, prepare_heatmap
from .labels import plotly_literal
from .style import DIFFERENCE_COLORSCALE, FONT_FAMILY, FUTURE_KEY_COLOR, WEIGHT_COLORSCALE

THUMBNAIL_PIXELS = 72


def head_grid_figure(
    attentions: np.ndarray,
    layers: Sequence[int],
    *,
    causal: bool = False,
    layer_label: str = "layer",
    head_label: str = "head",
    query_label: str = "query",
    key_label: str = "key",
    weight_title: str = "weight",
) -> go.Figure:
    """Draw ``[layer, head, query, key]`` as a grid with one row per layer and one column per head.

    Clicking a thumbnail selects its invisible centre marker, whose customdata is
    ``[layer, head]`` so a page can open that head.
    """
    num_layers, num_heads = attentions.shape[:2]
    figure = make_subplots(
        rows=num_layers,
        cols=num_heads,
        horizontal_spacing=0.004,
        vertical_spacing=0.01,
        row_titles=[f"{layer_label} {layer}" for layer in layers],
        column_titles=[f"{head_label} {head}" for head in range(num_heads)],
    )
    size = attentions.shape[-1]
    for row, layer in enumerate(layers):
        for head in range(num_heads):
            figure.add_trace(
                go.Heatmap(
                    z=prepare_heatmap(attentions[row, head], causal),
                    coloraxis="coloraxis",
                    hovertemplate=(
                        f"{layer_label} {layer}, {head_label} {head}<br>"
                        f"{query_label} %{{y}} → {key_label} %{{x}}: %{{z:.3f}}<extra></extra>"
                    ),
                ),
                row=row + 1,
                col=head + 1,
            )
            figure.add_trace(
                go.Scatter(
                    x=[(size - 1) / 2],
                    y=[(size - 1) / 2],
                    mode="markers",
                    marker=dict(size=THUMBNAIL_PIXELS // 2, opacity=0.0),
                    customdata=[[layer, head]],
                    hoverinfo="skip",
                    showlegend=False,
                ),
                row=row + 1,
                col=head + 1,
            )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, autorange="reversed")
    figure.update_layout(
        coloraxis=dict(colorscale=WEIGHT_COLORSCALE, cmin=0.0, cmax=1.0, colorbar=dict(title=plotly_literal(weight_title), thickness=10)),
        height=80 + THUMBNAIL_PIXELS * num_layers,
        margin=dict(l=10, r=60, t=40, b=10),
        plot_bgcolor=FUTURE_KEY_COLOR,
        font=dict(family=FONT_FAMILY, size=10),
        clickmode="event+select",
        dragmode=False,
        showlegend=False,
    )
    return figure


def heads_side_by_side(
    matrices: Sequence[np.ndarray],
    titles: Sequence[str],
    tokens: Sequence[str],
    *,
    causal: bool = False,
    difference: np.ndarray | None = None,
    difference_title: str = "difference",
    query_title: str = "query",
    key_title: str = "key",
    weight_title: str = "weight",
) -> go.Figure:
    """Draw two to four heads on shared token axes, plus an optional signed difference panel."""
    panels = list(matrices) + ([difference] if difference is not None else [])
    panel_titles = [plotly_literal(title) for title in titles] + ([plotly_literal(difference_title)] if difference is not None else [])
    figure = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, subplot_titles=panel_titles, horizontal_spacing=0.03)
    custom = hover_data(tokens, tokens)
    template = hover_template(query_title, key_title, weight_title)
    for column, matrix in enumerate(panels, start=1):
        is_difference = difference is not None and column == len(panels)
        figure.add_trace(
            go.Heatmap(
                z=prepare_heatmap(matrix, causal),
                customdata=custom,
                hovertemplate=template,
                hoverongaps=False,
                zmin=-1.0 if is_difference else 0.0,
                zmax=1.0,
                zmid=0.0 if is_difference else None,
                colorscale=DIFFERENCE_COLORSCALE if is_difference else WEIGHT_COLORSCALE,
                showscale=is_difference or column == len(matrices),
                colorbar=dict(x=1.0 + 0.06 * (column - len(matrices)), thickness=10),
            ),
            row=1,
            col=column,
        )
    positions = list(range(len(tokens)))
    labels = [plotly_literal(token) for token in tokens]
    figure.update_xaxes(tickmode="array", tickvals=positions, ticktext=labels, tickangle=-60, showgrid=False)
    figure.update_yaxes(tickmode="array", tickvals=positions, ticktext=labels, autorange="reversed", showgrid=False)
    figure.update_layout(
        height=max(380, min(900, 160 + 16 * len(tokens))),
        plot_bgcolor=FUTURE_KEY_COLOR,
        font=dict(family=FONT_FAMILY),
        margin=dict(l=10, r=80, t=50, b=10),
    )
    return figure
