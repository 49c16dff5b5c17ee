"""The analysis pages driven through app.py with AppTest: they render, and their numbers match the analyses."""

import copy
import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from analysis.flow import FlowSolver
from analysis.rollout import attention_rollout, fuse_heads, residual_attention
from analysis.statistics import head_statistics, punctuation_mask
from i18n.messages_en import MESSAGES
from model_utils import capture
from tests.app_driver import navigation_only
from tests.test_pages import APP_FILE, decode_array
from tests.tiny_models import tiny_bert, tiny_gpt2, tiny_llama

TEXT = "The cat sat on the mat because it was tired."
MODEL_KEY = "atlas.model_field"
TEXT_KEY = "atlas.text_field"


@pytest.fixture(autouse=True)
def navigation():
    with navigation_only():
        yield


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory):
    """Save tiny models to folders the app can load: BERT shares the embedded model's tokenizer."""
    folders = {}
    for name, build in (("bert", tiny_bert), ("gpt2", tiny_gpt2), ("llama", tiny_llama)):
        loaded = build()
        folder = tmp_path_factory.mktemp(f"tiny-{name}")
        loaded.model.save_pretrained(folder)
        loaded.tokenizer.save_pretrained(folder)
        folders[name] = str(folder)
    return folders


@pytest.fixture(scope="module")
def embedded_result(embedded_model):
    return capture(embedded_model, TEXT)


def open_page(page: str, **state) -> AppTest:
    app = AppTest.from_file(str(APP_FILE), default_timeout=120)
    for key, value in state.items():
        app.session_state[key] = value
    app.run()
    app.switch_page(page)
    app.run()
    assert_clean(app, page)
    return app


def assert_clean(app: AppTest, where: str) -> None:
    assert [exception.message for exception in app.exception] == [], where
    assert [error.value for error in app.error] == [], where


def submit(app: AppTest, *, model: str | None = None, text: str | None = None) -> None:
    if model is not None:
        app.sidebar.text_input(key=MODEL_KEY).set_value(model)
    if text is not None:
        app.sidebar.text_area(key=TEXT_KEY).set_value(text)
    next(button for button in app.sidebar.button if str(button.key).startswith("FormSubmitter:")).click()
    app.run()


def figures(app: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def table_with_column(app: AppTest, column: str):
    """Return the first table on screen that has ``column``; other pages' tables may come before it."""
    for table in app.dataframe:
        if column in table.value.columns:
            return table.value
    raise AssertionError(f"No table with a column {column!r} on screen.")


def heatmap_traces(figure: dict) -> list[dict]:
    return [trace for trace in figure["data"] if trace.get("type") == "heatmap"]


def test_statistics_page_values(embedded_result):
    app = open_page("pages/statistics.py")
    panels = heatmap_traces(figures(app)[0])
    assert len(panels) == 7
    expected = head_statistics(
        embedded_result.attentions, embedded_result.special_mask,
        punctuation_mask(embedded_result.tokens, embedded_result.special_mask), causal=False,
    )
    np.testing.assert_allclose(decode_array(panels[0]["z"]), expected.values["entropy"], atol=1e-6)
    np.testing.assert_allclose(decode_array(panels[4]["z"]), expected.values["first_token"], atol=1e-6)
    table = table_with_column(app, "Normalised entropy")
    assert len(table) == 6 * 12
    assert list(table.columns[:2]) == ["layer", "head"]


def test_statistics_skip_first_changes_scores(embedded_result):
    app = open_page("pages/statistics.py")
    before = decode_array(heatmap_traces(figures(app)[0])[2]["z"])
    app.toggle(key="stats.skip_first").set_value(True).run()
    assert_clean(app, "skip first")
    after_panels = heatmap_traces(figures(app)[0])
    assert not np.allclose(decode_array(after_panels[2]["z"]), before)
    # First-token mass is measured on the full pattern either way.
    np.testing.assert_allclose(decode_array(after_panels[4]["z"]), embedded_result.attentions[..., 0].mean(axis=-1), atol=1e-6)


def test_statistics_similar_heads_table():
    app = open_page("pages/statistics.py")
    app.slider(key="stats.similar_count").set_value(7).run()
    assert_clean(app, "similar heads")
    similar = table_with_column(app, "similarity")
    assert len(similar) == 7
    scores = similar.iloc[:, 2].tolist()
    assert scores == sorted(scores, reverse=True)
    assert not ((similar["layer"] == 0) & (similar["head"] == 0)).any()


def test_layers_page_rollout_matrix(embedded_result):
    app = open_page("pages/layers.py")
    matrix = decode_array(heatmap_traces(figures(app)[1])[0]["z"])
    np.testing.assert_allclose(matrix, attention_rollout(embedded_result.attentions)[-1], atol=1e-6)
    app.selectbox(key="layers.fusion").set_value("max").run()
    matrix = decode_array(heatmap_traces(figures(app)[1])[0]["z"])
    np.testing.assert_allclose(matrix, attention_rollout(embedded_result.attentions, "max")[-1], atol=1e-6)


def test_layers_page_trace_sizes_nodes():
    app = open_page("pages/layers.py")
    app.selectbox(key="layers.trace_token").set_value(4).run()
    assert_clean(app, "trace")
    nodes = next(trace for trace in figures(app)[0]["data"] if trace.get("customdata") and trace["customdata"][0][0] == "node")
    sizes = decode_array(nodes["marker"]["size"])
    assert sizes.max() > sizes.min()


def test_layers_page_flow_matrix(embedded_result):
    app = open_page("pages/layers.py")
    app.radio(key="layers.method").set_value("flow").run()
    assert_clean(app, "flow")
    assert any("faster solver" in caption.value for caption in app.caption)
    capacities = residual_attention(fuse_heads(embedded_result.attentions))
    matrix = decode_array(heatmap_traces(figures(app)[1])[0]["z"])
    np.testing.assert_allclose(matrix, FlowSolver(capacities, "fast").input_matrix(), atol=1e-6)
    app.selectbox(key="layers.trace_token").set_value(2).run()
    assert_clean(app, "flow trace")


def test_layers_page_decoder_note(model_folders):
    app = open_page("pages/layers.py")
    submit(app, model=model_folders["gpt2"])
    assert_clean(app, "decoder")
    assert any("piles weight on the first token" in info.value for info in app.info)


def test_walkthrough_matches_heatmap():
    app = open_page("pages/walkthrough.py")
    assert any("equals this row" in success.value for success in app.success)
    app.selectbox(key="walkthrough.layer").set_value(4)
    app.selectbox(key="walkthrough.head").set_value(9)
    app.selectbox(key="walkthrough.query").set_value(6).run()
    assert_clean(app, "walk-through")
    assert any("equals this row" in success.value for success in app.success)
    assert len(app.warning) == 0
    table = table_with_column(app, "heatmap weight")
    np.testing.assert_allclose(table.iloc[:, 6], table.iloc[:, 7], atol=1e-5)
    assert len(app.get("latex")) == 1
    assert "d_k = 32" in app.get("latex")[0].value


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_walkthrough_decoders(model_folders, name):
    app = open_page("pages/walkthrough.py")
    submit(app, model=model_folders[name], text=TEXT)
    assert_clean(app, name)
    app.selectbox(key="walkthrough.query").set_value(3).run()
    assert any("equals this row" in success.value for success in app.success)
    mask_column = table_with_column(app, "mask")["mask"]
    assert (mask_column.iloc[4:] == -np.inf).all()
    assert (mask_column.iloc[:4] == 0).all()
    if name == "llama":
        assert any("Grouped-query attention" in caption.value for caption in app.caption)


def test_compare_sentences_same_length():
    app = open_page("pages/compare.py")
    assert len(app.warning) == 0
    distance = decode_array(heatmap_traces(figures(app)[0])[0]["z"])
    assert distance.shape == (6, 12)
    assert (distance > 0).all()


def test_compare_sentences_count_message():
    app = open_page("pages/compare.py")
    app.text_area(key="compare.second_text").set_value("A much shorter one.").run()
    assert_clean(app, "shorter")
    assert any("13 tokens" in warning.value and "has 7" in warning.value for warning in app.warning)
    side_by_side = figures(app)[1]
    assert decode_array(heatmap_traces(side_by_side)[0]["z"]).shape == (7, 7)


def test_compare_same_sentence_is_zero():
    app = open_page("pages/compare.py")
    app.text_area(key="compare.second_text").set_value(TEXT).run()
    assert_clean(app, "same sentence")
    assert np.abs(decode_array(heatmap_traces(figures(app)[0])[0]["z"])).max() < 1e-6


@pytest.fixture(scope="module")
def fine_tuned_folder(embedded_model, tmp_path_factory):
    """Save a copy of the embedded model whose last layer's query weights were nudged, like a fine-tuned model."""
    model = copy.deepcopy(embedded_model.model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        query = model.encoder.layer[5].attention.self.query.weight
        query.add_(0.05 * torch.randn(query.shape, generator=generator))
    folder = tmp_path_factory.mktemp("fine-tuned")
    model.save_pretrained(folder)
    embedded_model.tokenizer.save_pretrained(folder)
    return str(folder)


def test_compare_two_models(fine_tuned_folder):
    app = open_page("pages/compare.py")
    app.radio(key="compare.mode").set_value("models").run()
    assert any("Enter a second model" in info.value for info in app.info)
    app.text_input(key="compare.second_model").set_value(fine_tuned_folder).run()
    assert_clean(app, "two models")
    distance = decode_array(heatmap_traces(figures(app)[0])[0]["z"])
    assert distance.shape == (6, 12)
    # Only the last layer changed, so only its heads differ.
    assert np.abs(distance[:5]).max() < 1e-6
    assert (distance[5] > 1e-4).all()


def test_compare_models_need_same_tokenizer(model_folders):
    app = open_page("pages/compare.py")
    app.radio(key="compare.mode").set_value("models").run()
    app.text_input(key="compare.second_model").set_value(model_folders["gpt2"]).run()
    assert any("tokenize the text differently" in error.value for error in app.error)


def test_word_switches_apply_to_every_page(embedded_model):
    text = "Tokenization splits unbelievable words."
    pieces = capture(embedded_model, text)
    app = open_page("pages/heads.py")
    submit(app, text=text)
    app.sidebar.toggle(key="atlas.merge_words").set_value(True)
    app.sidebar.toggle(key="atlas.hide_special").set_value(True).run()
    assert_clean(app, "word view")
    weights = decode_array(heatmap_traces(figures(app)[0])[0]["z"])
    assert weights.shape == (5, 5)
    assert len(pieces.tokens) > 7
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    assert any("summed over its pieces" in caption.value for caption in app.caption)
    for page in ("pages/statistics.py", "pages/layers.py", "pages/compare.py", "pages/overview.py"):
        app.switch_page(page).run()
        assert_clean(app, page)
    app.switch_page("pages/walkthrough.py").run()
    assert_clean(app, "walk-through with word view")
    assert any("do not apply here" in info.value for info in app.info)


def test_walkthrough_after_generate(model_folders):
    app = open_page("pages/generation.py")
    submit(app, model=model_folders["gpt2"], text=TEXT)
    app.button(key="generation.generate").click().run()
    app.switch_page("pages/walkthrough.py").run()

    assert_clean(app, "walk-through after generate")
    queries = app.selectbox(key="walkthrough.query").options
    app.selectbox(key="walkthrough.query").set_value(len(queries) - 1).run()
    assert_clean(app, "last generated token")
    assert any("equals this row" in success.value for success in app.success)


def test_walkthrough_sentence_pair():
    app = open_page("pages/walkthrough.py")
    app.sidebar.text_area(key="atlas.text_pair_field").set_value("A dog ran in the park.")
    submit(app)

    assert_clean(app, "sentence pair")
    assert any("equals this row" in success.value for success in app.success)


def test_compare_shows_status_and_rules_once():
    app = open_page("pages/compare.py", **{"atlas.merge_words": True})

    assert_clean(app, "compare with words merged")
    assert len(app.main.status) == 1
    rule = MESSAGES["view.merge_words_rule"]
    assert [caption.value for caption in app.caption].count(rule) == 1


def test_statistics_table_headers_in_chinese():
    app = open_page("pages/statistics.py", **{"atlas.language": "zh-CN"})

    configs = [json.loads(frame.proto.columns) for frame in app.dataframe]
    labelled = [config for config in configs if "layer" in config]
    assert len(labelled) == 2
    assert all(config["layer"]["label"] == "层" and config["head"]["label"] == "头" for config in labelled)


def test_compare_length_notice_counts_words():
    app = open_page("pages/compare.py", **{"atlas.merge_words": True})
    app.text_area(key="compare.second_text").set_value("A much shorter one.").run()

    assert_clean(app, "shorter with words merged")
    assert any("words and sentence B has" in warning.value for warning in app.warning)
