"""Eight browser sessions on one server run their own text at the same moment and get their own result."""

from __future__ import annotations

import re

import numpy as np
from playwright.sync_api import expect

from i18n.messages_en import MESSAGES
from model_utils import capture
from tests.browser.test_app_in_browser import APP_TIMEOUT_MS, wait_until_idle

SESSION_TEXTS = [
    "The cat sat on the mat because it was tired.",
    "A dog ran in the park and the cat watched it.",
    "Colourless green ideas sleep furiously.",
    "The trophy did not fit in the suitcase because it was too big.",
    "Attention weights show where each token looks.",
    "注意力机制让模型关注句子中最相关的词。",
    "One two three four five six seven eight nine ten.",
    "<b>markup</b> & entities stay text",
]
HEATMAP_SCRIPT = """() => {
    const plot = Array.from(document.querySelectorAll('.js-plotly-plot'))
        .find(element => element._fullData && element._fullData[0] && element._fullData[0].type === 'heatmap');
    if (!plot) return null;
    return {title: plot.layout.title.text, z: Array.from(plot._fullData[0].z, row => Array.from(row))};
}"""


def test_eight_sessions_at_once(server, browser, embedded_model):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US") for _ in SESSION_TEXTS]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.set_default_timeout(APP_TIMEOUT_MS)
            page.goto(server.url)
        for page, text in zip(pages, SESSION_TEXTS):
            wait_until_idle(page)
            page.locator('[data-testid="stSidebar"]').get_by_role("textbox", name=MESSAGES["sidebar.text"], exact=True).fill(text)

        # Press Run in every session before waiting for any of them.
        for page in pages:
            page.locator('[data-testid="stSidebar"]').get_by_role("button", name=MESSAGES["sidebar.run"]).click()

        for index, (page, text) in enumerate(zip(pages, SESSION_TEXTS)):
            reference = capture(embedded_model, text)
            page.wait_for_function(
                "count => { const plot = Array.from(document.querySelectorAll('.js-plotly-plot'))"
                ".find(element => element._fullData && element._fullData[0] && element._fullData[0].type === 'heatmap');"
                " return plot && plot._fullData[0].z.length === count; }",
                arg=reference.num_tokens,
            )
            wait_until_idle(page)
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)
            shown = page.evaluate(HEATMAP_SCRIPT)
            layer, head = (int(number) for number in re.findall(r"\d+", shown["title"])[:2])
            expected = reference.layer(layer)[head]
            np.testing.assert_allclose(np.asarray(shown["z"], dtype=float), expected, rtol=0, atol=1e-6, err_msg=f"session {index}")
    finally:
        for context in contexts:
            context.close()
