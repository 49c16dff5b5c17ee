"""Keep every chart under a size budget before Streamlit sends it to the browser."""

from __future__ import annotations

import logging

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from viz.grid import block_edges, pool_thumbnails

from .text import t

logger = logging.getLogger(__name__)

# Streamlit rejects messages over server.maxMessageSize (200 MB by default) with MessageSizeError;
# a figure of this size also takes seconds to draw, so charts stay far below it.
DEFAULT_BUDGET_BYTES = 16 * 1024**2
# Numbers in JSON lists: digits, dot and comma. plotly sends numpy arrays as base64 instead.
BYTES_PER_NUMBER = 11
# Hover fields are short strings in JSON: quotes, comma and an escaped token.
BYTES_PER_HOVER_FIELD = 12
MAX_HEATMAP_SIDE = 256
# The layout with plotly's default template takes about 130 KB of a figure's JSON.
LAYOUT_BYTES = 256 * 1024


def _number_bytes(values) -> int:
    """Estimate the JSON bytes of a numeric field: numpy arrays go as base64 of their own dtype."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return int(values.size * values.dtype.itemsize * 4 / 3) + 64
    return _count(values) * BYTES_PER_NUMBER


def _count(values) -> int:
    if values is None:
        return 0
    return int(np.asarray(values, dtype=object).size) if not isinstance(values, np.ndarray) else int(values.size)


def _text_bytes(values) -> int:
    """Count the JSON bytes of a trace's text field: one string, or one string per point."""
    if values is None:
        return 0
    if isinstance(values, str):
        return len(values.encode("utf-8"))
    return sum(len(str(value).encode("utf-8")) + 3 for value in np.asarray(values, dtype=object).ravel())


def estimate_figure_bytes(figure: go.Figure) -> int:
    """Estimate the JSON bytes of a figure from its array sizes, without serialising it.

    Counts every ``z``, ``x``, ``y`` and ``customdata`` value of every trace, the strings of
    ``text`` and ``hovertext``, and image sources by their length, plus a fixed allowance
    for the layout and plotly's template.
    """
    total = LAYOUT_BYTES
    for trace in figure.data:
        for name in ("z", "x", "y"):
            total += _number_bytes(getattr(trace, name, None))
        total += _count(getattr(trace, "customdata", None)) * BYTES_PER_HOVER_FIELD
        for name in ("text", "hovertext"):
            total += _text_bytes(getattr(trace, name, None))
        source = getattr(trace, "source", None)
        total += len(source) if isinstance(source, str) else 0
    return total


def pooled_heatmap_trace(trace: go.Heatmap, side: int, max_label: str = "max") -> go.Heatmap:
    """Return a copy of a heatmap trace max-pooled to at most ``side × side`` cells, without per-cell hover fields.

    Blocks made only of future keys (NaN) stay NaN. Cells sit at the first position of their
    block, so axis ticks keep their token positions.
    """
    z = np.asarray(trace.z, dtype=np.float64)
    future = np.isnan(z)
    pooled = pool_thumbnails(np.where(future, -np.inf, z), side).astype(np.float64)
    if (z[~future] < 0).any():
        # A signed matrix (a difference) keeps the value of largest magnitude in each block.
        lowest = -pool_thumbnails(np.where(future, -np.inf, -z), side).astype(np.float64)
        pooled = np.where(np.abs(lowest) > np.abs(pooled), lowest, pooled)
    pooled[~np.isfinite(pooled)] = np.nan
    rows, columns = pooled.shape
    pooled_trace = go.Heatmap(trace)
    pooled_trace.update(
        z=pooled,
        x=block_edges(z.shape[1], columns)[:-1],
        y=block_edges(z.shape[0], rows)[:-1],
        customdata=None,
        hovertemplate=f"%{{y}}, %{{x}}: {max_label} %{{z:.4f}}<extra></extra>",
    )
    return pooled_trace


def fit_figure(figure: go.Figure, budget_bytes: int = DEFAULT_BUDGET_BYTES, max_label: str = "max") -> tuple[go.Figure, int | None]:
    """Return ``(figure, pooled side)``: the figure itself when it fits the budget, else a copy whose large heatmaps are pooled.

    Scatter click layers over pooled heatmaps are dropped, because their cells no longer exist.
    The pooled side is None when nothing changed.
    """
    if estimate_figure_bytes(figure) <= budget_bytes:
        return figure, None
    side = MAX_HEATMAP_SIDE
    heatmaps = [trace for trace in figure.data if trace.type == "heatmap"]
    cells = sum(_count(trace.z) for trace in heatmaps) or 1
    # Shrink the side until the pooled heatmaps fit, with hover fields gone.
    while side > 16 and cells and len(heatmaps) * side * side * BYTES_PER_NUMBER > budget_bytes:
        side //= 2
    traces = []
    for trace in figure.data:
        if trace.type == "heatmap" and _count(trace.z) > side * side:
            traces.append(pooled_heatmap_trace(trace, side, max_label))
        elif trace.type == "scatter" and trace.name == "cells":
            continue
        else:
            traces.append(trace)
    smaller = go.Figure(data=traces, layout=figure.layout)
    logger.info("Figure of about %d bytes pooled to %d × %d cells per heatmap", estimate_figure_bytes(figure), side, side)
    return smaller, side


def show_chart(figure: go.Figure, *, budget_bytes: int = DEFAULT_BUDGET_BYTES, **chart_options):
    """Draw a plotly chart, pooled with a notice first when it would exceed ``budget_bytes``; return Streamlit's event."""
    fitted, side = fit_figure(figure, budget_bytes, max_label=t("payload.pooled_max"))
    if side is not None:
        st.caption(t("payload.pooled", side=side))
    return st.plotly_chart(fitted, **chart_options)
