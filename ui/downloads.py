"""Download buttons shown beside every figure.

HTML, CSV, NPZ and JSON buttons pass a callable to ``st.download_button``. Streamlit calls
it only when the button is clicked, on a thread apart from the script run, so reruns stay
cheap. PNG, SVG and PDF need Chromium, so they are rendered on request, all three within
one time limit, and kept in session state until the figure changes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

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
# CSV and JSON above this many weights are offered as NPZ only: at about 40 bytes per CSV
# row, 4 million weights already make a file of about 160 MB.
TEXT_EXPORT_MAX_WEIGHTS = 4_000_000
PNG_SCALE = 2


@dataclass
class StaticFiles:
    """PNG, SVG and PDF rendered for one figure, or the reason rendering stopped."""

    fingerprint: str
    files: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None


def _fingerprint(figure: go.Figure) -> str:
    return hashlib.sha256(figure.to_json().encode("utf-8")).hexdigest()


def _error_text(error: export.StaticExportError, fmt: str, timeout: float) -> str:
    if isinstance(error, export.BrowserNotFoundError):
        return t("export.no_browser", reason=str(error))
    if isinstance(error, export.ExportTimeoutError):
        return t("export.timed_out", format=fmt.upper(), seconds=f"{timeout:g}")
    return t("export.static_failed", format=fmt.upper(), reason=str(error))


def render_static_files(figure: go.Figure, manifest: dict, name: str, timeout: float, browser_path: str | None) -> StaticFiles:
    """Render PNG, SVG and PDF one after another, all within ``timeout`` seconds; stop at the first failure."""
    prepared = StaticFiles(_fingerprint(figure))
    deadline = time.monotonic() + timeout
    for fmt in export.STATIC_FORMATS:
        try:
            prepared.files[fmt] = export.figure_to_static(
                figure,
                fmt,
                manifest,
                timeout=deadline - time.monotonic(),
                scale=PNG_SCALE if fmt == "png" else 1,
                title=name,
                browser_path=browser_path,
            )
        except export.StaticExportError as error:
            logger.warning("Static export of %s as %s failed: %s", name, fmt, error)
            prepared.error = _error_text(error, fmt, timeout)
            break
    return prepared

DATA_FILE_STEM = "attention-all-layers-heads"


def _data_buttons(figure: go.Figure, result, name: str, key: str) -> None:
    files = {
        "html": lambda: export.figure_to_html(figure, result.manifest, title=name),
        "csv": lambda: export.attention_csv(result),
        "npz": lambda: export.attention_npz(result),
        "json": lambda: export.attention_json(result),
    }
    weights = export.weight_count(result)
    text_allowed = weights <= TEXT_EXPORT_MAX_WEIGHTS

    columns = st.columns(len(files))
    for column, (fmt, build) in zip(columns, files.items()):
        column.download_button(
            fmt.upper(),
            build,
            # The numbers cover every captured layer and head, not only the figure's head.
            file_name=f"{name}.{fmt}" if fmt == "html" else f"{DATA_FILE_STEM}.{fmt}",
            mime=MIME_TYPES[fmt],
            key=f"{key}.{fmt}",
            on_click="ignore",
            disabled=fmt in ("csv", "json") and not text_allowed,
            width="stretch",
        )
    st.caption(t("export.data_scope"))
    if not text_allowed:
        st.caption(t("export.text_too_large", count=f"{weights:,}", limit=f"{TEXT_EXPORT_MAX_WEIGHTS:,}"))

    # Encoder-decoder results: one more CSV per extra attention kind, with the same columns.
    extra_kinds = [kind for kind in export.available_kinds(result) if kind != "attentions"]
    if extra_kinds and text_allowed:
        columns = st.columns(len(extra_kinds))
        for column, kind in zip(columns, extra_kinds):
            column.download_button(
                t(f"export.csv_{kind}"),
                lambda kind=kind: export.attention_csv(result, kind),
                file_name=f"{name}-{kind.replace('_', '-')}.csv",
                mime=MIME_TYPES["csv"],
                key=f"{key}.csv_{kind}",
                on_click="ignore",
                width="stretch",
            )


def _static_buttons(figure: go.Figure, result, name: str, key: str) -> None:
    settings = get_settings()
    browser_path = settings.chromium_path or None
    try:
        export.warm_up(browser_path)
    except export.BrowserNotFoundError as error:
        st.info(t("export.no_browser", reason=str(error)))
        return

    state_key = f"{key}.static_files"
    if st.button(t("export.prepare"), key=f"{key}.prepare", help=t("export.prepare_help")):
        with st.spinner(t("export.rendering")):
            st.session_state[state_key] = render_static_files(
                figure, result.manifest, name, settings.export_timeout_seconds, browser_path
            )
    prepared: StaticFiles | None = st.session_state.get(state_key)
    if prepared is None:
        return
    if prepared.fingerprint != _fingerprint(figure):
        # The figure changed since the files were rendered (another head, another text).
        del st.session_state[state_key]
        return

    if prepared.error:
        st.warning(prepared.error)
    if prepared.files:
        columns = st.columns(len(export.STATIC_FORMATS))
        for column, fmt in zip(columns, export.STATIC_FORMATS):
            if fmt in prepared.files:
                column.download_button(
                    fmt.upper(),
                    prepared.files[fmt],
                    file_name=f"{name}.{fmt}",
                    mime=MIME_TYPES[fmt],
                    key=f"{key}.{fmt}",
                    on_click="ignore",
                    width="stretch",
                )


def render_downloads(figure: go.Figure, result, name: str, key: str) -> None:
    """Show HTML, CSV, NPZ and JSON downloads for one figure and its numbers, and PNG, SVG and PDF on request.

    ``key`` must be unique per figure on a page; every button key starts with it.
    """
    with st.expander(t("export.title")):
        _data_buttons(figure, result, name, key)
        _static_buttons(figure, result, name, key)
