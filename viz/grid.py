"""The model overview: every layer × head as a thumbnail in one PNG mosaic, and heads side by side."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import hex_to_rgb, sample_colorscale, unlabel_rgb
from plotly.subplots import make_subplots

from .heatmap import cell_hover, prepare_heatmap, tick_positions
from .labels import plotly_literal
from .style import DIFFERENCE_COLORSCALE, FONT_FAMILY, FUTURE_KEY_COLOR, MAX_LABELLED_TICKS, WEIGHT_COLORSCALE

# Most pixels a thumbnail gets per side; longer inputs are pooled down to this.
THUMBNAIL_PIXELS = 64
# Short inputs are enlarged by whole pixels to at least this size, so cells stay sharp.
MIN_THUMBNAIL_PIXELS = 48
THUMBNAIL_GAP = 3
# Labels on each panel's key axis in side-by-side heatmaps, at the least.
MIN_PANEL_TICKS = 6
DISPLAY_ROW_HEIGHT = 72
# Palette entries: weight levels, then one grey for future keys and one white for gaps.
COLOR_LEVELS = 254
FUTURE_INDEX = COLOR_LEVELS
GAP_INDEX = COLOR_LEVELS + 1


def block_edges(length: int, blocks: int) -> np.ndarray:
    """Return ``blocks + 1`` edges that split ``length`` positions into nearly equal blocks.

    Block ``b`` covers positions ``edges[b]`` up to, not including, ``edges[b + 1]``, with
    ``edges[b] = floor(b * length / blocks)``.
    """
    return (np.arange(blocks + 1) * length) // blocks


def pool_thumbnails(attentions: np.ndarray, pixels: int = THUMBNAIL_PIXELS) -> np.ndarray:
    """Max-pool ``[..., query, key]`` down to at most ``pixels × pixels``: each pixel is its block's strongest weight.

    Inputs no longer than ``pixels`` come back unchanged. The strongest weight keeps thin
    patterns such as a diagonal visible, where a mean would fade them.
    """
    queries, keys = attentions.shape[-2:]
    if queries <= pixels and keys <= pixels:
        return np.asarray(attentions, dtype=np.float32)
    attentions = np.asarray(attentions, dtype=np.float32)
    rows, columns = min(queries, pixels), min(keys, pixels)
    if queries % rows == 0 and keys % columns == 0:
        # Reduce the contiguous last axis first: much faster than one reduction over two strided axes.
        by_key = attentions.reshape(*attentions.shape[:-1], columns, keys // columns).max(axis=-1)
        return by_key.reshape(*attentions.shape[:-2], rows, queries // rows, columns).max(axis=-2)
    pooled = np.maximum.reduceat(attentions, block_edges(queries, rows)[:-1], axis=-2)
    return np.maximum.reduceat(pooled, block_edges(keys, columns)[:-1], axis=-1)


def future_blocks(queries: int, keys: int, rows: int, columns: int) -> np.ndarray:
    """Return a ``[rows, columns]`` mask of pooled blocks whose keys all come after their queries."""
    row_edges, column_edges = block_edges(queries, rows), block_edges(keys, columns)
    last_query = row_edges[1:] - 1
    first_key = column_edges[:-1]
    return first_key[None, :] > last_query[:, None]


def palette() -> np.ndarray:
    """Return the mosaic's RGB palette: the weight colour scale in ``COLOR_LEVELS`` steps, grey, white."""
    samples = sample_colorscale(WEIGHT_COLORSCALE, np.linspace(0.0, 1.0, COLOR_LEVELS))
    table = [unlabel_rgb(color) for color in samples]
    table += [hex_to_rgb(FUTURE_KEY_COLOR), (255, 255, 255)]
    return np.asarray(table, dtype=np.uint8)


def thumbnail_mosaic(thumbnails: np.ndarray, *, causal: bool = False, token_count: int | None = None) -> tuple[np.ndarray, int]:
    """Lay ``[layer, head, rows, columns]`` weights out as one palette image, one tile per head.

    Returns ``(indexes, tile)``: a ``uint8`` image of indexes into :func:`palette`, and a
    thumbnail's side in image pixels. For
    causal models, blocks entirely after the diagonal are grey, as in every heatmap.
    ``token_count`` is the unpooled length when the thumbnails were pooled already.
    """
    num_layers, num_heads, rows, columns = thumbnails.shape
    tokens = token_count or rows
    scale = max(1, -(-MIN_THUMBNAIL_PIXELS // max(rows, columns)))
    tile = max(rows, columns) * scale
    levels = np.clip(np.rint(np.nan_to_num(thumbnails, nan=0.0) * (COLOR_LEVELS - 1)), 0, COLOR_LEVELS - 1).astype(np.intp)
    if causal:
        levels[..., future_blocks(tokens, tokens, rows, columns)] = FUTURE_INDEX
    levels = levels.repeat(scale, axis=-2).repeat(scale, axis=-1)

    step = tile + THUMBNAIL_GAP
    canvas = np.full((num_layers * step - THUMBNAIL_GAP, num_heads * step - THUMBNAIL_GAP), GAP_INDEX, dtype=np.uint8)
    for layer in range(num_layers):
        for head in range(num_heads):
            top, left = layer * step, head * step
            canvas[top : top + rows * scale, left : left + columns * scale] = levels[layer, head]
    return canvas, tile


def png_data_uri(indexes: np.ndarray) -> str:
    """Encode a ``uint8`` palette image as a PNG data URI."""
    image = Image.fromarray(indexes, mode="P")
    image.putpalette(palette().ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


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
    token_count: int | None = None,
) -> go.Figure:
    """Draw ``[layer, head, query, key]`` as one PNG mosaic with a row per layer and a column per head.

    Inputs longer than ``THUMBNAIL_PIXELS`` are max-pooled first; pass thumbnails pooled
    elsewhere with their unpooled ``token_count``. The browser receives one compressed image
    instead of every weight as JSON. Clicking a thumbnail selects an invisible marker at its
    centre whose customdata is ``[layer, head]``, so a page can open that head.
    """
    thumbnails = pool_thumbnails(attentions)
    num_layers, num_heads = thumbnails.shape[:2]
    tokens = token_count or attentions.shape[-1]
    image, tile = thumbnail_mosaic(thumbnails, causal=causal, token_count=tokens)
    step = tile + THUMBNAIL_GAP
    centres = [(layer * step + tile / 2, head * step + tile / 2) for layer in range(num_layers) for head in range(num_heads)]
    pooled = thumbnails.shape[-1] < tokens
    block = -(-tokens // thumbnails.shape[-1])
    hover = [
        f"{layer_label} {layers[layer]}, {head_label} {head}<br>{query_label} × {key_label}: {tokens} × {tokens}"
        + (f"<br>{weight_title}: max of ≤{block}×{block}" if pooled else "")
        for layer in range(num_layers)
        for head in range(num_heads)
    ]

    figure = go.Figure()
    figure.add_trace(go.Image(source=png_data_uri(image), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip", name="thumbnails"))
    figure.add_trace(
        go.Scatter(
            x=[x for _, x in centres],
            y=[y for y, _ in centres],
            mode="markers",
            marker=dict(size=DISPLAY_ROW_HEIGHT * 0.8, symbol="square", opacity=0.0),
            customdata=[[layers[layer], head] for layer in range(num_layers) for head in range(num_heads)],
            hovertext=hover,
            hoverinfo="text",
            name="heads",
            showlegend=False,
        )
    )
    figure.add_trace(_color_bar(weight_title))
    figure.update_xaxes(
        tickmode="array",
        tickvals=[head * step + tile / 2 for head in range(num_heads)],
        ticktext=[f"{head_label} {head}" for head in range(num_heads)],
        side="top",
        showgrid=False,
        zeroline=False,
        range=[-0.5, image.shape[1] - 0.5],
    )
    figure.update_yaxes(
        tickmode="array",
        tickvals=[layer * step + tile / 2 for layer in range(num_layers)],
        ticktext=[f"{layer_label} {layer}" for layer in layers],
        showgrid=False,
        zeroline=False,
        range=[image.shape[0] - 0.5, -0.5],
        scaleanchor="x",
    )
    figure.update_layout(
        height=90 + DISPLAY_ROW_HEIGHT * num_layers,
        margin=dict(l=10, r=60, t=40, b=10),
        plot_bgcolor="white",
        font=dict(family=FONT_FAMILY, size=10),
        clickmode="event+select",
        dragmode=False,
        showlegend=False,
    )
    return figure


def _color_bar(title: str) -> go.Scatter:
    """Return an invisible trace that only draws the 0–1 colour bar of the weight scale."""
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        marker=dict(
            colorscale=WEIGHT_COLORSCALE,
            cmin=0.0,
            cmax=1.0,
            color=[0.0],
            showscale=True,
            colorbar=dict(title=plotly_literal(title), thickness=10),
        ),
        hoverinfo="skip",
        showlegend=False,
    )


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
    custom, template = cell_hover(tokens, tokens, len(panels) * len(tokens) ** 2, query_title, key_title, weight_title)
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
    # Long inputs label an even stride of positions, as single heatmaps do. Each panel gets
    # a share of the width, so its key axis gets the same share of the labels.
    key_positions = tick_positions(len(tokens), max(MIN_PANEL_TICKS, MAX_LABELLED_TICKS // len(panels)))
    query_positions = tick_positions(len(tokens))
    edges = [-0.5, len(tokens) - 0.5]
    figure.update_xaxes(
        tickmode="array", tickvals=key_positions, ticktext=[plotly_literal(tokens[position]) for position in key_positions],
        tickangle=-60, showgrid=False, range=edges,
    )
    figure.update_yaxes(
        tickmode="array", tickvals=query_positions, ticktext=[plotly_literal(tokens[position]) for position in query_positions],
        showgrid=False, range=edges[::-1],
    )
    figure.update_layout(
        height=max(380, min(900, 160 + 16 * len(tokens))),
        # Future keys are gaps that show the background. Without them the background stays clear.
        plot_bgcolor=FUTURE_KEY_COLOR if causal else "rgba(0,0,0,0)",
        font=dict(family=FONT_FAMILY),
        margin=dict(l=10, r=80, t=50, b=10),
    )
    return figure
