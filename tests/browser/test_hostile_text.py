"""Hostile text in a real browser: payloads that would set ``window.__pwned`` if run never do.

Each payload is typed into the sidebar on every page of app.py, and into the model field,
and is drawn into the exported HTML file, which Chromium then opens from disk. The pointer
sweeps every chart so plotly also renders its hover labels from the token text.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from i18n.messages_en import MESSAGES
from model_utils import capture
from tests.app_driver import page_url_paths
from tests.browser.test_app_in_browser import APP_TIMEOUT_MS, wait_until_idle
from viz.export import figure_to_html
from viz.flow import token_flow_figure
from viz.grid import head_grid_figure, heads_side_by_side
from viz.heatmap import attention_heatmap

# Each payload would set window.__pwned if the browser ran it as markup or script.
PAYLOADS = (
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=1</script>",
    '"><svg onload="window.__pwned=1">',
    "'><iframe srcdoc=\"<script>parent.__pwned=1</script>\">",
    '<a href="javascript:window.__pwned=1">click</a>',
    "<details open ontoggle=window.__pwned=1>",
    "[link](javascript:window.__pwned=1) ![image](x onerror=window.__pwned=1)",
    "<b>bold</b><br><sub>low</sub> &lt;script&gt; &amp;",
)
HOSTILE_TEXT = " ".join(PAYLOADS)
# Raw HTML, then Markdown that Streamlit would draw as an image, a link, LaTeX and colour if unescaped.
HOSTILE_MODEL = '<img src=x onerror="window.__pwned=1"> ![p](http://127.0.0.1:9/p.png) [a](javascript:window.__pwned=1) $x^2$ :red[r]'
# Elements and attributes that only appear if a payload became markup.
INJECTED_MARKUP_SCRIPT = """() => {
    const found = [];
    for (const element of document.querySelectorAll('*')) {
        for (const attribute of element.attributes) {
            const name = attribute.name.toLowerCase();
            const value = attribute.value || '';
            if (name.startsWith('on') && value.includes('__pwned')) found.push(`${element.tagName} ${name}`);
            if ((name === 'href' || name === 'src' || name === 'xlink:href') && value.trim().toLowerCase().startsWith('javascript:')) {
                found.push(`${element.tagName} ${name}=${value}`);
            }
            if (name === 'srcdoc' && value.includes('__pwned')) found.push(`${element.tagName} srcdoc`);
        }
        if (element.tagName === 'SCRIPT' && element.type !== 'application/json' && (element.textContent || '').includes('__pwned')) {
            found.push('SCRIPT with payload');
        }
    }
    return found;
}"""
SWEEP_STEPS = 6


def sweep_charts(page: Page) -> None:
    """Move the pointer over a grid of points on every chart, so plotly draws hover labels."""
    charts = page.locator(".js-plotly-plot")
    for index in range(charts.count()):
        box = charts.nth(index).bounding_box()
        if box is None:
            continue
        for row in range(1, SWEEP_STEPS):
            for column in range(1, SWEEP_STEPS):
                page.mouse.move(box["x"] + box["width"] * column / SWEEP_STEPS, box["y"] + box["height"] * row / SWEEP_STEPS)


def assert_not_run(page: Page, where: str) -> None:
    assert page.evaluate("() => window.__pwned === undefined"), f"a payload ran on {where}"
    assert page.evaluate(INJECTED_MARKUP_SCRIPT) == [], f"payload markup reached the DOM on {where}"


def sidebar_fields(page: Page):
    sidebar = page.locator('[data-testid="stSidebar"]')
    text = sidebar.get_by_role("textbox", name=MESSAGES["sidebar.text"], exact=True)
    model = sidebar.get_by_role("textbox", name=MESSAGES["sidebar.model"], exact=True)
    run = sidebar.get_by_role("button", name=MESSAGES["sidebar.run"])
    return text, model, run


@pytest.mark.parametrize("path", page_url_paths())
def test_hostile_text_on_page(server, page, path):
    page.goto(f"{server.url}/{path}")
    wait_until_idle(page)
    text, model, run = sidebar_fields(page)

    text.fill(HOSTILE_TEXT)
    run.click()
    wait_until_idle(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    sweep_charts(page)
    assert_not_run(page, f"/{path} with hostile text")
    assert text.input_value() == HOSTILE_TEXT

    model.fill(HOSTILE_MODEL)
    run.click()
    wait_until_idle(page)
    error = page.locator('[data-testid="stAlertContentError"]').first
    expect(error).to_contain_text(HOSTILE_MODEL, timeout=APP_TIMEOUT_MS)
    # NOTE: a bare http:// URL in the message still becomes a link (GitHub-flavoured autolink);
    # it opens in a new tab with rel=noopener and runs nothing.
    assert error.locator("img, .katex, math, a:not([href^='http'])").count() == 0, error.inner_html()
    assert_not_run(page, f"/{path} with a hostile model id")
    assert model.input_value() == HOSTILE_MODEL
    assert text.input_value() == HOSTILE_TEXT


@pytest.fixture(scope="module")
def hostile_capture(embedded_model):
    return capture(embedded_model, HOSTILE_TEXT)


def export_figures(result) -> dict[str, object]:
    """Build every figure kind the pages export, from one capture."""
    first_layer = result.layer(result.layers[0])
    return {
        "heatmap": attention_heatmap(first_layer[0], result.tokens, title="layer 0, head 0"),
        "flow": token_flow_figure(first_layer, result.tokens, heads=[0, 1], threshold=0.0),
        "grid": head_grid_figure(result.attentions, result.layers),
        "side_by_side": heads_side_by_side(
            [first_layer[0], first_layer[1]], ["head 0", "head 1"], result.tokens, difference=first_layer[0] - first_layer[1]
        ),
    }


@pytest.mark.parametrize("kind", ["heatmap", "flow", "grid", "side_by_side"])
def test_hostile_text_in_exported_html(browser, hostile_capture, tmp_path, kind):
    figure = export_figures(hostile_capture)[kind]
    path = tmp_path / f"{kind}.html"
    path.write_bytes(figure_to_html(figure, hostile_capture.manifest, title=HOSTILE_TEXT))

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(path.as_uri())
        expect(page.locator(".js-plotly-plot .main-svg").first).to_be_attached(timeout=60_000)
        sweep_charts(page)
        assert_not_run(page, f"the exported {kind} HTML")
        assert page.title() == HOSTILE_TEXT
        manifest = page.evaluate("() => JSON.parse(document.getElementById('attention-atlas-manifest').textContent)")
        assert manifest["text"] == HOSTILE_TEXT
    finally:
        context.close()


def test_checks_detect_markup_that_ran(browser):
    """The checks above fail on a page that does treat the payloads as markup."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(f"<html><body>{HOSTILE_TEXT}</body></html>")
        page.wait_for_function("() => window.__pwned === 1", timeout=10_000)
        with pytest.raises(AssertionError):
            assert_not_run(page, "a page that renders the payloads as HTML")
        page.evaluate("() => { delete window.__pwned; }")
        with pytest.raises(AssertionError):
            assert_not_run(page, "a page that keeps the payloads' markup")
    finally:
        context.close()
