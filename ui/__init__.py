"""Streamlit helpers shared by the pages: session state, cached model and captures, downloads."""
