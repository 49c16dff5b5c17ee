"""Every model family through the pages: tiny models saved to folders and loaded by path, as a user would."""

import pytest

from model_utils import count_hooks
from tests.app_driver import chart_specs, error_messages, exception_messages, navigation_only, page_files, start_app, submit
from tests.tiny_models import ALL_BUILDERS, DECODER_BUILDERS, ENCODER_BUILDERS, SEQ2SEQ_BUILDERS, save_tiny_model
from ui.session import _load_shared_model

TEXT = "The cat sat on the mat."
# The Q·K walk-through records query and key vectors through transformers' AttentionInterface,
# so for encoder-decoders and models outside that interface (GPT-Neo) it shows a plain error.
PAGES_WITH_LIMITS = {"pages/walkthrough.py"}


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    return {name: save_tiny_model(builder(), root / name) for name, builder in ALL_BUILDERS.items()}


@pytest.fixture(autouse=True)
def navigation():
    with navigation_only():
        yield


def decoded_axis(spec: dict, axis: str) -> list[str]:
    return spec["layout"][axis]["ticktext"]


@pytest.mark.parametrize("name", sorted(ALL_BUILDERS))
def test_family_opens_on_every_page(model_folders, name):
    app = start_app()
    submit(app, model=model_folders[name], text=TEXT)

    assert exception_messages(app) == []
    assert error_messages(app) == []
    assert chart_specs(app), "the Heads page drew no chart"
    for page in page_files():
        app.switch_page(page).run()
        assert exception_messages(app) == [], page
        if page not in PAGES_WITH_LIMITS:
            assert error_messages(app) == [], page
    assert count_hooks(_load_shared_model(model_folders[name]).model) == 0


@pytest.mark.parametrize("name", sorted(SEQ2SEQ_BUILDERS))
def test_seq2seq_views_switch(model_folders, name):
    app = start_app()
    submit(app, model=model_folders[name], text=TEXT)
    submit(app)  # The sidebar shows the target fields once the model's kind is known.
    labels = [area.label for area in app.sidebar.text_area]
    app.sidebar.text_area(key="atlas.target_field").set_value("Die Katze sitzt.")
    submit(app)

    assert "Target (optional)" in labels
    source_axis = decoded_axis(chart_specs(app)[0], "xaxis")
    app.radio(key="heads.role").set_value("cross_attentions").run()
    cross = chart_specs(app)[0]
    app.radio(key="heads.role").set_value("decoder_attentions").run()
    decoder = chart_specs(app)[0]

    assert exception_messages(app) == []
    assert decoded_axis(cross, "xaxis") == source_axis
    assert decoded_axis(cross, "yaxis") == decoded_axis(decoder, "yaxis")
    assert decoded_axis(cross, "yaxis") != source_axis
    assert "Die" in "".join(decoded_axis(cross, "yaxis")) or "D" in decoded_axis(cross, "yaxis")
    assert [toggle.label for toggle in app.toggle if toggle.key == "heads.hide_first"], "decoder self-attention is causal"


@pytest.mark.parametrize("name", sorted(ENCODER_BUILDERS))
def test_sentence_pair_filters(model_folders, name):
    app = start_app()
    submit(app, model=model_folders[name], text="The cat sat.")
    submit(app)
    app.sidebar.text_area(key="atlas.text_pair_field").set_value("A dog ran.")
    submit(app)
    full = chart_specs(app)[0]
    app.radio(key="heads.pair").set_value("AB").run()
    block = chart_specs(app)[0]

    assert exception_messages(app) == []
    rows, columns = decoded_axis(block, "yaxis"), decoded_axis(block, "xaxis")
    assert len(rows) + len(columns) == len(decoded_axis(full, "xaxis"))
    assert "cat" in "".join(rows)
    assert "dog" in "".join(columns)
    assert "dog" not in "".join(rows)


@pytest.mark.parametrize("name", sorted(DECODER_BUILDERS))
def test_decoder_generation_page(model_folders, name):
    app = start_app("pages/generation.py")
    submit(app, model=model_folders[name], text=TEXT)
    app.number_input(key="generation.new_tokens").set_value(4).run()
    app.button(key="generation.generate").click().run()

    assert exception_messages(app) == []
    assert error_messages(app) == []
    specs = chart_specs(app)
    assert len(specs) == 2
    shapes = specs[1]["layout"]["shapes"]
    assert any(shape["type"] == "line" and shape["x0"] == shape["x1"] for shape in shapes), "prompt boundary"
    assert any(shape["type"] == "rect" for shape in shapes), "current step"
    if app.get("slider"):
        app.slider(key="generation.step").set_value(1).run()
        assert exception_messages(app) == []
    app.switch_page("pages/heads.py").run()
    app.toggle(key="heads.hide_first").set_value(True).run()

    assert exception_messages(app) == []
    assert any("First token hidden" in caption.value for caption in app.caption)


def test_grouped_query_heads_in_picker(model_folders):
    app = start_app()
    submit(app, model=model_folders["llama"], text=TEXT)
    picker = app.selectbox(key="heads.head")

    assert picker.options == ["0 (KV group 0)", "1 (KV group 0)", "2 (KV group 1)", "3 (KV group 1)"]
    hover = chart_specs(app)[0]["data"][0]["hovertemplate"]
    assert "key/value group 0 of 2" in hover


def test_encoder_generation_page_explains(model_folders):
    app = start_app("pages/generation.py")
    submit(app, model=model_folders["bert"], text=TEXT)

    assert exception_messages(app) == []
    assert any("encoder" in info.value for info in app.info)


def test_unknown_folder_shows_plain_message(tmp_path):
    app = start_app()
    submit(app, model=str(tmp_path / "missing"), text=TEXT)

    assert exception_messages(app) == []
    assert error_messages(app)


def test_overview_switches_seq2seq_self_attention(model_folders):
    app = start_app("pages/overview.py")
    submit(app, model=model_folders["t5"], text=TEXT)
    encoder_specs = chart_specs(app)
    app.radio(key="overview.role").set_value("decoder_attentions").run()
    decoder_specs = chart_specs(app)

    assert exception_messages(app) == []
    assert error_messages(app) == []
    assert app.radio(key="overview.role").options == ["Encoder self-attention", "Decoder self-attention"]
    assert decoder_specs != encoder_specs


def test_shorter_decoder_on_heads_page(tmp_path):
    from tests.tiny_models import tiny_bart

    folder = save_tiny_model(tiny_bart(decoder_layers=1), tmp_path / "distilled-bart")
    app = start_app()
    submit(app, model=folder, text=TEXT)
    app.selectbox(key="heads.layer").set_value(1).run()
    app.radio(key="heads.role").set_value("cross_attentions").run()

    assert exception_messages(app) == []
    assert app.selectbox(key="heads.layer").options == ["0"]
    app.switch_page("pages/overview.py").run()
    app.radio(key="overview.role").set_value("decoder_attentions").run()
    assert exception_messages(app) == []
    app.switch_page("pages/generation.py").run()
    assert exception_messages(app) == []
