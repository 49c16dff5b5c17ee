"""The translation layer: catalogue completeness, placeholders, fallback, and every page in Chinese."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from i18n import CATALOGUES, ENGLISH, LANGUAGES, SIMPLIFIED_CHINESE, language_from_locale, placeholders, translate
from i18n.examples import DEFAULT_EXAMPLE, EXAMPLES, contains_cjk, example_by_name
from model_utils import capture
from tests.app_driver import navigation_only, page_files, submit
from tests.tiny_models import save_tiny_model, tiny_bart, tiny_gpt2
from viz import export
from viz.heatmap import attention_heatmap
from viz.static_export import StaticRenderer

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"

# Keys whose Chinese text legitimately has no Chinese character: the product name, the
# sentence-pair directions and a formula used as a column header. Templates made only of
# placeholders and punctuation pass without being listed.
LATIN_ONLY_KEYS = {
    "app.title",
    "views.pair_AA",
    "views.pair_AB",
    "views.pair_BA",
    "views.pair_BB",
    "walkthrough.column_raw",
}

# Labels that read the same in both languages: the product name, file formats, language names.
LATIN_ONLY_LABELS = {"Attention Atlas", "HTML", "CSV", "NPZ", "JSON", "PNG", "SVG", "PDF", *LANGUAGES.values()}

LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
PLOTLY_TAG = re.compile(r"<[^>]*>")
PLOTLY_FIELD = re.compile(r"%\{[^}]*\}")
TEXT_ATTRIBUTES = ("label", "help", "placeholder")
TEXT_ELEMENTS = {"Title", "Header", "Subheader", "Caption", "Markdown", "Info", "Warning", "Error", "Success", "Exception"}


def _format_fields(template: str) -> set[tuple[str, str]]:
    """Return ``(name, format_spec)`` for each ``{name:spec}`` field, so ``{weight:.4f}`` must match exactly."""
    import string

    return {(name, spec or "") for _, name, spec, _ in string.Formatter().parse(template) if name is not None}


def _is_placeholder_only(template: str) -> bool:
    stripped = re.sub(r"\{[^}]*\}", "", template)
    return not LATIN_WORD.search(stripped)


# Catalogue checks ---------------------------------------------------------------------


def test_every_key_has_chinese_entry():
    missing = sorted(set(ENGLISH) - set(SIMPLIFIED_CHINESE))
    assert missing == [], f"Keys without a Chinese entry in i18n/messages_zh_cn.py: {missing}"


def test_no_chinese_key_outside_english():
    stale = sorted(set(SIMPLIFIED_CHINESE) - set(ENGLISH))
    assert stale == [], f"Chinese keys that no longer exist in i18n/messages_en.py: {stale}"


def test_chinese_entries_are_chinese():
    left_in_english = [
        key
        for key, text in SIMPLIFIED_CHINESE.items()
        if key not in LATIN_ONLY_KEYS and not _is_placeholder_only(text) and not contains_cjk(text)
    ]
    assert left_in_english == [], f"Chinese entries with no Chinese character: {left_in_english}"


def test_latin_only_keys_exist():
    assert LATIN_ONLY_KEYS <= set(ENGLISH)


def test_latin_only_keys_match_english():
    for key in LATIN_ONLY_KEYS:
        assert SIMPLIFIED_CHINESE[key] == ENGLISH[key], key


def test_placeholders_match_english():
    for key, english in ENGLISH.items():
        if key in SIMPLIFIED_CHINESE:
            assert _format_fields(SIMPLIFIED_CHINESE[key]) == _format_fields(english), key


def test_templates_parse():
    for language, catalogue in CATALOGUES.items():
        for key, template in catalogue.items():
            assert isinstance(template, str), (language, key)
            placeholders(template)


def test_every_template_formats():
    # Fill each field with a sample of the right kind, so a bad format spec raises here.
    for language, catalogue in CATALOGUES.items():
        for key, template in catalogue.items():
            values = {name: (1.5 if spec.endswith(("f", "%", "e", "g")) else 3) for name, spec in _format_fields(template)}
            if values:
                assert translate(language, key, **values), (language, key)


def test_chinese_terms_consistent():
    # 注意力头 is the term for head; 头部 (head of a body) or 标头 must not creep in.
    for key, text in SIMPLIFIED_CHINESE.items():
        assert "头部" not in text, key
        assert "标头" not in text, key


# Lookup -------------------------------------------------------------------------------


def test_translate_chinese():
    assert translate("zh-CN", "sidebar.language") == "语言"
    assert translate("en", "sidebar.language") == "Language"


def test_translate_fills_values():
    assert translate("zh-CN", "overview.pick_limit", count=5) == "最多只能选择四个注意力头，当前已选 5 个。"


def test_translate_falls_back_to_english(monkeypatch, caplog):
    monkeypatch.setitem(ENGLISH, "test.only_english", "Only in English {value}")
    with caplog.at_level(logging.WARNING, logger="i18n"):
        first = translate("zh-CN", "test.only_english", value=1)
        translate("zh-CN", "test.only_english", value=2)
    assert first == "Only in English 1"
    assert sum("test.only_english" in record.getMessage() for record in caplog.records) == 1


def test_translate_unknown_language_uses_english():
    assert translate("fr", "sidebar.run") == ENGLISH["sidebar.run"]


def test_translate_unknown_key_raises():
    with pytest.raises(KeyError, match="no.such_key"):
        translate("zh-CN", "no.such_key")


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("zh-CN", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh_TW", "zh-CN"),
        ("ZH-hk", "zh-CN"),
        ("en-US", "en"),
        ("de-DE", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_language_from_locale(locale, language):
    assert language_from_locale(locale) == language


# Example sentences --------------------------------------------------------------------


def test_every_example_has_label():
    for example in EXAMPLES:
        assert f"example.{example.name}" in ENGLISH
        assert f"example.{example.name}" in SIMPLIFIED_CHINESE


def test_examples_in_both_languages():
    assert {example.language for example in EXAMPLES} >= {"en", "zh-CN"}
    assert DEFAULT_EXAMPLE in EXAMPLES


def test_example_by_name_unknown():
    with pytest.raises(KeyError, match="cat"):
        example_by_name("dog")


def test_chinese_example_tokenisation(embedded_model):
    # The embedded uncased English WordPiece vocabulary contains a few hundred CJK characters:
    # those become one token each, the rest become [UNK], and no character is split further.
    result = capture(embedded_model, example_by_name("chinese").text)
    inner_raw = list(result.raw_tokens[1:-1])
    inner_labels = list(result.tokens[1:-1])

    assert inner_raw == ["我", "[UNK]", "[UNK]", "大", "学", "学", "[UNK]", "中", "文", "。"]
    assert inner_labels == list("我们在大学学习中文。")


def test_mixed_example_tokenisation(embedded_model):
    result = capture(embedded_model, example_by_name("mixed").text)

    assert "transform" in result.raw_tokens
    assert "##er" in result.raw_tokens
    assert "[UNK]" in result.raw_tokens
    assert "的" in result.raw_tokens


# Every page in Chinese ----------------------------------------------------------------


def screen_texts(node) -> list[tuple[str, str]]:
    """Collect ``(element type, text)`` for every heading, caption, alert, label, help and placeholder."""
    texts = []
    kind = type(node).__name__
    if kind in TEXT_ELEMENTS and isinstance(getattr(node, "value", None), str):
        texts.append((kind, node.value))
    for attribute in TEXT_ATTRIBUTES:
        value = getattr(node, attribute, None)
        if isinstance(value, str) and value:
            texts.append((f"{kind}.{attribute}", value))
    for child in (getattr(node, "children", None) or {}).values():
        texts.extend(screen_texts(child))
    return texts


def _in_legend(trace: dict, layout: dict) -> bool:
    """Return whether plotly lists the trace in the legend (heatmaps and images stay out unless asked)."""
    if trace.get("showlegend") is True:
        return True
    legend_types = {"scatter", "scattergl", "bar", "box", "violin", "histogram"}
    return trace.get("type", "scatter") in legend_types and trace.get("showlegend") is not False and layout.get("showlegend") is not False


def figure_texts(spec: dict) -> list[tuple[str, bool]]:
    """Collect the interface text of a plotly figure: titles, annotations, legend names and hover text.

    Each text comes with a flag that is True for precomputed hover text, which also contains token labels.
    """
    layout = spec.get("layout", {})
    texts = []

    def title_of(item) -> str | None:
        title = (item or {}).get("title")
        return title.get("text") if isinstance(title, dict) else title

    texts.append(title_of(layout))
    for name, value in layout.items():
        if name.startswith(("xaxis", "yaxis", "coloraxis")) and isinstance(value, dict):
            texts.append(title_of(value))
            texts.append(title_of(value.get("colorbar")))
    texts.extend(annotation.get("text") for annotation in layout.get("annotations", []))
    hover_texts = []
    for trace in spec.get("data", []):
        texts.append(title_of(trace.get("colorbar")))
        texts.append(trace.get("hovertemplate"))
        if trace.get("name") and _in_legend(trace, layout):
            texts.append(trace["name"])
        hovertext = trace.get("hovertext")
        hover_texts.extend((text, True) for text in (hovertext if isinstance(hovertext, list) else [hovertext]))
    interface = [(text, False) for text in texts]
    return [(text, holds_tokens) for text, holds_tokens in interface + hover_texts if isinstance(text, str) and text]


def figure_data_labels(spec: dict) -> set[str]:
    """Return the token labels a figure shows as data (tick text, marker text); they are not interface text."""
    labels = set()
    for name, value in spec.get("layout", {}).items():
        if name.startswith(("xaxis", "yaxis")) and isinstance(value, dict):
            labels.update(str(text) for text in value.get("ticktext") or [])
    for trace in spec.get("data", []):
        text = trace.get("text")
        if isinstance(text, list):
            labels.update(str(item) for item in text)
    return labels


def english_lines(text: str, data_labels: set[str]) -> list[str]:
    """Return the lines of a figure text that hold a Latin word but no Chinese, once token labels are removed.

    A label is removed only where it appears as a whole word, so a one-letter token cannot hide "key".
    """
    flagged = []
    for line in re.split(r"<br\s*/?>", text):
        rest = PLOTLY_TAG.sub(" ", PLOTLY_FIELD.sub(" ", line))
        for label in sorted(data_labels, key=len, reverse=True):
            if label.strip():
                rest = re.sub(rf"(?<![A-Za-z]){re.escape(label)}(?![A-Za-z])", " ", rest)
        if LATIN_WORD.search(rest) and not contains_cjk(rest) and rest.strip() not in LATIN_ONLY_LABELS:
            flagged.append(line)
    return flagged


@pytest.fixture(scope="module")
def chinese_example_request():
    from ui.session import Request, get_settings

    return Request(get_settings().default_model, example_by_name("chinese").text)


def test_app_registers_pages():
    pages = page_files()
    assert len(pages) >= 2
    for page in pages:
        assert (ROOT / page).is_file(), page


@pytest.fixture(autouse=True)
def navigation():
    with navigation_only():
        yield


def assert_chinese_screen(at: AppTest, page: str) -> None:
    """Check that the page raised nothing and shows Chinese in every heading, label, alert and chart text."""
    assert not at.exception, [item.value for item in at.exception]
    texts = screen_texts(at._tree)
    assert any(kind == "Header" and contains_cjk(text) for kind, text in texts), texts
    english = [
        (kind, text)
        for kind, text in texts
        if not contains_cjk(text) and text not in LATIN_ONLY_LABELS and LATIN_WORD.search(text)
    ]
    assert english == [], f"English left on {page}: {english}"

    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        data_labels = figure_data_labels(spec)
        flagged = [
            line
            for text, holds_tokens in figure_texts(spec)
            for line in english_lines(text, data_labels if holds_tokens else set())
        ]
        assert flagged == [], f"English figure text on {page}: {flagged}"


@pytest.mark.parametrize("page", page_files())
def test_page_in_chinese(page, embedded_model, chinese_example_request):
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["atlas.language"] = "zh-CN"
    at.session_state["atlas.request"] = chinese_example_request
    at.run()
    at.switch_page(page).run()

    assert_chinese_screen(at, page)


@pytest.fixture
def chinese_everywhere(monkeypatch):
    """Make every lookup Chinese, also those AppTest makes from the test thread.

    AppTest calls a widget's format_func outside the script run, where the session's
    language cannot be read. Pages that translate inside format_func would then show
    English options to AppTest alone.
    """
    import ui.text

    monkeypatch.setattr(ui.text, "current_language", lambda: "zh-CN")


@pytest.fixture(scope="module")
def tiny_model_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    return {"gpt2": save_tiny_model(tiny_gpt2(), root / "gpt2"), "bart": save_tiny_model(tiny_bart(), root / "bart")}


@pytest.mark.parametrize("family", ["gpt2", "bart"])
def test_tiny_model_pages_in_chinese(family, tiny_model_folders, chinese_everywhere):
    # Decoders and encoder-decoders show controls that the embedded encoder never shows,
    # such as hiding the first token, the attention type and the target text. Their
    # byte-level BPE also splits each Chinese character into fragments.
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["atlas.language"] = "zh-CN"
    at.run()
    submit(at, model=tiny_model_folders[family], text=example_by_name("chinese").text)
    submit(at)
    assert any(tiny_model_folders[family] in caption.value for caption in at.caption), "the tiny model did not run"

    for page in page_files():
        at.switch_page(page).run()
        assert_chinese_screen(at, page)


def test_generation_in_chinese(tiny_model_folders, chinese_everywhere):
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["atlas.language"] = "zh-CN"
    at.run()
    submit(at, model=tiny_model_folders["gpt2"], text=example_by_name("mixed").text)
    at.switch_page("pages/generation.py").run()

    at.button(key="generation.generate").click().run()

    assert at.get("plotly_chart"), "no chart after generating"
    assert_chinese_screen(at, "pages/generation.py")


def test_language_picker_switches(embedded_model):
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert at.sidebar.selectbox(key="atlas.language").value == "en"
    assert at.header[0].value == ENGLISH["heads.title"]

    at.sidebar.selectbox(key="atlas.language").set_value("zh-CN").run()

    assert not at.exception
    assert at.header[0].value == SIMPLIFIED_CHINESE["heads.title"]
    assert at.sidebar.button[0].label == SIMPLIFIED_CHINESE["sidebar.run"]


def test_example_picker_runs_sentence(embedded_model):
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["atlas.language"] = "zh-CN"
    at.run()
    at.switch_page("pages/overview.py").run()

    at.sidebar.selectbox(key="atlas.example").set_value("chinese").run()

    assert not at.exception
    chinese = example_by_name("chinese").text
    assert at.session_state["atlas.request"].text == chinese
    assert at.sidebar.text_area[0].value == chinese
    assert at.sidebar.selectbox(key="atlas.example").value is None
    assert SIMPLIFIED_CHINESE["example.cjk_note"] in [caption.value for caption in at.sidebar.caption]


def test_error_shown_in_frame(embedded_model):
    from ui.session import Request

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["atlas.language"] = "zh-CN"
    at.session_state["atlas.request"] = Request("/no/such/model/folder", "你好")
    at.run()

    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert message.startswith(SIMPLIFIED_CHINESE["load.failed"] + "。详细信息（英文）：")
    assert "/no/such/model/folder" in message


# Capture record ----------------------------------------------------------------------


def every_manifest(embedded_model, tiny_model_folders) -> list[dict]:
    """Capture in every way the app can, so that every manifest field appears at least once."""
    from analysis.words import token_view
    from model_utils.batch import capture_batch
    from model_utils.generation import capture_generation
    from model_utils.overview import capture_thumbnails
    from tests.tiny_models import tiny_gpt2 as build_gpt2

    text = example_by_name("cat").text
    plain = capture(embedded_model, text)
    gpt2 = build_gpt2()
    return [
        plain.manifest,
        capture(embedded_model, text, "It slept.").manifest,
        token_view(plain, merge=True, hide_special=True).manifest,
        capture_generation(gpt2, text, 3).manifest,
        capture(load_tiny(tiny_model_folders["bart"]), text).manifest,
        capture_batch(gpt2, [text, "A dog."])[0].manifest,
        capture_thumbnails(embedded_model, text, pixels=4).manifest,
    ]


def load_tiny(folder: str):
    from model_utils import load_model

    return load_model(folder)


def test_every_manifest_field_described(embedded_model, tiny_model_folders):
    fields = {field for manifest in every_manifest(embedded_model, tiny_model_folders) for field in manifest}
    undescribed = sorted(field for field in fields if f"manifest.{field}" not in ENGLISH)

    assert undescribed == [], f"Add descriptions for these manifest fields to i18n/messages_en.py: {undescribed}"


def test_manifest_shown_in_chinese(embedded_model, chinese_example_request):
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["atlas.language"] = "zh-CN"
    at.session_state["atlas.request"] = chinese_example_request
    at.run()

    expanders = [expander for expander in at.expander if expander.label == SIMPLIFIED_CHINESE["manifest.title"]]
    assert len(expanders) == 1
    table = expanders[0].dataframe[0].value
    assert list(table.columns) == [SIMPLIFIED_CHINESE[f"manifest.column_{name}"] for name in ("field", "value", "meaning")]
    rows = dict(zip(table.iloc[:, 0], table.iloc[:, 2]))
    assert rows["text"] == SIMPLIFIED_CHINESE["manifest.text"]
    assert dict(zip(table.iloc[:, 0], table.iloc[:, 1]))["text"] == chinese_example_request.text


# Exported figures in Chinese ---------------------------------------------------------

# A second sentence with the same number of characters and the punctuation in the same place,
# so that, drawn with missing-glyph boxes, its heatmap is pixel for pixel the first one's.
OTHER_CHINESE_SENTENCE = "你们在小学复习日语。"


def fonts_without_cjk(folder: Path) -> dict[str, str]:
    """Return an environment whose fontconfig lists every installed font except those with Chinese glyphs."""
    listed = subprocess.run(["fc-list", "--format", "%{file}\\n"], capture_output=True, text=True, check=True).stdout
    chinese = subprocess.run(["fc-list", "--format", "%{file}\\n", ":lang=zh"], capture_output=True, text=True, check=True).stdout
    font_folder = folder / "fonts"
    font_folder.mkdir()
    for index, path in enumerate(sorted(set(listed.split()) - set(chinese.split()))):
        (font_folder / f"{index}-{Path(path).name}").symlink_to(path)
    config = folder / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        f"  <dir>{font_folder}</dir>\n  <cachedir>{folder / 'cache'}</cachedir>\n</fontconfig>\n"
    )
    return dict(os.environ, FONTCONFIG_FILE=str(config))


def chinese_heatmaps(embedded_model) -> list:
    """Draw one head with Chinese titles for two different Chinese sentences, with the same weights."""
    result = capture(embedded_model, example_by_name("chinese").text)
    other_tokens = [result.tokens[0], *OTHER_CHINESE_SENTENCE, result.tokens[-1]]
    assert len(other_tokens) == result.num_tokens
    figures = []
    for tokens in (result.tokens, other_tokens):
        figures.append(
            attention_heatmap(
                result.layer(result.layers[1])[3],
                tokens,
                title=translate("zh-CN", "heads.heatmap_title", layer=1, head=3),
                query_title=translate("zh-CN", "common.query"),
                key_title=translate("zh-CN", "common.key"),
                weight_title=translate("zh-CN", "common.weight"),
            )
        )
    return figures


@pytest.fixture(scope="module")
def renderer():
    shared = StaticRenderer()
    yield shared
    shared.close()


def test_chinese_png_has_glyphs(embedded_model, renderer, tmp_path):
    # Drawn with a CJK font, two different Chinese sentences give different images; drawn
    # as missing-glyph boxes they give identical ones, which the control renderer shows.
    figures = chinese_heatmaps(embedded_model)
    with_cjk = [export.figure_to_static(figure, "png", renderer=renderer, timeout=30) for figure in figures]
    control = StaticRenderer(environment=fonts_without_cjk(tmp_path))
    try:
        without_cjk = [export.figure_to_static(figure, "png", renderer=control, timeout=30) for figure in figures]
    finally:
        control.close()

    assert without_cjk[0] == without_cjk[1]
    assert with_cjk[0] != with_cjk[1]
    assert with_cjk[0] != without_cjk[0]


def test_chinese_pdf_embeds_cjk_font(embedded_model, renderer):
    pdf = export.figure_to_static(chinese_heatmaps(embedded_model)[0], "pdf", renderer=renderer, timeout=30)
    font_names = re.findall(rb"/FontName\s*/([A-Za-z0-9+\-]+)", pdf)

    assert any(b"CJK" in name for name in font_names), font_names


def test_chinese_svg_names_cjk_font(embedded_model, renderer):
    svg = export.figure_to_static(chinese_heatmaps(embedded_model)[0], "svg", renderer=renderer, timeout=30).decode("utf-8")

    assert "Noto Sans CJK SC" in svg
    assert translate("zh-CN", "common.weight") in svg
    assert ">学<" in svg
