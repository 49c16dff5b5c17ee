"""Presentation constants shared by every figure: colour scales, head colours and sizes."""

import plotly.express as px

# Viridis is perceptually uniform and readable with the common forms of colour blindness.
WEIGHT_COLORSCALE = "Viridis"
DIFFERENCE_COLORSCALE = "RdBu_r"
FUTURE_KEY_COLOR = "#d9d9d9"
# Paul Tol's and CARTO's colour-blind-safe qualitative palettes, one colour per head.
HEAD_COLORS = px.colors.qualitative.Safe + px.colors.qualitative.Dark24
FONT_FAMILY = "Noto Sans CJK SC, Noto Sans, Arial, sans-serif"
# At most this many token labels on one axis. At about 10 pixels a label, that fills the
# 330 pixels a heatmap gets in a half-width column of a 1400-pixel screen.
MAX_LABELLED_TICKS = 32
CLICK_LAYER_MAX_CELLS = 128 * 128
# Above this many cells in one figure, heatmap hover shows positions only: per-cell token
# text would take about 40 bytes a cell, and tens of seconds to build at 2048 tokens.
HOVER_TEXT_MAX_CELLS = 256 * 256


def head_color(head: int) -> str:
    """Return the colour of one head, the same in every view."""
    return HEAD_COLORS[head % len(HEAD_COLORS)]
