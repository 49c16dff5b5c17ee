"""Head statistics as layer × head heatmaps, one panel per statistic, and as a table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .labels import plotly_literal
from .style import FONT_FAMILY, WEIGHT_COLORSCALE

PANEL_COLUMNS = 4
# Statistics with no fixed 0–1 range get a colour range from their own values.
OPEN_RANGE_STATISTICS = frozenset({"distance"})


def statistics_frame(values: Mapping[str, np.ndarray], layers: Sequence[int], columns: Mapping[str, str]) -> pd.DataFrame:
    """Return one row per head with its layer, head and every statistic, the columns named by ``columns``."""
    num_heads = next(iter(values.values())).shape[1]
    frame = pd.DataFrame(
        {
            "layer": np.repeat(np.asarray(layers), num_heads),
            "head": np.tile(np.arange(num_heads), len(layers)),
        }
    )
    for name, title in columns.items():
        frame[title] = np.asarray(values[name], dtype=np.float64).ravel()
    return frame


def click_markers(layers: Sequence[int], num_heads: int, hover: Sequence[str]) -> go.Scatter:
    """Return invisible markers on every cell with customdata ``[layer, head]`` and the cell's hover text.

    The markers carry the hover so that they, not the heatmap below, are the points plotly
    picks on a click: a heatmap cell click selects nothing, and a trace with
    ``hoverinfo="skip"`` gets no clicks either.
    """
    rows, heads = np.meshgrid(np.arange(len(layers)), np.arange(num_heads), indexing="ij")
    return go.Scatter(
        x=heads.ravel(),
        y=rows.ravel(),
        mode="markers",
        marker=dict(size=14, opacity=0.0, symbol="square"),
        customdata=[[int(layers[row]), int(head)] for row, head in zip(rows.ravel(), heads.ravel())],
        hovertext=list(hover),
        hoverinfo="text",
        showlegend=False,
    )


def cell_hover(values: np.ndarray, layers: Sequence[int], title: str, layer_label: str, head_label: str) -> list[str]:
    """Return one hover line per ``[layer, head]`` cell, row by row."""
    return [
        f"{plotly_literal(title)}<br>{layer_label} {layer}, {head_label} {head}: {values[row, head]:.4f}"
        for row, layer in enumerate(layers)
        for head in range(values.shape[1])
    ]


def _panel_title(values: np.ndarray, title: str, name: str) -> str:
    """Return a panel title; an open-range statistic names its colour range, since only 0–1 has a colour bar."""
    if name not in OPEN_RANGE_STATISTICS:
        return plotly_literal(title)
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    high = float(finite.max()) if finite.size else 1.0
    return f"{plotly_literal(title)} (0–{high:.2f})"


def statistics_figure(
    values: Mapping[str, np.ndarray],
    layers: Sequence[int],
    titles: Mapping[str, str],
    *,
    layer_label: str = "layer",
    head_label: str = "head",
) -> go.Figure:
    """Draw each statistic in ``titles`` as a ``[layer, head]`` heatmap; a click selects ``[layer, head]``.

    Statistics that are shares of weight (everything but distance) use a fixed 0–1 colour
    range so panels compare; NaN cells (no usable rows) are left blank.
    """
    names = list(titles)
    rows = int(np.ceil(len(names) / PANEL_COLUMNS))
    figure = make_subplots(
        rows=rows,
        cols=PANEL_COLUMNS,
        subplot_titles=[_panel_title(values[name], titles[name], name) for name in names],
        horizontal_spacing=0.04,
        vertical_spacing=0.16,
    )
    num_heads = next(iter(values.values())).shape[1]
    for index, name in enumerate(names):
        row, column = index // PANEL_COLUMNS + 1, index % PANEL_COLUMNS + 1
        z = np.asarray(values[name], dtype=np.float64)
        finite = z[np.isfinite(z)]
        if name in OPEN_RANGE_STATISTICS:
            low, high = 0.0, float(finite.max()) if finite.size else 1.0
        else:
            low, high = 0.0, 1.0
        figure.add_trace(
            go.Heatmap(
                z=z,
                x=list(range(num_heads)),
                y=list(range(len(layers))),
                zmin=low,
                zmax=high or 1.0,
                colorscale=WEIGHT_COLORSCALE,
                showscale=index == 0,
                colorbar=dict(thickness=10, len=0.4, y=0.8),
                hoverinfo="skip",
            ),
            row=row,
            col=column,
        )
        hover = cell_hover(z, layers, titles[name], layer_label, head_label)
        figure.add_trace(click_markers(layers, num_heads, hover), row=row, col=column)
        figure.update_yaxes(
            tickmode="array", tickvals=list(range(len(layers))), ticktext=[str(layer) for layer in layers],
            autorange="reversed", title_text=layer_label if column == 1 else None, row=row, col=column,
        )
        figure.update_xaxes(title_text=head_label if row == rows else None, row=row, col=column, showgrid=False)
    figure.update_layout(
        height=max(420, rows * (120 + 26 * len(layers))),
        font=dict(family=FONT_FAMILY),
        margin=dict(l=10, r=10, t=50, b=10),
        clickmode="event+select",
        dragmode=False,
        plot_bgcolor="white",
    )
    return figure
