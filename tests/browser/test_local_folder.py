"""Load a model from a local folder in the real app: type its path, run, and see its attention."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from i18n.messages_en import MESSAGES
from model_utils import capture, load_model
from tests.browser.test_app_in_browser import APP_TIMEOUT_MS, assert_no_app_exception, assert_no_console_errors, open_app, wait_until_idle
from tests.tiny_models import save_tiny_model, tiny_bart, tiny_llama
from viz.labels import tick_labels

TEXT = "The cat sat on the mat."


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory) -> str:
    return save_tiny_model(tiny_llama(), tmp_path_factory.mktemp("local-llama"))


@pytest.fixture(scope="module")
def bart_folder(tmp_path_factory) -> str:
    return save_tiny_model(tiny_bart(), tmp_path_factory.mktemp("local-bart"))


def run_model(page: Page, folder: str, text: str) -> None:
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("textbox", name=MESSAGES["sidebar.model"], exact=True).fill(folder)
    sidebar.get_by_role("textbox", name=MESSAGES["sidebar.text"], exact=True).fill(text)
    sidebar.get_by_role("button", name=MESSAGES["sidebar.run"]).click()


def wait_for_heatmap_ticks(page: Page, expected: list[str], axis: str = "xaxis") -> None:
    page.wait_for_function(
        "([expected, axis]) => { const plot = Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".find(element => element.data && element.data[0] && element.data[0].type === 'heatmap');"
        " return plot && JSON.stringify(plot.layout[axis].ticktext) === JSON.stringify(expected); }",
        arg=[expected, axis],
        timeout=APP_TIMEOUT_MS,
    )


def test_local_folder_model_shows_its_attention(server, page, llama_folder):
    expected = capture(load_model(llama_folder), TEXT)
    open_app(page, server.url)
    run_model(page, llama_folder, TEXT)
    wait_for_heatmap_ticks(page, tick_labels(expected.tokens))
    wait_until_idle(page)

    expect(page.get_by_text(f"{llama_folder} · {expected.num_tokens} tokens", exact=False)).to_be_visible()
    expect(page.get_by_text("(KV group 0)", exact=False).first).to_be_visible()
    expect(page.get_by_text(MESSAGES["views.hide_first"], exact=True)).to_be_visible()
    assert_no_app_exception(page)
    assert_no_console_errors(page)


def test_local_folder_encoder_decoder_cross_attention(server, page, bart_folder):
    open_app(page, server.url)
    run_model(page, bart_folder, TEXT)
    wait_until_idle(page)
    page.get_by_text(MESSAGES["views.role_cross_attentions"], exact=True).click()
    wait_until_idle(page)
    expected = capture(load_model(bart_folder), TEXT)
    wait_for_heatmap_ticks(page, tick_labels(expected.tokens), "xaxis")
    wait_for_heatmap_ticks(page, tick_labels(expected.target_tokens), "yaxis")

    assert_no_app_exception(page)
    assert_no_console_errors(page)
