"""Export figures (PNG, SVG, PDF, offline HTML) and attention numbers (CSV, NPZ, JSON) with a manifest."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

STATIC_FORMATS = ("png", "svg", "pdf")
CSV_COLUMNS = ("layer", "head", "query_pos", "query_token", "key_pos", "key_token", "weight")


class StaticExportError(RuntimeError):
    """A PNG, SVG or PDF could not be rendered; the message says why."""


def figure_to_html(figure: go.Figure, manifest: dict) -> bytes:
    """Return a self-contained HTML file (plotly.js inlined, so it works offline) with the manifest in a comment-free meta block."""
    html = pio.to_html(figure, include_plotlyjs=True, full_html=True, include_mathjax=False)
    manifest_json = json.dumps(manifest, ensure_ascii=True).replace("<", "\\u003c")
    block = f'<script type="application/json" id="attention-atlas-manifest">{manifest_json}</script>'
    return html.replace("</body>", block + "</body>", 1).encode("utf-8")


def figure_to_static(figure: go.Figure, fmt: str, *, timeout: float = 10.0) -> bytes:
    """Render a figure to PNG, SVG or PDF with kaleido and Chromium, MathJax off."""
    if fmt not in STATIC_FORMATS:
        raise ValueError(f"Invalid static format '{fmt}'. Choose one of {', '.join(STATIC_FORMATS)}.")
    import kaleido

    try:
        return kaleido.calc_fig_sync(figure, opts={"format": fmt}, kopts={"mathjax": False, "timeout": timeout})
    except Exception as error:  # kaleido raises many types (ChromeNotFoundError, TimeoutError, RuntimeError)
        raise StaticExportError(f"{type(error).__name__}: {error}") from error


def attention_frame(result, layers=None, heads=None) -> pd.DataFrame:
    """Return attention in long format: one row per (layer, head, query, key)."""
    attentions = result.attentions
    layer_indexes = list(range(attentions.shape[0])) if layers is None else [result.layers.index(layer) for layer in layers]
    head_indexes = list(range(attentions.shape[1])) if heads is None else list(heads)
    selected = attentions[np.ix_(layer_indexes, head_indexes)]
    num_layers, num_heads, queries, keys = selected.shape
    layer_grid, head_grid, query_grid, key_grid = np.meshgrid(
        np.array(result.layers)[layer_indexes], head_indexes, np.arange(queries), np.arange(keys), indexing="ij"
    )
    tokens = np.array(result.tokens, dtype=object)
    return pd.DataFrame(
        {
            "layer": layer_grid.ravel(),
            "head": head_grid.ravel(),
            "query_pos": query_grid.ravel(),
            "query_token": tokens[query_grid.ravel()],
            "key_pos": key_grid.ravel(),
            "key_token": tokens[key_grid.ravel()],
            "weight": selected.ravel(),
        }
    )


def attention_csv(result, **selection) -> bytes:
    """Return the long-format CSV, preceded by the manifest as ``#`` comment lines."""
    header = "".join(f"# {key}: {json.dumps(value, ensure_ascii=False)}\n" for key, value in result.manifest.items())
    return (header + attention_frame(result, **selection).to_csv(index=False)).encode("utf-8")


def attention_npz(result) -> bytes:
    """Return an NPZ with the float32 arrays, tokens, layer indexes and the manifest as JSON."""
    buffer = io.BytesIO()
    arrays = {
        "attentions": result.attentions,
        "tokens": np.array(result.tokens, dtype=str),
        "layers": np.array(result.layers, dtype=np.int64),
        "manifest": np.array(json.dumps(result.manifest, ensure_ascii=False)),
    }
    for name in ("decoder_attentions", "cross_attentions"):
        if getattr(result, name, None) is not None:
            arrays[name] = getattr(result, name)
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def attention_json(result) -> bytes:
    """Return the manifest, tokens, layer indexes and the nested weight lists as JSON."""
    payload = {
        "manifest": result.manifest,
        "tokens": list(result.tokens),
        "layers": list(result.layers),
        "shape": list(result.attentions.shape),
        "attentions": result.attentions.tolist(),
    }
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")
