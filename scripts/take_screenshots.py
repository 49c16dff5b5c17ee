"""Take the README's screenshots of a running Attention Atlas into docs/images/.

Usage: start the app (scripts/run-dashboard), then
    .venv/bin/python scripts/take_screenshots.py [URL]
URL defaults to http://127.0.0.1:8501. Needs Debian's chromium (ATLAS_CHROMIUM overrides the path).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from i18n.messages_en import MESSAGES  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.browser.test_app_in_browser import APP_TIMEOUT_MS, download_expander, wait_until_idle  # noqa: E402

logger = logging.getLogger(__name__)

IMAGES = ROOT / "docs" / "images"
SENTENCE = "The trophy did not fit in the suitcase because it was too big."
VIEWPORT = {"width": 1500, "height": 950}


def run_sentence(page: Page, text: str) -> None:
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("textbox", name=MESSAGES["sidebar.text"], exact=True).fill(text)
    sidebar.get_by_role("button", name=MESSAGES["sidebar.run"]).click()
    wait_until_idle(page)


def pick(page: Page, label: str, option: str) -> None:
    """Choose ``option`` in the Streamlit selectbox labelled ``label``."""
    page.locator('[data-testid="stSelectbox"]', has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_until_idle(page)


def save(page: Page, name: str, **options) -> None:
    path = IMAGES / name
    page.screenshot(path=str(path), **options)
    logger.info("Saved %s", path)


def main(url: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=APP_TIMEOUT_MS)
    chromium = os.environ.get("ATLAS_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT, locale="en-US")
        page.set_default_timeout(APP_TIMEOUT_MS)

        page.goto(url)
        wait_until_idle(page)
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        run_sentence(page, SENTENCE)
        pick(page, MESSAGES["heads.layer"], "2")
        pick(page, MESSAGES["heads.head"], "5")
        save(page, "heads.png")

        heatmap = page.locator(".js-plotly-plot").first
        box = heatmap.locator(".nsewdrag").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.42)
        page.wait_for_timeout(500)
        save(page, "heads-hover.png", clip={"x": box["x"] - 140, "y": box["y"] - 80, "width": box["width"] + 260, "height": box["height"] + 200})

        expander = download_expander(page)
        expander.locator("summary").click()
        expander.get_by_text(MESSAGES["export.prepare"], exact=True).first.click()
        expect(expander.get_by_role("button", name="PNG", exact=True)).to_be_visible()
        wait_until_idle(page)
        expander.scroll_into_view_if_needed()
        # Move the pointer off the button so its help tooltip does not cover the others.
        page.mouse.move(5, 5)
        page.wait_for_timeout(500)
        save(page, "download.png", clip=_around(expander.bounding_box(), margin=20))

        page.locator('[data-testid="stSidebarNavLink"]', has_text=MESSAGES["nav.overview"]).click()
        wait_until_idle(page)
        page.wait_for_timeout(1000)
        save(page, "overview.png")
        browser.close()


def _around(box: dict, margin: float) -> dict:
    return {"x": box["x"] - margin, "y": box["y"] - margin, "width": box["width"] + 2 * margin, "height": box["height"] + 2 * margin}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8501")
