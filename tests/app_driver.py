"""Drive app.py with Streamlit's AppTest: submit the sidebar form, read errors and charts, list the pages."""

from __future__ import annotations

import ast
import base64
import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import streamlit.testing.v1.app_test as app_test_module
import numpy as np
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP_ROOT = Path(__file__).resolve().parent.parent
APP_FILE = APP_ROOT / "app.py"
MODEL_KEY = "atlas.model_field"
TEXT_KEY = "atlas.text_field"


class NavigationPagesManager(PagesManager):
    """A PagesManager that keeps Streamlit out of its legacy ``pages/`` folder mode.

    AppTest in Streamlit 1.67 resets that flag before every run, so without this each run
    after the first runs the page alone and the rerun asked for by ui/routing.py drops the
    form's submit click.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


@contextlib.contextmanager
def navigation_only() -> Iterator[None]:
    """Patch AppTest to build NavigationPagesManager while the block runs."""
    original = app_test_module.PagesManager
    app_test_module.PagesManager = NavigationPagesManager
    try:
        yield
    finally:
        app_test_module.PagesManager = original


def registered_pages() -> list[tuple[str, str]]:
    """List ``(script, url_path)`` of every script page registered in app.py, in menu order, read from its syntax tree.

    The url_path is the declared one, else the file stem. The default page is served at the
    root, so its path is empty. A page built from a function (the /heads alias) has no
    script of its own and is left out.
    """
    pages = []
    for node in ast.walk(ast.parse(APP_FILE.read_text(encoding="utf-8"))):
        is_page = isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page"
        if not (is_page and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        keywords = {keyword.arg: keyword.value for keyword in node.keywords}
        script = node.args[0].value
        url_path = keywords["url_path"].value if "url_path" in keywords else Path(script).stem
        default = keywords.get("default")
        if isinstance(default, ast.Constant) and default.value is True:
            url_path = ""
        pages.append((script, url_path))
    return pages


def page_files() -> list[str]:
    """Return the script path of every st.Page registered in app.py, in menu order."""
    return [script for script, _ in registered_pages()]


def page_url_paths() -> list[str]:
    """Return the url_path of every page in app.py; each equals its file stem."""
    return [Path(page).stem for page in page_files()]


def start_app(page: str | None = None) -> AppTest:
    """Run app.py once, on ``page`` when given (a path such as ``pages/overview.py``)."""
    app = AppTest.from_file(str(APP_FILE), default_timeout=120)
    app.run()
    if page is not None:
        app.switch_page(page).run()
    return app


def submit(app: AppTest, *, text: str | None = None, model: str | None = None) -> AppTest:
    """Type into the sidebar's model and text fields and press Run."""
    if model is not None:
        app.sidebar.text_input(key=MODEL_KEY).set_value(model)
    if text is not None:
        app.sidebar.text_area(key=TEXT_KEY).set_value(text)
    buttons = [button for button in app.sidebar.button if str(button.key).startswith("FormSubmitter:")]
    assert len(buttons) == 1, [button.key for button in app.sidebar.button]
    buttons[0].click()
    return app.run()


def exception_messages(app: AppTest) -> list[str]:
    return [exception.message for exception in app.exception]


def unescape_markdown(text: str) -> str:
    """Undo the backslash escapes that ui.text.literal_markdown adds, giving the text users read."""
    return re.sub(r"\\([\\`*_\[\]<>~$:&])", r"\1", text)


def error_messages(app: AppTest) -> list[str]:
    return [unescape_markdown(element.value) for element in app.error]


def warning_messages(app: AppTest) -> list[str]:
    return [unescape_markdown(element.value) for element in app.warning]


def chart_specs(app: AppTest) -> list[dict]:
    """Return every plotly figure on screen as parsed JSON."""
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def field_values(app: AppTest) -> tuple[str, str]:
    """Return what the sidebar's model and text fields hold now."""
    return app.sidebar.text_input(key=MODEL_KEY).value, app.sidebar.text_area(key=TEXT_KEY).value


def decode_array(value) -> np.ndarray:
    """Decode a plotly JSON array: plain nested lists or a base64 typed array ``{"dtype", "bdata", "shape"}``."""
    if not isinstance(value, dict):
        return np.asarray(value, dtype=float)
    flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    shape = [int(size) for size in str(value.get("shape", len(flat))).split(",")]
    return flat.reshape(shape).astype(float)


def shown_heatmap(app: AppTest) -> tuple[int, int, np.ndarray]:
    """Return the layer, head and weights of the heatmap on the heads page."""
    figure = next(spec for spec in chart_specs(app) if spec["data"] and spec["data"][0].get("type") == "heatmap")
    return int(app.session_state["heads.layer"]), int(app.session_state["heads.head"]), decode_array(figure["data"][0]["z"])
