"""Attention Atlas: the entry point that draws the sidebar and routes to the pages."""

import streamlit as st

from log_config import configure_logging
from ui.session import get_settings, keep_widget_state, render_sidebar
from ui.text import t

configure_logging(get_settings().log_level)

st.set_page_config(page_title="Attention Atlas", page_icon="🔭", layout="wide")
keep_widget_state()


def open_heads_page() -> None:
    """Send a request for ``/heads`` to the Heads page, which Streamlit serves only at the root URL."""
    st.switch_page("pages/heads.py")


PAGES = [
    # Streamlit serves the default page at "/" only, so its url_path is an internal name
    # that must differ from the /heads alias below.
    st.Page("pages/heads.py", title=t("nav.heads"), url_path="home", default=True),
    st.Page("pages/overview.py", title=t("nav.overview"), url_path="overview"),
    st.Page("pages/statistics.py", title=t("nav.statistics"), url_path="statistics"),
    st.Page("pages/layers.py", title=t("nav.layers"), url_path="layers"),
    st.Page("pages/walkthrough.py", title=t("nav.walkthrough"), url_path="walkthrough"),
    st.Page("pages/compare.py", title=t("nav.compare"), url_path="compare"),
    st.Page("pages/generation.py", title=t("nav.generation"), url_path="generation"),
    st.Page(open_heads_page, title=t("nav.heads"), url_path="heads", visibility="hidden"),
]
navigation = st.navigation(PAGES)
st.sidebar.title(t("app.title"))
st.sidebar.caption(t("app.caption"))
render_sidebar()
navigation.run()
