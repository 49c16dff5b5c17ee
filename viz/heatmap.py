"""One head's attention as a heatmap: query tokens as rows, key tokens as columns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .labels import plotly_literal
from .style import (
    CLICK_LAYER_MAX_CELLS,
    DIFFERENCE_COLORSCALE,
    FONT_FAMILY,
    FUTURE_KEY_COLOR,
    HOVER_TEXT_MAX_CELLS,
    MAX_LABELLED_TICKS,
    WEIGHT_COLORSCALE,
)


HEATMAP_HEIGHT = 520


def hover_template(query_title: str = "query", key_title: str = "key", weight_title: str = "weight") -> str:
    """Return the cell hover text: query position and token, key position and token, weight."""
    return (
        f"{plotly_literal(query_title)} %{{customdata[0]}}: %{{customdata[1]}}<br>"
        f"{plotly_literal(key_title)} %{{customdata[2]}}: %{{customdata[3]}}<br>"
        f"{plotly_literal(weight_title)} %{{z:.4f}}<extra></extra>"
    )


def position_hover_template(query_title: str = "query", key_title: str = "key", weight_title: str = "weight") -> str:
    """Return the hover text of a large heatmap: query and key positions and the weight, no token text."""
    return (
        f"{plotly_literal(query_title)} %{{y}}<br>{plotly_literal(key_title)} %{{x}}<br>"
        f"{plotly_literal(weight_title)} %{{z:.4f}}<extra></extra>"
    )


def cell_hover(
    query_tokens: Sequence[str], key_tokens: Sequence[str], cells: int, query_title: str, key_title: str, weight_title: str
) -> tuple[np.ndarray | None, str]:
    """Return ``(customdata, hovertemplate)`` for heatmaps of ``cells`` cells in all: token text per cell, or positions only when large."""
    if cells > HOVER_TEXT_MAX_CELLS:
        return None, position_hover_template(query_title, key_title, weight_title)
    return hover_data(query_tokens, key_tokens), hover_template(query_title, key_title, weight_title)


def tick_positions(count: int, max_ticks: int = MAX_LABELLED_TICKS) -> list[int]:
    """Return the positions that get a tick label: all of them, or an even stride on long inputs."""
    stride = max(1, int(np.ceil(count / max_ticks)))
    return list(range(0, count, stride))


def _axis(title: str, labels: Sequence[str], **extra) -> dict:
    positions = tick_positions(len(labels))
    return dict(
        title=title,
        tickmode="array",
        tickvals=positions,
        ticktext=[plotly_literal(labels[position]) for position in positions],
        showgrid=False,
        zeroline=False,
        **extra,
    )


def prepare_heatmap(weights: np.ndarray, causal: bool) -> np.ndarray:
    """Return the float32 matrix to draw: future keys of a causal head become gaps, not zeros that look like data.

    Captured weights are float32, so float32 shows them exactly and sends half the bytes of float64.
    """
    z = np.array(weights, dtype=np.float32)
    if causal and z.shape[0] == z.shape[1]:
        z[np.triu_indices(z.shape[0], k=1)] = np.nan
    return z


def hover_data(query_tokens: Sequence[str], key_tokens: Sequence[str]) -> np.ndarray:
    """Build per-cell hover fields ``[query_pos, query_token, key_pos, key_token]``, escaped for plotly."""
    queries = [plotly_literal(token) for token in query_tokens]
    keys = [plotly_literal(token) for token in key_tokens]
    data = np.empty((len(queries), len(keys), 4), dtype=object)
    data[..., 0] = np.arange(len(queries))[:, None]
    data[..., 1] = np.array(queries, dtype=object)[:, None]
    data[..., 2] = np.arange(len(keys))[None, :]
    data[..., 3] = np.array(keys, dtype=object)[None, :]
    return data


def attention_heatmap(
    weights: np.ndarray,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str] | None = None,
    *,
    title: str = "",
    causal: bool = False,
    rescale: bool = False,
    difference: bool = False,
    query_title: str = "query",
    key_title: str = "key",
    weight_title: str = "weight",
    clickable: bool = True,
) -> go.Figure:
    """Draw one ``[query, key]`` weight matrix on integer positions, so repeated tokens keep their own rows.

    The colour range is fixed to 0–1 unless ``rescale`` is set. ``difference`` draws a
    signed matrix on a diverging scale centred on 0. With ``clickable``, an invisible marker
    sits on each cell so a click selects it through plotly selection events.
    """
    key_tokens = query_tokens if key_tokens is None else key_tokens
    z = prepare_heatmap(weights, causal)
    finite = z[np.isfinite(z)]
    if difference:
        bound = float(np.abs(finite).max()) if finite.size else 1.0
        color_range = dict(zmin=-bound or -1.0, zmax=bound or 1.0, colorscale=DIFFERENCE_COLORSCALE, zmid=0.0)
    elif rescale and finite.size:
        color_range = dict(zmin=float(finite.min()), zmax=float(finite.max()), colorscale=WEIGHT_COLORSCALE)
    else:
        color_range = dict(zmin=0.0, zmax=1.0, colorscale=WEIGHT_COLORSCALE)

    custom, template = cell_hover(query_tokens, key_tokens, z.size, query_title, key_title, weight_title)
    click_layer = clickable and custom is not None and z.size <= CLICK_LAYER_MAX_CELLS
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(z.shape[1])),
            y=list(range(z.shape[0])),
            customdata=custom,
            hovertemplate=template,
            # The click markers carry the hover text when present; two labels per cell would flicker.
            hoverinfo="skip" if click_layer else None,
            hoverongaps=False,
            colorbar=dict(title=plotly_literal(weight_title), thickness=12),
            **color_range,
        )
    )
    if click_layer:
        figure.add_trace(_click_layer(z, custom, template))
    figure.update_layout(
        title=plotly_literal(title),
        # Fixed ranges: autorange would pad for the click markers and show a grey frame like future keys.
        xaxis=_axis(key_title, key_tokens, side="bottom", tickangle=-60, constrain="domain", range=[-0.5, z.shape[1] - 0.5]),
        yaxis=_axis(query_title, query_tokens, range=[z.shape[0] - 0.5, -0.5], scaleanchor="x", constrain="domain"),
        # Future keys are NaN gaps that show the background. Plotly draws the background a few
        # pixels beyond the axes, so it stays transparent when there are no gaps to fill.
        plot_bgcolor=FUTURE_KEY_COLOR if causal else "rgba(0,0,0,0)",
        font=dict(family=FONT_FAMILY),
        margin=dict(l=10, r=10, t=50, b=10),
        clickmode="event+select",
        dragmode=False,
        showlegend=False,
        # Cells are square, and a half-width column leaves about 330 pixels for the plot on a
        # 1400-pixel screen. A taller figure would only add empty space and stretch the colour bar.
        height=HEATMAP_HEIGHT,
    )
    return figure


def _click_layer(z: np.ndarray, custom: np.ndarray, template: str) -> go.Scatter:
    """Return invisible markers on every cell centre that carry the hover text and take clicks.

    Plotly heatmaps emit no click selection, and a trace with ``hoverinfo="skip"`` cannot be
    picked either, so these markers keep hover on. Future keys of a causal head get none.
    """
    queries, keys = np.nonzero(np.isfinite(z))
    weights = z[queries, keys]
    cells = custom[queries, keys]
    return go.Scatter(
        x=keys,
        y=queries,
        mode="markers",
        marker=dict(size=12, opacity=0.0, symbol="square"),
        customdata=[[*cell, float(weight)] for cell, weight in zip(cells, weights)],
        hovertemplate=template.replace("%{z", "%{customdata[4]"),
        name="cells",
        showlegend=False,
    )
