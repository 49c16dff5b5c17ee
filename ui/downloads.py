"""Download buttons shown beside every figure."""

from __future__ import annotations

import logging

import plotly.graph_objects as go
import streamlit as st

from viz import export

from .session import get_settings
from .text import t

logger = logging.getLogger(__name__)

MIME_TYPES = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "html": "text/html",
    "csv": "text/csv",
    "npz": "application/octet-stream",
    "json": "application/json",
}


def _static_or_none(figure: go.Figure, fmt: str) -> bytes | None:
    try:
        return export.figure_to_static(figure, fmt, timeout=get_settings().export_timeout_seconds)
    except export.StaticExportError as error:
        logger.warning("Static export %s failed: %s", fmt, error)
        st.warning(t("export.static_failed", format=fmt.upper(), reason=str(error)))
        return None


def render_downloads(figure: go.Figure, result, name: str, key: str) -> None:
    """Show PNG, SVG, PDF, HTML, CSV, NPZ and JSON downloads for one figure and its numbers."""
    with st.expander(t("export.title")):
        data_columns = st.columns(4)
        files = {
            "html": lambda: export.figure_to_html(figure, result.manifest),
            "csv": lambda: export.attention_csv(result),
            "npz": lambda: export.attention_npz(result),
            "json": lambda: export.attention_json(result),
        }
        for column, (fmt, build) in zip(data_columns, files.items()):
            column.download_button(
                fmt.upper(), build, file_name=f"{name}.{fmt}", mime=MIME_TYPES[fmt], key=f"{key}.{fmt}", on_click="ignore"
            )
        if st.toggle(t("export.prepare"), key=f"{key}.static", help=t("export.prepare_help")):
            static_columns = st.columns(3)
            for column, fmt in zip(static_columns, export.STATIC_FORMATS):
                data = _static_or_none(figure, fmt)
                if data is not None:
                    column.download_button(
                        fmt.upper(), data, file_name=f"{name}.{fmt}", mime=MIME_TYPES[fmt], key=f"{key}.{fmt}", on_click="ignore"
                    )
