"""The capture record (manifest) that every export carries, shown on screen with a description per field."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from i18n import ENGLISH

from .text import t

DESCRIPTION_PREFIX = "manifest."


def field_description(field: str) -> str:
    """Return the translated description of a manifest field, or an empty string for a field without one."""
    key = DESCRIPTION_PREFIX + field
    return t(key) if key in ENGLISH else ""


def _display_value(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def manifest_frame(manifest: dict) -> pd.DataFrame:
    """Tabulate a manifest: field name, value as text, and what the field means."""
    return pd.DataFrame(
        {
            t("manifest.column_field"): list(manifest),
            t("manifest.column_value"): [_display_value(value) for value in manifest.values()],
            t("manifest.column_meaning"): [field_description(field) for field in manifest],
        }
    )


def render_manifest(manifest: dict) -> None:
    """Show the manifest in a collapsed expander below the capture summary."""
    with st.expander(t("manifest.title")):
        st.caption(t("manifest.intro"))
        st.dataframe(manifest_frame(manifest), hide_index=True, width="stretch")
