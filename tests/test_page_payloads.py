"""Every page on a long input: no chart larger than the payload budget, and a notice where a chart was pooled."""

import pytest

from i18n.messages_en import MESSAGES
from tests.app_driver import exception_messages, navigation_only, page_files, start_app, submit
from tests.tiny_models import save_tiny_model, tiny_gpt2
from ui.payload import DEFAULT_BUDGET_BYTES

# More tokens than the model's 1024 positions, so the capture keeps 1024: four heads side by
# side are then over the budget, and the whole matrix of one head is not.
LONG_TEXT = "Attention maps show where each token looks while the model reads. " * 40
POOLED_NOTICE = MESSAGES["payload.pooled"].split("{side}")[0]
# The Generation page draws its charts once the Generate button is pressed.
GENERATION_PAGE = "pages/generation.py"


@pytest.fixture(scope="module")
def long_model(tmp_path_factory):
    return save_tiny_model(tiny_gpt2(n_positions=1024), tmp_path_factory.mktemp("long-gpt2") / "model")


@pytest.fixture(autouse=True)
def navigation():
    with navigation_only():
        yield


def chart_sizes(app) -> list[int]:
    return [len(chart.proto.spec.encode("utf-8")) for chart in app.get("plotly_chart")]


def captions(app) -> list[str]:
    return [caption.value for caption in app.caption]


@pytest.mark.parametrize("page", page_files())
def test_long_input_charts_fit_budget(long_model, page):
    app = start_app()
    submit(app, model=long_model, text=LONG_TEXT)
    app.switch_page(page).run()
    if page == GENERATION_PAGE:
        app.button(key="generation.generate").click().run()

    assert exception_messages(app) == []
    assert chart_sizes(app), f"{page} drew no chart"
    assert max(chart_sizes(app)) <= DEFAULT_BUDGET_BYTES


def test_statistics_panels_pooled_with_notice(long_model):
    app = start_app()
    submit(app, model=long_model, text=LONG_TEXT)
    app.switch_page("pages/statistics.py").run()

    assert any(caption.startswith(POOLED_NOTICE) for caption in captions(app))


def test_layer_graph_thinned_with_notice(long_model):
    app = start_app()
    submit(app, model=long_model, text=LONG_TEXT)
    app.switch_page("pages/layers.py").run()

    notice = MESSAGES["layers.edges_thinned"].split("{shown")[0]
    assert any(caption.startswith(notice) for caption in captions(app))
