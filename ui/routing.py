"""Keep every page under app.py's navigation, also on the first deep link after a server start."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def require_app_entry() -> None:
    """Rerun through app.py when Streamlit ran this page in its legacy ``pages/`` folder mode.

    Streamlit 1.67 decides once per process whether a ``pages/`` folder beside the main
    script means legacy multipage mode, and only `st.navigation` turns that off. A first
    request for ``/heads`` on a fresh server therefore runs this script alone, without the
    sidebar. Page URLs equal the file names, so the rerun lands on the same page.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
