"""Attention Atlas: the entry point that holds the sidebar and routes to the pages."""

import logging

import streamlit as st

from ui.session import keep_widget_state, render_sidebar
from ui.text import t

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="Attention Atlas", page_icon="🔭", layout="wide")
keep_widget_state()

PAGES = [
    st.Page("pages/heads.py", title=t("nav.heads"), url_path="heads", default=True),
    st.Page("pages/overview.py", title=t("nav.overview"), url_path="overview"),
]
navigation = st.navigation(PAGES)
st.sidebar.title(t("app.title"))
st.sidebar.caption(t("app.caption"))
render_sidebar()
navigation.run()
