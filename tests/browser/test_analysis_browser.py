"""The analysis pages in a real browser: each opens by its URL, renders, and reacts to clicks.

Set ATLAS_SCREENSHOT_DIR to keep the screenshots; otherwise they go to pytest's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from i18n import ENGLISH

SCREENSHOT_DIR_VARIABLE = "ATLAS_SCREENSHOT_DIR"
RUNNING_WIDGET = '[data-testid="stStatusWidget"]'
PAGES = {
    "statistics": "stats.title",
    "layers": "layers.title",
    "walkthrough": "walkthrough.title",
    "compare": "compare.title",
}


@pytest.fixture
def tall_page(page):
    """The shared browser page, tall enough that Streamlit draws every chart of a page without scrolling."""
    page.set_viewport_size({"width": 1600, "height": 2600})
    return page


def wait_until_idle(page) -> None:
    """Wait for the script run to finish and every chart to be drawn."""
    page.wait_for_timeout(500)
    page.wait_for_selector(RUNNING_WIDGET, state="detached")
    page.wait_for_timeout(1000)
    page.wait_for_selector(RUNNING_WIDGET, state="detached")
    page.wait_for_function(
        "() => { const charts = [...document.querySelectorAll('[data-testid=stPlotlyChart]')];"
        " return charts.length > 0 && charts.every(chart => chart.querySelector('.main-svg')); }"
    )


def screenshot_path(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"analysis-{name}.png"


def click_data_point(page, chart_text: str, x: float, y: float, axes: str = "") -> None:
    """Click the pixel of data point ``(x, y)`` on the ``axes`` subplot ("" or "2", "3", ...) of the chart showing ``chart_text``.

    Charts are found by their text, not their order: right after a server start, charts
    of a page drawn before the app's navigation took over can still be in the document.
    """
    page.wait_for_function(
        "text => [...document.querySelectorAll('[data-testid=stMain] .js-plotly-plot')]"
        ".some(candidate => candidate.textContent.includes(text) && candidate._fullLayout)",
        arg=chart_text,
    )
    position = page.evaluate(
        """([text, x, y, axes]) => {
            const plot = [...document.querySelectorAll('[data-testid=stMain] .js-plotly-plot')]
                .find(candidate => candidate.textContent.includes(text));
            const xaxis = plot._fullLayout['xaxis' + axes], yaxis = plot._fullLayout['yaxis' + axes];
            const box = plot.getBoundingClientRect();
            return [box.left + xaxis._offset + xaxis.d2p(x), box.top + yaxis._offset + yaxis.d2p(y)];
        }""",
        [chart_text, x, y, axes],
    )
    page.mouse.click(*position)


@pytest.mark.parametrize("url_path", sorted(PAGES))
def test_page_opens_by_url(server, tall_page, tmp_path, url_path):
    page = tall_page
    page.goto(f"{server.url}/{url_path}")
    page.get_by_role("heading", name=ENGLISH[PAGES[url_path]]).first.wait_for()
    wait_until_idle(page)
    page.screenshot(path=screenshot_path(tmp_path, url_path), full_page=True)

    main = page.get_by_test_id("stMain")
    assert main.get_by_test_id("stException").count() == 0
    assert main.get_by_test_id("stAlertContentError").count() == 0
    assert main.locator(".js-plotly-plot").count() >= 2
    assert page.console_log.errors() == []


def test_statistics_cell_opens_head(server, tall_page):
    page = tall_page
    page.goto(f"{server.url}/statistics")
    page.get_by_role("heading", name=ENGLISH["stats.title"]).first.wait_for()
    wait_until_idle(page)
    # First panel (entropy): layer row 3, head column 7.
    click_data_point(page, ENGLISH["stats.entropy"], 7, 3)
    page.wait_for_function(
        "() => [...document.querySelectorAll('h2')].some(heading => heading.innerText === 'Heads')"
    )
    wait_until_idle(page)
    main = page.get_by_test_id("stMain")
    assert main.get_by_role("combobox", name=ENGLISH["heads.layer"], exact=True).input_value() == "3"
    assert main.get_by_role("combobox", name=ENGLISH["heads.head"], exact=True).input_value() == "7"


def test_layers_node_click_traces_token(server, tall_page, tmp_path):
    page = tall_page
    page.goto(f"{server.url}/layers")
    page.get_by_role("heading", name=ENGLISH["layers.title"]).first.wait_for()
    wait_until_idle(page)
    # Level 6 (after layer 5), token 3 ("sat").
    click_data_point(page, ENGLISH["layers.graph_title"], 6, 3)
    combobox = page.get_by_test_id("stMain").get_by_role("combobox", name=ENGLISH["layers.trace_token"], exact=True)
    page.wait_for_function("box => box.value === '3: sat'", arg=combobox.element_handle())
    wait_until_idle(page)
    page.screenshot(path=screenshot_path(tmp_path, "layers-traced"), full_page=True)
    sizes = page.evaluate(
        """() => {
            const plot = [...document.querySelectorAll('[data-testid=stMain] .js-plotly-plot')]
                .find(candidate => candidate.textContent.includes('Token flow across layers'));
            const nodes = plot._fullData.find(trace => trace.customdata && trace.customdata[0] && trace.customdata[0][0] === 'node');
            return Array.from(nodes.marker.size);
        }"""
    )
    assert max(sizes) > min(sizes)
    assert page.console_log.errors() == []
