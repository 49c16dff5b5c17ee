"""Streamlit helpers shared by the analysis pages: table downloads, graph clicks and widget choices."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from .selection import selected_head
from .text import t

__all__ = ["render_table_download", "selected_head", "selected_node"]


def table_csv(frame: pd.DataFrame, manifest: dict) -> bytes:
    """Return a table as CSV, preceded by the capture's manifest as ``#`` comment lines."""
    header = "".join(f"# {key}: {json.dumps(value, ensure_ascii=False)}\n" for key, value in manifest.items())
    return (header + frame.to_csv(index=False)).encode("utf-8")


def render_table_download(frame: pd.DataFrame, result, name: str, key: str) -> None:
    """Show a CSV download button for a table, with the capture's manifest in the file."""
    st.download_button(
        t("analysis.table_csv"),
        lambda: table_csv(frame, result.manifest),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
    )


def selected_node(event) -> tuple[int, int] | None:
    """Return ``(level, token)`` of the clicked node in a layered token-flow graph, or None."""
    selection = event.get("selection") if isinstance(event, dict) else getattr(event, "selection", None)
    points = (selection.get("points") if isinstance(selection, dict) else getattr(selection, "points", None)) if selection else None
    for point in points or []:
        custom = point.get("customdata")
        if isinstance(custom, (list, tuple)) and len(custom) == 3 and custom[0] == "node":
            return int(custom[1]), int(custom[2])
    return None


def result_key(result) -> str:
    """Return a string that identifies a capture and its token view, for caching analyses of it."""
    return json.dumps(result.manifest, sort_keys=True, ensure_ascii=False, default=str)


def matrix_frame(matrix, tokens) -> pd.DataFrame:
    """Return a ``[query, key]`` matrix in long format: one row per cell with positions and tokens."""
    queries, keys = matrix.shape
    query_grid, key_grid = (grid.ravel() for grid in np.meshgrid(np.arange(queries), np.arange(keys), indexing="ij"))
    labels = np.array(tokens, dtype=object)
    return pd.DataFrame(
        {
            "query_pos": query_grid,
            "query_token": labels[query_grid],
            "key_pos": key_grid,
            "key_token": labels[key_grid],
            "value": np.asarray(matrix, dtype=np.float64).ravel(),
        }
    )


def keep_valid_choice(key: str, options, default) -> None:
    """Reset a widget's stored value to ``default`` when it is no longer among ``options``.

    A new text or model changes the token, layer and head counts, and a value kept from the
    old capture would otherwise point past the new options.
    """
    if key in st.session_state and st.session_state[key] not in list(options):
        st.session_state[key] = default
