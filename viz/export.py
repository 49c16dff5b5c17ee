"""Export figures (PNG, SVG, PDF, offline HTML) and attention numbers (CSV, NPZ, JSON) with a manifest.

Every function takes a figure or a duck-typed capture result (``tokens``, ``layers``,
``attentions`` shaped ``[layer, head, query_pos, key_pos]``, ``manifest``; optionally
``target_tokens``, ``decoder_attentions``, ``cross_attentions``) and returns bytes.
Data files keep the float32 weights exactly: NPZ stores the arrays themselves, CSV writes 9
significant digits (enough for any float32 to read back unchanged) and JSON writes each
value's shortest exact decimal.
"""

from __future__ import annotations

import copy
import csv
import html
import io
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from .file_metadata import embed_manifest
from .static_export import BrowserNotFoundError, ExportTimeoutError, StaticExportError, StaticRenderer, find_browser, shared_renderer
from .style import FONT_FAMILY

__all__ = [
    "ATTENTION_KINDS",
    "CSV_COLUMNS",
    "STATIC_FORMATS",
    "BrowserNotFoundError",
    "ExportTimeoutError",
    "StaticExportError",
    "attention_csv",
    "attention_frame",
    "attention_json",
    "attention_npz",
    "available_kinds",
    "figure_to_html",
    "figure_to_static",
    "find_browser",
    "warm_up",
    "weight_count",
]

STATIC_FORMATS = ("png", "svg", "pdf")
CSV_COLUMNS = ("layer", "head", "query_pos", "query_token", "key_pos", "key_token", "weight")
# Result fields that hold attention, with the token sequences of their query and key axes.
ATTENTION_KINDS = {
    "attentions": ("tokens", "tokens"),
    "decoder_attentions": ("target_tokens", "target_tokens"),
    "cross_attentions": ("target_tokens", "tokens"),
}
# Optional result fields copied into NPZ and JSON when a result has them.
_EXTRA_FIELDS = ("raw_tokens", "token_ids", "special_mask", "segment_ids", "target_tokens", "kv_groups")
MANIFEST_SCRIPT_ID = "attention-atlas-manifest"
# Printed with "%.9g", any float32 reads back bit for bit.
CSV_FLOAT_FORMAT = "%.9g"


def available_kinds(result) -> list[str]:
    """Return the attention fields this result has: ``attentions`` first, then decoder and cross."""
    return [kind for kind in ATTENTION_KINDS if getattr(result, kind, None) is not None]


def weight_count(result) -> int:
    """Return how many attention weights a CSV or JSON export of the whole result writes."""
    return sum(int(getattr(result, kind).size) for kind in available_kinds(result))


def _json_for_script(value) -> str:
    """Serialise ``value`` for a ``<script>`` element: no ``<``, ``>`` or ``&`` can close it or open markup."""
    text = json.dumps(value, ensure_ascii=False)
    for unsafe, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(unsafe, escaped)
    return text


def figure_to_html(figure: go.Figure, manifest: dict, title: str = "") -> bytes:
    """Return a self-contained HTML page: plotly.js inlined so it works offline, and the manifest as JSON.

    plotly (7.1) writes ``<``, ``>`` and ``/`` in the figure JSON as ``\\u`` escapes, so token
    text cannot close the script element. The manifest block is escaped the same way.
    """
    page = pio.to_html(figure, include_plotlyjs=True, full_html=True, include_mathjax=False)
    head = f"<title>{html.escape(title)}</title>" if title else ""
    page = page.replace("<head>", "<head>" + head, 1)
    block = f'<script type="application/json" id="{MANIFEST_SCRIPT_ID}">{_json_for_script(manifest)}</script>'
    return page.replace("</body>", block + "</body>", 1).encode("utf-8")


def _grow_margins(axis) -> None:
    if axis.automargin is None:
        axis.automargin = True


def _figure_for_static(figure: go.Figure) -> go.Figure:
    """Return a copy ready for a file: CJK-capable fonts, and margins that fit the tick labels.

    Settings the figure makes itself are kept. Streamlit's chart theme grows the margins on
    screen, but kaleido draws with plain plotly.js, which would cut long tick labels off.
    """
    prepared = go.Figure(copy.deepcopy(figure.to_dict()))
    if not prepared.layout.font.family:
        prepared.update_layout(font_family=FONT_FAMILY)
    prepared.for_each_xaxis(_grow_margins)
    prepared.for_each_yaxis(_grow_margins)
    return prepared


def figure_to_static(
    figure: go.Figure,
    fmt: str,
    manifest: dict | None = None,
    *,
    timeout: float = 10.0,
    scale: float = 1.0,
    width: int | None = None,
    height: int | None = None,
    title: str = "",
    browser_path: str | None = None,
    renderer: StaticRenderer | None = None,
) -> bytes:
    """Render a figure to PNG, SVG or PDF with kaleido and Chromium (MathJax off) within ``timeout`` seconds.

    The size is ``width`` x ``height`` CSS pixels (the figure's own size, else 700 x 500),
    times ``scale`` for PNG. The manifest goes into the file's metadata. Raises
    BrowserNotFoundError at once when no browser is found, ExportTimeoutError when the
    time runs out, and StaticExportError for other failures.
    """
    if fmt not in STATIC_FORMATS:
        raise ValueError(f"Invalid static format '{fmt}'. Choose one of {', '.join(STATIC_FORMATS)}.")
    if timeout <= 0:
        raise ExportTimeoutError(f"No time left for the {fmt.upper()} export (time limit {timeout:g} s).")
    prepared = _figure_for_static(figure)
    options: dict = {"format": fmt, "scale": scale}
    width = width or prepared.layout.width
    height = height or prepared.layout.height
    if width:
        options["width"] = width
    if height:
        options["height"] = height

    renderer = renderer or shared_renderer(browser_path)
    data = renderer.render(prepared.to_json(), options, timeout)
    if manifest is None:
        return data
    return embed_manifest(data, fmt, manifest, title=title)


def warm_up(browser_path: str | None = None) -> None:
    """Start the shared renderer's browser in the background so the first static export is fast.

    Raises BrowserNotFoundError at once when no browser is found.
    """
    shared_renderer(browser_path).warm_up()


def _kind_axes(result, kind: str) -> tuple[np.ndarray, list[int], tuple[str, ...], tuple[str, ...]]:
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"Invalid attention kind '{kind}'. Choose one of {', '.join(ATTENTION_KINDS)}.")
    attentions = getattr(result, kind, None)
    if attentions is None:
        raise ValueError(f"This result has no {kind}. It has: {', '.join(available_kinds(result))}.")
    query_field, key_field = ATTENTION_KINDS[kind]
    # Capture keeps the same layer indexes for encoder, decoder and cross attention. An array
    # with another layer count (a hand-built result) is numbered from 0.
    if attentions.shape[0] == len(result.layers):
        layers = list(result.layers)
    else:
        layers = list(range(attentions.shape[0]))
    return attentions, layers, tuple(getattr(result, query_field)), tuple(getattr(result, key_field))


def attention_frame(result, kind: str = "attentions", layers=None, heads=None) -> pd.DataFrame:
    """Return one kind of attention in long format, one row per (layer, head, query, key), columns CSV_COLUMNS.

    ``layers`` are model layer indexes and ``heads`` head indexes; None selects all.
    """
    attentions, all_layers, query_tokens, key_tokens = _kind_axes(result, kind)
    layer_indexes = list(range(len(all_layers))) if layers is None else [all_layers.index(layer) for layer in layers]
    head_indexes = list(range(attentions.shape[1])) if heads is None else [int(head) for head in heads]
    selected = attentions[np.ix_(layer_indexes, head_indexes)]
    _, _, queries, keys = selected.shape

    layer_grid, head_grid, query_grid, key_grid = np.meshgrid(
        np.array(all_layers)[layer_indexes], head_indexes, np.arange(queries), np.arange(keys), indexing="ij"
    )
    query_grid = query_grid.ravel()
    key_grid = key_grid.ravel()
    return pd.DataFrame(
        {
            "layer": layer_grid.ravel(),
            "head": head_grid.ravel(),
            "query_pos": query_grid,
            "query_token": np.array(query_tokens, dtype=object)[query_grid],
            "key_pos": key_grid,
            "key_token": np.array(key_tokens, dtype=object)[key_grid],
            "weight": selected.ravel(),
        },
        columns=list(CSV_COLUMNS),
    )


def _manifest_comment(manifest: dict, kind: str) -> str:
    lines = [f"# {key}: {json.dumps(value, ensure_ascii=False)}\n" for key, value in manifest.items()]
    lines.append(f"# attention_kind: {json.dumps(kind)}\n")
    return "".join(lines)


def attention_csv(result, kind: str = "attentions", **selection) -> bytes:
    """Return one kind of attention as long-format CSV, preceded by the manifest as ``#`` comment lines.

    Token columns are always quoted, so ``pandas.read_csv(path, comment="#")`` reads a token
    such as ``#`` as text. ``selection`` takes ``layers`` and ``heads`` as in attention_frame.
    """
    frame = attention_frame(result, kind, **selection)
    table = frame.to_csv(index=False, float_format=CSV_FLOAT_FORMAT, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    return (_manifest_comment(result.manifest, kind) + table).encode("utf-8")


def _extra_fields(result) -> dict:
    return {name: getattr(result, name) for name in _EXTRA_FIELDS if getattr(result, name, None) is not None}


def attention_npz(result) -> bytes:
    """Return an NPZ with every attention array unchanged (float32), tokens, layer indexes and the manifest as JSON text."""
    arrays = {kind: getattr(result, kind) for kind in available_kinds(result)}
    arrays["tokens"] = np.array(result.tokens, dtype=str)
    arrays["layers"] = np.array(result.layers, dtype=np.int64)
    for name, value in _extra_fields(result).items():
        arrays[name] = np.array(value, dtype=str) if name.endswith("tokens") else np.array(value)
    arrays["manifest"] = np.array(json.dumps(result.manifest, ensure_ascii=False))

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def attention_json(result) -> bytes:
    """Return the manifest, tokens, layer indexes and every attention array as nested lists in one JSON object.

    ``shapes`` gives each array's shape; values are the float32 weights written exactly.
    """
    payload: dict = {
        "manifest": result.manifest,
        "tokens": list(result.tokens),
        "layers": [int(layer) for layer in result.layers],
        "shapes": {kind: list(getattr(result, kind).shape) for kind in available_kinds(result)},
    }
    for name, value in _extra_fields(result).items():
        payload[name] = list(value)
    for kind in available_kinds(result):
        payload[kind] = getattr(result, kind).tolist()
    return json.dumps(payload, ensure_ascii=False, default=_numpy_scalar).encode("utf-8")


def _numpy_scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Cannot write {type(value).__name__} to JSON.")
