"""Comparison figures: how far apart every head of two captures is, as a layer × head heatmap."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .labels import plotly_literal
from .statistics import cell_hover, click_markers
from .style import FONT_FAMILY

DISTANCE_COLORSCALE = "Magma_r"
MIN_COLOR_RANGE = 0.01


def head_distance_figure(
    distance: np.ndarray,
    layers: Sequence[int],
    *,
    title: str = "",
    value_label: str = "distance",
    layer_label: str = "layer",
    head_label: str = "head",
) -> go.Figure:
    """Draw ``[layer, head]`` distances; a click selects ``[layer, head]`` through customdata.

    The colour range runs from 0 to the largest distance (at least ``MIN_COLOR_RANGE``), so
    small differences between close captures stay visible; the colour bar shows the range.
    """
    num_heads = distance.shape[1]
    finite = distance[np.isfinite(distance)]
    top = max(float(finite.max()) if finite.size else 0.0, MIN_COLOR_RANGE)
    figure = go.Figure(
        go.Heatmap(
            z=distance,
            x=list(range(num_heads)),
            y=list(range(len(layers))),
            zmin=0.0,
            zmax=top,
            colorscale=DISTANCE_COLORSCALE,
            hoverinfo="skip",
            colorbar=dict(title=plotly_literal(value_label), thickness=12),
        )
    )
    figure.add_trace(click_markers(layers, num_heads, cell_hover(distance, layers, value_label, layer_label, head_label)))
    figure.update_layout(
        title=plotly_literal(title),
        xaxis=dict(title=head_label, tickmode="array", tickvals=list(range(num_heads)), showgrid=False),
        yaxis=dict(
            title=layer_label, tickmode="array", tickvals=list(range(len(layers))),
            ticktext=[str(layer) for layer in layers], autorange="reversed", showgrid=False,
        ),
        font=dict(family=FONT_FAMILY),
        margin=dict(l=10, r=10, t=50, b=10),
        height=max(300, 120 + 36 * len(layers)),
        clickmode="event+select",
        dragmode=False,
        plot_bgcolor="white",
    )
    return figure
