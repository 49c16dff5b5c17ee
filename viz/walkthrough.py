"""The Q·K walk-through: query and key vectors, then scores, mask and softmax for one query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .heatmap import tick_positions
from .labels import plotly_literal
from .style import DIFFERENCE_COLORSCALE, FONT_FAMILY

STEP_COLORS = ("#4477aa", "#66ccee", "#228833", "#ee6677")
MASKED_MARK = "−∞"


def vectors_figure(
    query: np.ndarray,
    keys: np.ndarray,
    tokens: Sequence[str],
    *,
    query_label: str,
    output: np.ndarray | None = None,
    output_label: str = "output",
    dimension_title: str = "dimension",
    key_label: str = "key",
) -> go.Figure:
    """Draw the query vector (and the head's output for it) above the key vectors ``[key, d_k]``, on one diverging scale."""
    top_rows = [query] + ([output] if output is not None else [])
    top_labels = [query_label] + ([output_label] if output is not None else [])
    bound = float(max(np.abs(keys).max(), *(np.abs(row).max() for row in top_rows))) or 1.0
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.15, 0.85], vertical_spacing=0.04
    )
    common = dict(colorscale=DIFFERENCE_COLORSCALE, zmin=-bound, zmax=bound, zmid=0.0)
    figure.add_trace(
        go.Heatmap(
            z=np.stack(top_rows),
            y=list(range(len(top_rows))),
            text=[[plotly_literal(label)] * len(query) for label in top_labels],
            hovertemplate=f"%{{text}}<br>{plotly_literal(dimension_title)} %{{x}}: %{{z:.4f}}<extra></extra>",
            showscale=False,
            **common,
        ),
        row=1,
        col=1,
    )
    key_text = [
        [f"{plotly_literal(key_label)} {position}: {plotly_literal(token)}"] * keys.shape[1]
        for position, token in enumerate(tokens)
    ]
    figure.add_trace(
        go.Heatmap(
            z=keys,
            y=list(range(keys.shape[0])),
            text=key_text,
            hovertemplate=f"%{{text}}<br>{plotly_literal(dimension_title)} %{{x}}: %{{z:.4f}}<extra></extra>",
            colorbar=dict(thickness=10),
            **common,
        ),
        row=2,
        col=1,
    )
    figure.update_yaxes(
        tickmode="array", tickvals=list(range(len(top_rows))), ticktext=[plotly_literal(label) for label in top_labels],
        autorange="reversed", row=1, col=1,
    )
    positions = tick_positions(len(tokens))
    figure.update_yaxes(
        tickmode="array", tickvals=positions, ticktext=[plotly_literal(tokens[position]) for position in positions],
        autorange="reversed", row=2, col=1,
    )
    figure.update_xaxes(title_text=dimension_title, row=2, col=1)
    figure.update_layout(
        height=max(360, min(1000, 160 + 18 * len(tokens))),
        font=dict(family=FONT_FAMILY),
        margin=dict(l=10, r=10, t=30, b=10),
    )
    return figure


def steps_figure(steps, tokens: Sequence[str], titles: Mapping[str, str], key_label: str = "key") -> go.Figure:
    """Draw raw scores, scaled scores, masked scores and softmax weights as bars over the key tokens.

    ``titles`` names the four panels by the keys ``raw``, ``scaled``, ``masked`` and
    ``weights``. Masked keys are drawn as an empty slot marked −∞.
    """
    panels = (
        ("raw", steps.raw_scores),
        ("scaled", steps.scaled_scores),
        ("masked", np.where(steps.visible, steps.masked_scores, np.nan)),
        ("weights", steps.weights),
    )
    figure = make_subplots(
        rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.06,
        subplot_titles=[plotly_literal(titles[name]) for name, _ in panels],
    )
    positions = list(range(len(tokens)))
    labels = [plotly_literal(token) for token in tokens]
    for row, ((name, values), color) in enumerate(zip(panels, STEP_COLORS), start=1):
        figure.add_trace(
            go.Bar(
                x=positions,
                y=values,
                marker_color=color,
                customdata=labels,
                hovertemplate=f"{plotly_literal(key_label)} %{{x}}: %{{customdata}}<br>%{{y:.5f}}<extra></extra>",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        if name == "masked" and not steps.visible.all():
            hidden = np.flatnonzero(~steps.visible)
            figure.add_trace(
                go.Scatter(
                    x=hidden, y=np.zeros(hidden.size), mode="text", text=[MASKED_MARK] * hidden.size,
                    hoverinfo="skip", showlegend=False,
                ),
                row=row,
                col=1,
            )
    shown = tick_positions(len(tokens))
    figure.update_xaxes(tickmode="array", tickvals=shown, ticktext=[labels[position] for position in shown], tickangle=-60)
    figure.update_layout(
        height=620,
        font=dict(family=FONT_FAMILY),
        margin=dict(l=10, r=10, t=40, b=10),
        plot_bgcolor="white",
        bargap=0.2,
    )
    return figure


def steps_frame(steps, tokens: Sequence[str], heatmap_weights: np.ndarray, columns: Mapping[str, str]) -> pd.DataFrame:
    """Return one row per key: position, token, every step and the heatmap's weight, columns named by ``columns``."""
    return pd.DataFrame(
        {
            columns["position"]: np.arange(len(tokens)),
            columns["token"]: list(tokens),
            columns["raw"]: steps.raw_scores,
            columns["scaled"]: steps.scaled_scores,
            columns["mask"]: np.where(steps.visible, steps.mask, -np.inf),
            columns["masked"]: steps.masked_scores,
            columns["weights"]: steps.weights,
            columns["heatmap"]: np.asarray(heatmap_weights, dtype=np.float64),
        }
    )
