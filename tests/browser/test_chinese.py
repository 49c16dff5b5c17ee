"""The Chinese interface in a real browser: the browser's language picks it, and every page renders in it.

Set ATLAS_SCREENSHOT_DIR to keep the screenshots, as docs/images does for the README.
Without it they go to pytest's temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from i18n import SIMPLIFIED_CHINESE
from i18n.examples import contains_cjk, example_by_name
from tests.app_driver import registered_pages

SCREENSHOT_DIR_VARIABLE = "ATLAS_SCREENSHOT_DIR"


@pytest.fixture
def chinese_page(browser):
    """A browser page whose navigator.language is zh-CN, as on a Chinese system."""
    context = browser.new_context(viewport={"width": 1600, "height": 1100}, locale="zh-CN")
    opened = context.new_page()
    opened.set_default_timeout(90_000)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.page_errors = errors
    yield opened
    context.close()


def screenshot_path(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"zh-{name}.png"


def wait_until_idle(page) -> None:
    """Wait for the script run to finish and every chart to be drawn."""
    page.wait_for_timeout(500)
    page.wait_for_selector('[data-test-script-state="notRunning"]', state="attached")
    # Widgets and charts load their code lazily and show a skeleton until then.
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=stSkeleton]').length === 0"
        " && [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(chart => chart.querySelector('.main-svg'))"
    )
    page.wait_for_timeout(500)


def test_browser_language_selects_chinese(server, chinese_page):
    chinese_page.goto(server.url)
    sidebar = chinese_page.get_by_test_id("stSidebar")

    language = sidebar.get_by_role("combobox", name=SIMPLIFIED_CHINESE["sidebar.language"])
    language.wait_for()
    assert language.input_value() == "简体中文"
    assert chinese_page.get_by_role("heading", name=SIMPLIFIED_CHINESE["heads.title"]).first.is_visible()


@pytest.mark.parametrize(("script", "url_path"), registered_pages())
def test_page_screenshot_in_chinese(server, chinese_page, tmp_path, script, url_path):
    chinese_page.goto(f"{server.url}/{url_path}")
    chinese_page.get_by_test_id("stSidebar").get_by_text(SIMPLIFIED_CHINESE["sidebar.run"], exact=True).wait_for()
    wait_until_idle(chinese_page)
    chinese_page.screenshot(path=screenshot_path(tmp_path, Path(script).stem), full_page=True)

    main = chinese_page.get_by_test_id("stMain")
    heading = main.locator("h2").first.inner_text()
    assert contains_cjk(heading), f"{script}: heading {heading!r} is not Chinese"
    assert main.get_by_test_id("stException").count() == 0, f"{script} raised an exception"
    assert chinese_page.get_by_role("dialog").count() == 0, f"{script}: a dialog covers the page"
    assert chinese_page.page_errors == []


def test_chinese_example_in_heatmap(server, chinese_page, tmp_path):
    chinese_page.goto(server.url)
    sidebar = chinese_page.get_by_test_id("stSidebar")
    sidebar.get_by_role("combobox", name=SIMPLIFIED_CHINESE["sidebar.example"]).click()
    chinese_page.get_by_role("option", name=re.compile(re.escape(example_by_name("chinese").text))).click()
    wait_until_idle(chinese_page)

    sidebar.get_by_text(SIMPLIFIED_CHINESE["example.cjk_note"]).wait_for()
    chinese_page.screenshot(path=screenshot_path(tmp_path, "example"), full_page=True)
    ticks = chinese_page.locator(".js-plotly-plot .xtick text").evaluate_all("texts => texts.map(text => text.textContent)")
    assert ticks[:4] == ["[CLS]", "我", "们", "在"]
    assert ticks.count("学") == 2
    colorbar = chinese_page.locator(".js-plotly-plot .cbtitle text").first.text_content()
    assert colorbar == SIMPLIFIED_CHINESE["common.weight"]


def test_chosen_head_in_chinese(server, chinese_page, tmp_path):
    # In the embedded model, layer 5, head 11 gives "cat" most of the weight of "it",
    # and of most other tokens too: the README uses it to show what a pattern does not prove.
    chinese_page.goto(server.url)
    wait_until_idle(chinese_page)
    main = chinese_page.get_by_test_id("stMain")
    for label, option in ((SIMPLIFIED_CHINESE["heads.layer"], "5"), (SIMPLIFIED_CHINESE["heads.head"], "11")):
        main.get_by_role("combobox", name=label, exact=True).first.click()
        chinese_page.get_by_role("option", name=option, exact=True).click()
        wait_until_idle(chinese_page)

    title = SIMPLIFIED_CHINESE["heads.heatmap_title"].format(layer=5, head=11)
    chinese_page.locator(".js-plotly-plot .gtitle", has_text=title).wait_for()
    chinese_page.screenshot(path=screenshot_path(tmp_path, "heads-layer5"), full_page=True)
