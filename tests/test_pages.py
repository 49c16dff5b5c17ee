"""Every page driven through app.py with Streamlit's AppTest: no exception, sidebar runs, state persists."""

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model_utils import capture
from tests.app_driver import APP_FILE, APP_ROOT, TEXT_KEY, decode_array, exception_messages, navigation_only, start_app, submit
from viz.labels import tick_labels

PAGE_FILES = sorted(path.relative_to(APP_ROOT).as_posix() for path in (APP_ROOT / "pages").glob("*.py"))
NEW_TEXT = "Bright stars shine over the quiet harbour tonight"


@pytest.fixture(autouse=True)
def navigation_mode():
    with navigation_only():
        yield


def assert_no_exception(app: AppTest, where: str) -> None:
    messages = exception_messages(app)
    assert messages == [], f"{where} raised: {messages}"


def heatmap_figures(app: AppTest) -> list[dict]:
    """Return the plotly figures on screen whose first trace is a heatmap."""
    figures = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    return [figure for figure in figures if figure["data"] and figure["data"][0].get("type") == "heatmap"]


@pytest.fixture(scope="module")
def embedded_tokens(embedded_model):
    """Return the display tokens the app shows for NEW_TEXT on the embedded model."""
    return capture(embedded_model, NEW_TEXT).tokens


def test_every_page_is_in_navigation():
    source = APP_FILE.read_text(encoding="utf-8")
    registered = set(re.findall(r"""["'](pages/[\w-]+\.py)["']""", source))

    assert PAGE_FILES
    assert set(PAGE_FILES) <= registered


def test_default_page_runs():
    app = start_app()

    assert_no_exception(app, "app.py")
    assert app.sidebar.text_area(key=TEXT_KEY).value.strip()
    assert heatmap_figures(app), "the default page shows no heatmap"


@pytest.mark.parametrize("page", PAGE_FILES)
def test_page_runs_after_switch(page):
    app = start_app()
    app.switch_page(page)
    app.run()

    assert_no_exception(app, page)
    assert app.sidebar.text_area(key=TEXT_KEY).value.strip()


@pytest.mark.parametrize("page", PAGE_FILES)
def test_page_reruns_after_new_text(page):
    app = start_app()
    app.switch_page(page)
    app.run()
    submit(app, text=NEW_TEXT)
    app.run()

    assert_no_exception(app, page)


def test_run_updates_heatmap(embedded_tokens):
    app = start_app()
    before = heatmap_figures(app)[0]["layout"]["xaxis"]["ticktext"]
    submit(app, text=NEW_TEXT)

    assert_no_exception(app, "Run")
    after = heatmap_figures(app)[0]["layout"]["xaxis"]["ticktext"]
    assert after == tick_labels(embedded_tokens)
    assert after != before
    assert heatmap_figures(app)[0]["layout"]["yaxis"]["ticktext"] == tick_labels(embedded_tokens)


def test_run_updates_overview(embedded_tokens):
    app = start_app()
    app.switch_page("pages/overview.py")
    app.run()
    submit(app, text=NEW_TEXT)

    assert_no_exception(app, "overview after Run")
    grid = heatmap_figures(app)[0]
    assert decode_array(grid["data"][0]["z"]).shape == (len(embedded_tokens), len(embedded_tokens))


def test_choices_persist_across_pages():
    app = start_app()
    submit(app, text=NEW_TEXT)
    app.selectbox(key="heads.layer").set_value(3).run()
    app.selectbox(key="heads.head").set_value(7).run()
    app.toggle(key="heads.rescale").set_value(True).run()
    assert_no_exception(app, "heads after choices")

    for page in PAGE_FILES:
        app.switch_page(page)
        app.run()
        assert_no_exception(app, page)
        assert app.sidebar.text_area(key=TEXT_KEY).value == NEW_TEXT
    app.switch_page("pages/heads.py")
    app.run()

    assert_no_exception(app, "heads after the round trip")
    assert app.selectbox(key="heads.layer").value == 3
    assert app.selectbox(key="heads.head").value == 7
    assert app.toggle(key="heads.rescale").value is True
    assert app.sidebar.text_area(key=TEXT_KEY).value == NEW_TEXT
    title = heatmap_figures(app)[0]["layout"]["title"]["text"]
    assert "3" in title
    assert "7" in title


def test_heads_page_shows_chosen_head(embedded_model):
    app = start_app()
    app.selectbox(key="heads.layer").set_value(5).run()
    app.selectbox(key="heads.head").set_value(11).run()
    text = app.sidebar.text_area(key=TEXT_KEY).value
    expected = capture(embedded_model, text).layer(5)[11]
    z = decode_array(heatmap_figures(app)[0]["data"][0]["z"])

    assert_no_exception(app, "heads")
    assert z.shape == expected.shape
    np.testing.assert_allclose(z, expected, rtol=0, atol=1e-6)


def test_bad_model_shows_error_not_exception():
    app = start_app()
    submit(app, text=NEW_TEXT, model="/nonexistent/model/folder")

    assert_no_exception(app, "bad model")
    assert app.error, "a failed load shows no error message"
