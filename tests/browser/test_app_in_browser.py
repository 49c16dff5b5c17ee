"""The real app in Debian's Chromium: type and run, deep links on fresh servers, PNG download."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from i18n.messages_en import MESSAGES
from model_utils import capture
from tests.app_driver import registered_pages
from viz.labels import tick_labels

TYPED_TEXT = "The <b>cat</b> saw the cat & the dog"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
APP_TIMEOUT_MS = 180_000
# The title of the dialog Streamlit shows for a URL that matches no page.
PAGE_NOT_FOUND = "Page not found"


PAGE_PATHS = [url_path for _, url_path in registered_pages()]
# The default page is served at the root.
DEFAULT_PATH = ""


def wait_until_idle(page: Page) -> None:
    """Wait until the app has connected and finished its script run, also after a quick rerun."""
    app = page.locator("[data-test-script-state]")
    for _ in range(2):
        expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=APP_TIMEOUT_MS)
        page.wait_for_timeout(300)


def assert_no_app_exception(page: Page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def assert_no_console_errors(page: Page) -> None:
    errors = page.console_log.errors()
    assert errors == [], f"browser console errors: {errors}"


def heatmap_ticks(page: Page) -> dict:
    """Read the first heatmap figure's tick text from plotly's data and from the drawn SVG."""
    return page.evaluate(
        """() => {
            const plot = Array.from(document.querySelectorAll('.js-plotly-plot'))
                .find(element => element.data && element.data[0] && element.data[0].type === 'heatmap');
            if (!plot) return null;
            const drawn = selector => Array.from(plot.querySelectorAll(selector)).map(node => node.textContent);
            return {
                x_ticktext: plot.layout.xaxis.ticktext,
                y_ticktext: plot.layout.yaxis.ticktext,
                x_drawn: drawn('.xtick text'),
                y_drawn: drawn('.ytick text'),
                bold: plot.querySelectorAll('.xtick tspan[style*="bold"], .ytick tspan[style*="bold"]').length,
            };
        }"""
    )


def download_expander(page: Page) -> Locator:
    """Return the first figure's Download expander, matched by its exact title."""
    title = page.get_by_text(MESSAGES["export.title"], exact=True)
    return page.locator('[data-testid="stExpander"]').filter(has=title).first


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    wait_until_idle(page)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=APP_TIMEOUT_MS)


@pytest.fixture(scope="module")
def typed_tokens(embedded_model) -> list[str]:
    return list(capture(embedded_model, TYPED_TEXT).tokens)


def test_type_sentence_and_run(server, page, typed_tokens):
    open_app(page, server.url)
    before = heatmap_ticks(page)

    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("textbox", name=MESSAGES["sidebar.text"], exact=True).fill(TYPED_TEXT)
    sidebar.get_by_role("button", name=MESSAGES["sidebar.run"]).click()
    page.wait_for_function(
        "expected => { const plot = Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".find(element => element.data && element.data[0] && element.data[0].type === 'heatmap');"
        " return plot && JSON.stringify(plot.layout.xaxis.ticktext) === JSON.stringify(expected); }",
        arg=tick_labels(typed_tokens),
        timeout=APP_TIMEOUT_MS,
    )
    wait_until_idle(page)
    after = heatmap_ticks(page)

    assert before["x_ticktext"] != after["x_ticktext"]
    assert after["x_ticktext"] == tick_labels(typed_tokens)
    assert after["y_ticktext"] == tick_labels(typed_tokens)
    assert after["x_drawn"] == typed_tokens
    assert after["y_drawn"] == typed_tokens
    assert after["bold"] == 0
    assert page.locator("b", has_text="cat").count() == 0
    assert_no_app_exception(page)
    assert_no_console_errors(page)


def test_text_survives_page_switch(server, page):
    open_app(page, server.url)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("textbox", name=MESSAGES["sidebar.text"], exact=True).fill(TYPED_TEXT)
    sidebar.get_by_role("button", name=MESSAGES["sidebar.run"]).click()
    wait_until_idle(page)

    sidebar.locator('[data-testid="stSidebarNavLink"]').nth(1).click()
    wait_until_idle(page)

    expect(sidebar.get_by_role("textbox", name=MESSAGES["sidebar.text"], exact=True)).to_have_value(TYPED_TEXT)
    assert_no_app_exception(page)
    assert_no_console_errors(page)


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_deep_link_on_fresh_server(start_server, page, path):
    fresh = start_server()
    page.goto(f"{fresh.url}/{path}")

    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_role("textbox", name=MESSAGES["sidebar.text"], exact=True)).to_be_visible(timeout=APP_TIMEOUT_MS)
    wait_until_idle(page)
    expect(sidebar.get_by_text(MESSAGES["app.title"], exact=True)).to_be_visible()
    current = sidebar.locator('[data-testid="stSidebarNavLink"][aria-current="page"]')
    expect(current).to_have_count(1)
    # Streamlit shows the default page at the root URL.
    expected_urls = {f"{fresh.url}/{path}"} | ({fresh.url} if path == DEFAULT_PATH else set())
    assert page.url.rstrip("/") in expected_urls
    assert current.get_attribute("href").rstrip("/") in expected_urls
    expect(page.locator('[data-testid="stMain"] [data-testid="stHeading"]').first).to_be_visible()
    expect(page.get_by_text(PAGE_NOT_FOUND)).to_have_count(0)
    assert_no_app_exception(page)
    assert_no_console_errors(page)


@pytest.mark.parametrize("fresh_server", [True, False], ids=["fresh-server", "warm-server"])
def test_heads_url_opens_heads_page(start_server, server, page, fresh_server):
    url = start_server().url if fresh_server else server.url
    if not fresh_server:
        # After its first page, a server has left Streamlit's pages/ folder mode for good.
        page.goto(url)
        wait_until_idle(page)
    page.goto(f"{url}/heads")

    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_role("textbox", name=MESSAGES["sidebar.text"], exact=True)).to_be_visible(timeout=APP_TIMEOUT_MS)
    wait_until_idle(page)
    current = sidebar.locator('[data-testid="stSidebarNavLink"][aria-current="page"]')
    expect(current).to_have_text(MESSAGES["nav.heads"])
    expect(page.get_by_role("heading", name=MESSAGES["heads.title"]).first).to_be_visible()
    expect(page.get_by_text(PAGE_NOT_FOUND)).to_have_count(0)
    assert page.url.rstrip("/") == url
    assert_no_app_exception(page)


def test_download_png(server, page, tmp_path):
    open_app(page, server.url)
    expander = download_expander(page)
    expander.locator("summary").click()
    expander.get_by_text(MESSAGES["export.prepare"], exact=True).first.click()
    png_button = expander.get_by_role("button", name="PNG", exact=True)
    expect(png_button).to_be_visible(timeout=APP_TIMEOUT_MS)

    with page.expect_download(timeout=APP_TIMEOUT_MS) as download_info:
        png_button.click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = Path(saved).read_bytes()

    assert download.suggested_filename.endswith(".png")
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000
    assert_no_app_exception(page)
    assert_no_console_errors(page)
