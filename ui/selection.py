"""Read plotly selection events that Streamlit returns from `st.plotly_chart(on_select=...)`."""

from __future__ import annotations


def _points(event) -> list[dict]:
    if not event:
        return []
    selection = event.get("selection") if isinstance(event, dict) else getattr(event, "selection", None)
    if not selection:
        return []
    points = selection.get("points") if isinstance(selection, dict) else getattr(selection, "points", None)
    return list(points or [])


def selected_cell(event) -> tuple[int, int] | None:
    """Return ``(query_pos, key_pos)`` of the clicked heatmap cell, or None."""
    for point in _points(event):
        if "x" in point and "y" in point:
            return int(round(point["y"])), int(round(point["x"]))
    return None


def selected_token(event) -> int | None:
    """Return the position of the clicked token in a token-flow graph, or None."""
    for point in _points(event):
        custom = point.get("customdata")
        if isinstance(custom, (list, tuple)) and len(custom) == 2 and custom[0] in ("query", "key"):
            return int(custom[1])
    return None


def selected_head(event) -> tuple[int, int] | None:
    """Return ``(layer, head)`` of the clicked overview thumbnail, or None."""
    for point in _points(event):
        custom = point.get("customdata")
        if isinstance(custom, (list, tuple)) and len(custom) == 2 and all(isinstance(value, (int, float)) for value in custom):
            return int(custom[0]), int(custom[1])
    return None
