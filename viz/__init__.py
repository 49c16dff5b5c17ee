"""Plotly figure builders for captured attention; pure functions with no Streamlit and no torch."""
