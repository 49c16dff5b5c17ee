"""Exports: static images through kaleido with a time limit, offline HTML, and exact CSV, NPZ and JSON."""

import concurrent.futures
import csv
import io
import json
import os
import re
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pypdf
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from model_utils import capture
from model_utils.result import CaptureResult
from viz import export
from viz.file_metadata import MANIFEST_KEY, PDF_MANIFEST_KEY, SVG_METADATA_ID
from viz.heatmap import attention_heatmap
from viz.static_export import StaticRenderer

APP_FILE = Path(__file__).resolve().parent.parent / "app.py"
HOSTILE_TOKEN = "</script><img src=x onerror=window.injected=1>"
# Generous bound for "returns within seconds": the limits under test are far below it.
RETURN_BOUND_SECONDS = 15.0
# Limit for renders that must succeed: a start took over 10 s on a busy 2-core machine.
RENDER_LIMIT_SECONDS = 120.0


def softmax_rows(shape: tuple[int, ...], seed: int) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=shape)
    weights = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    return weights.astype(np.float32)


def make_result(tokens=("[CLS]", "the", "cat", "#", "[SEP]"), layers=(0, 2, 5), heads=2, seed=0, **fields) -> CaptureResult:
    count = len(tokens)
    return CaptureResult(
        tokens=tuple(tokens),
        raw_tokens=tuple(tokens),
        token_ids=tuple(range(count)),
        attentions=softmax_rows((len(layers), heads, count, count), seed),
        layers=tuple(layers),
        special_mask=tuple(token.startswith("[") for token in tokens),
        is_causal=False,
        manifest={"model": "synthetic", "revision": "none", "dtype": "float32", "text": "the cat # 注意力", "token_count": count},
        **fields,
    )


@pytest.fixture(scope="module")
def result():
    return make_result(tokens=("[CLS]", "the", "cat", "#", '"a,b"', HOSTILE_TOKEN, "注意", "[SEP]"))


def make_seq2seq_result() -> CaptureResult:
    source = ("▁hello", "▁world", "</s>")
    target = ("<pad>", "▁hallo", "▁welt", "</s>")
    return make_result(
        tokens=source,
        layers=(0, 1),
        heads=3,
        target_tokens=target,
        decoder_attentions=softmax_rows((2, 3, len(target), len(target)), 1),
        cross_attentions=softmax_rows((2, 3, len(target), len(source)), 2),
    )


@pytest.fixture(scope="module")
def seq2seq_result():
    return make_seq2seq_result()


@pytest.fixture(scope="module")
def figure(result):
    heatmap = attention_heatmap(result.attentions[0, 0], result.tokens, title="Layer 0, head 0")
    heatmap.update_layout(width=420, height=360)
    return heatmap


@pytest.fixture(scope="module")
def renderer():
    shared = StaticRenderer()
    yield shared
    shared.close()


def read_csv(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), comment="#", quoting=csv.QUOTE_NONNUMERIC, dtype={"query_token": str, "key_token": str})


def csv_manifest(data: bytes) -> dict:
    lines = data.decode("utf-8").splitlines()
    pairs = [line[2:].split(": ", 1) for line in lines if line.startswith("# ")]
    return {key: json.loads(value) for key, value in pairs}


def png_text(data: bytes) -> dict:
    return Image.open(io.BytesIO(data)).text


def process_gone(process_id: int, wait: float = 5.0) -> bool:
    """Return True once the process no longer exists or is a zombie waiting to be reaped."""
    end = time.monotonic() + wait
    while True:
        try:
            state = Path(f"/proc/{process_id}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.1)


def processes_running(command_part: str) -> list[int]:
    """Return the ids of live processes whose command line contains ``command_part``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if command_part in command and not process_gone(int(entry.name), wait=0):
            found.append(int(entry.name))
    return found


# --- static images -----------------------------------------------------------------------


def test_png_signature_size_and_manifest(figure, result, renderer):
    data = export.figure_to_static(figure, "png", result.manifest, scale=2, renderer=renderer, timeout=RENDER_LIMIT_SECONDS)

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(data)).size == (840, 720)
    assert json.loads(png_text(data)[MANIFEST_KEY]) == result.manifest


def test_png_explicit_size_overrides_figure(figure, renderer):
    data = export.figure_to_static(figure, "png", width=300, height=200, renderer=renderer, timeout=RENDER_LIMIT_SECONDS)

    assert Image.open(io.BytesIO(data)).size == (300, 200)


def test_svg_parses_with_manifest(figure, result, renderer):
    data = export.figure_to_static(figure, "svg", result.manifest, renderer=renderer, timeout=RENDER_LIMIT_SECONDS)

    root = ElementTree.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    metadata = root.find("{http://www.w3.org/2000/svg}metadata")
    assert metadata is not None
    assert metadata.get("id") == SVG_METADATA_ID
    assert json.loads(metadata.text) == result.manifest


def test_pdf_header_and_manifest(figure, result, renderer):
    data = export.figure_to_static(figure, "pdf", result.manifest, title="层 0 head 0", renderer=renderer, timeout=RENDER_LIMIT_SECONDS)

    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    assert len(reader.pages) == 1
    assert json.loads(reader.metadata[f"/{PDF_MANIFEST_KEY}"]) == result.manifest
    assert reader.metadata.title == "层 0 head 0"
    assert reader.metadata.producer


def test_static_keeps_axis_labels_inside(result, renderer):
    heatmap = attention_heatmap(result.attentions[0, 0], result.tokens, title="Layer 0, head 0")
    data = export.figure_to_static(heatmap, "svg", renderer=renderer, timeout=RENDER_LIMIT_SECONDS)

    root = ElementTree.fromstring(data)
    height = float(root.get("height"))
    titles = [element for element in root.iter() if element.get("class") == "xtitle"]
    assert len(titles) == 1
    assert float(titles[0].get("y")) <= height
    assert heatmap.layout.xaxis.automargin is None


def test_static_rejects_unknown_format(figure):
    with pytest.raises(ValueError, match="jpeg"):
        export.figure_to_static(figure, "jpeg")


def test_static_keeps_svg_token_text_escaped(result, renderer):
    heatmap = attention_heatmap(result.attentions[0, 0], result.tokens)
    data = export.figure_to_static(heatmap, "svg", result.manifest, renderer=renderer, timeout=RENDER_LIMIT_SECONDS)

    root = ElementTree.fromstring(data)
    assert not [element for element in root.iter() if element.tag.endswith("img") or element.tag.endswith("script")]
    texts = "".join(root.itertext())
    assert "<img src=x" in texts


def test_missing_browser_fails_fast_with_fix(figure):
    started = time.monotonic()
    with pytest.raises(export.BrowserNotFoundError) as caught:
        export.figure_to_static(figure, "png", browser_path="/nonexistent/chromium", timeout=10)
    elapsed = time.monotonic() - started

    assert elapsed < 10
    assert "/nonexistent/chromium" in str(caught.value)
    assert "apt-get install chromium" in str(caught.value)


def test_tiny_time_limit_raises_timeout(figure, renderer):
    started = time.monotonic()
    with pytest.raises(export.ExportTimeoutError, match="timed out"):
        export.figure_to_static(figure, "png", timeout=0.01, renderer=renderer)

    assert time.monotonic() - started < RETURN_BOUND_SECONDS
    # The next render starts a fresh process and works.
    assert export.figure_to_static(figure, "png", renderer=renderer, timeout=RENDER_LIMIT_SECONDS).startswith(b"\x89PNG")


def test_hanging_browser_is_killed_on_timeout(figure, tmp_path):
    pid_file = tmp_path / "browser.pid"
    fake_browser = tmp_path / "chromium"
    fake_browser.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 300\n")
    fake_browser.chmod(0o755)
    hanging = StaticRenderer(str(fake_browser))

    started = time.monotonic()
    with pytest.raises(export.ExportTimeoutError):
        export.figure_to_static(figure, "png", timeout=3, renderer=hanging)
    elapsed = time.monotonic() - started

    assert elapsed < RETURN_BOUND_SECONDS
    assert pid_file.exists(), "the fake browser never started"
    assert process_gone(int(pid_file.read_text()))
    assert processes_running(str(fake_browser)) == []
    hanging.close()


def test_idle_worker_exits_and_restarts(figure):
    idle = StaticRenderer(idle_seconds=1)
    try:
        assert export.figure_to_static(figure, "svg", renderer=idle, timeout=RENDER_LIMIT_SECONDS).startswith(b"<svg")
        worker = idle._process
        worker.wait(RENDER_LIMIT_SECONDS)

        assert not idle.is_running()
        assert export.figure_to_static(figure, "svg", renderer=idle, timeout=RENDER_LIMIT_SECONDS).startswith(b"<svg")
        assert idle._process is not worker
    finally:
        idle.close()


def test_failed_browser_start_reports_error(figure, tmp_path):
    broken_browser = tmp_path / "chromium"
    broken_browser.write_text("#!/bin/sh\nexit 3\n")
    broken_browser.chmod(0o755)
    broken = StaticRenderer(str(broken_browser))

    with pytest.raises(export.StaticExportError) as caught:
        export.figure_to_static(figure, "png", timeout=RENDER_LIMIT_SECONDS, renderer=broken)

    assert not isinstance(caught.value, export.ExportTimeoutError)
    broken.close()


def test_render_retries_after_idle_exit_race(figure, monkeypatch):
    idle = StaticRenderer(idle_seconds=1)
    try:
        export.figure_to_static(figure, "svg", renderer=idle, timeout=RENDER_LIMIT_SECONDS)
        idle._process.wait(RENDER_LIMIT_SECONDS)
        assert idle._process.returncode == 0
        # The race: the child looked alive when the request started, then exited cleanly.
        stale_answers = iter([True, True])
        monkeypatch.setattr(idle, "is_running", lambda: next(stale_answers, None) or StaticRenderer.is_running(idle))

        data = export.figure_to_static(figure, "svg", renderer=idle, timeout=RENDER_LIMIT_SECONDS)

        assert data.startswith(b"<svg")
    finally:
        idle.close()


def fonts_without_cjk(folder: Path) -> dict[str, str]:
    """Return an environment whose fontconfig finds only DejaVu, which has no CJK glyphs."""
    config = folder / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        "  <dir>/usr/share/fonts/truetype/dejavu</dir>\n"
        f"  <cachedir>{folder / 'cache'}</cachedir>\n</fontconfig>\n"
    )
    return dict(os.environ, FONTCONFIG_FILE=str(config))


def titled_figure(title: str) -> go.Figure:
    return go.Figure(go.Heatmap(z=[[0.2, 0.8], [0.6, 0.4]]), layout={"title": title, "width": 400, "height": 300})


def test_cjk_text_drawn_as_glyphs(renderer, tmp_path):
    # Two different three-character titles: drawn with a CJK font they differ; drawn as
    # missing-glyph boxes they come out identical, which the control renderer shows.
    with_cjk = [export.figure_to_static(titled_figure(title), "png", renderer=renderer, timeout=RENDER_LIMIT_SECONDS) for title in ("注意力", "模型层")]
    control = StaticRenderer(environment=fonts_without_cjk(tmp_path))
    try:
        without_cjk = [export.figure_to_static(titled_figure(title), "png", renderer=control, timeout=RENDER_LIMIT_SECONDS) for title in ("注意力", "模型层")]
    finally:
        control.close()

    assert without_cjk[0] == without_cjk[1]
    assert with_cjk[0] != with_cjk[1]
    assert with_cjk[0] != without_cjk[0]


def test_static_uses_cjk_font_family(renderer):
    bare = titled_figure("注意力")
    data = export.figure_to_static(bare, "svg", renderer=renderer, timeout=RENDER_LIMIT_SECONDS)

    assert "Noto Sans CJK SC" in data.decode("utf-8")
    assert bare.layout.font.family is None


# --- HTML ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_html(result):
    heatmap = attention_heatmap(result.attentions[0, 0], result.tokens, title=HOSTILE_TOKEN)
    return export.figure_to_html(heatmap, result.manifest, title=HOSTILE_TOKEN).decode("utf-8")


def test_html_inlines_plotly_js(hostile_html):
    script_sources = re.findall(r"<script[^>]*\bsrc\s*=", hostile_html, flags=re.IGNORECASE)

    assert script_sources == []
    assert "cdn.plot.ly/plotly" not in hostile_html
    assert "plotly.js v" in hostile_html
    assert len(hostile_html) > 1_000_000


def test_html_carries_manifest(hostile_html, result):
    block = re.search(r'<script type="application/json" id="attention-atlas-manifest">(.*?)</script>', hostile_html, re.DOTALL)

    assert block is not None
    assert json.loads(block.group(1)) == result.manifest


def test_html_token_text_cannot_close_script(hostile_html):
    opened = len(re.findall(r"<script\b", hostile_html, flags=re.IGNORECASE))
    closed = len(re.findall(r"</script", hostile_html, flags=re.IGNORECASE))

    assert opened == closed
    assert "<img" not in hostile_html
    assert "&lt;/script&gt;&lt;img" in hostile_html  # the escaped <title>


def test_manifest_block_escapes_markup():
    manifest = {"text": "</script><script>alert(1)</script> & \u2028"}
    page = export.figure_to_html(go.Figure(), manifest).decode("utf-8")
    block = re.search(r'id="attention-atlas-manifest">(.*?)</script>', page, re.DOTALL).group(1)

    assert "<" not in block
    assert json.loads(block) == manifest


def inspect_html_page(uri: str) -> dict:
    """Open an HTML file in Chromium and read what a script injection would change."""
    from playwright.sync_api import sync_playwright

    arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=arguments)
        try:
            page = browser.new_page()
            page.goto(uri)
            page.wait_for_selector(".main-svg")
            return {
                "injected": page.evaluate("window.injected === 1"),
                "images": page.locator("img").count(),
                "tick_text": page.locator(".xtick text").all_text_contents(),
                "title": page.title(),
            }
        finally:
            browser.close()


@pytest.mark.browser
def test_html_shows_hostile_token_literally(hostile_html, tmp_path):
    page_file = tmp_path / "heatmap.html"
    page_file.write_text(hostile_html, encoding="utf-8")

    # Playwright's sync API raises on a thread with a running asyncio loop, and the
    # session-wide browser of tests/browser leaves one behind. A fresh thread has none.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        seen = pool.submit(inspect_html_page, page_file.as_uri()).result()

    assert not seen["injected"]
    assert seen["images"] == 0
    assert HOSTILE_TOKEN in seen["tick_text"]
    assert seen["title"] == HOSTILE_TOKEN


# --- CSV, NPZ, JSON ------------------------------------------------------------------------


def test_csv_rows_and_columns(result):
    frame = read_csv(export.attention_csv(result))
    layers, heads, queries, keys = result.attentions.shape

    assert tuple(frame.columns) == export.CSV_COLUMNS
    assert len(frame) == layers * heads * queries * keys
    assert sorted(frame["layer"].unique()) == list(result.layers)


def test_csv_weights_round_trip_float32(result):
    frame = read_csv(export.attention_csv(result))
    weights = frame["weight"].to_numpy(dtype=np.float64).astype(np.float32)

    assert np.array_equal(weights.reshape(result.attentions.shape), result.attentions)


def test_csv_tokens_stay_literal(result):
    frame = read_csv(export.attention_csv(result))
    first_head = frame[(frame["layer"] == result.layers[0]) & (frame["head"] == 0) & (frame["key_pos"] == 0)]

    assert first_head["query_token"].tolist() == list(result.tokens)
    assert first_head["query_pos"].tolist() == list(range(len(result.tokens)))


def test_csv_carries_manifest(result):
    manifest = csv_manifest(export.attention_csv(result))

    assert manifest.pop("attention_kind") == "attentions"
    assert manifest == result.manifest


def test_csv_selection_of_layers_and_heads(result):
    frame = read_csv(export.attention_csv(result, layers=[5], heads=[1]))
    expected = result.layer(5)[1]

    assert set(frame["layer"]) == {5}
    assert set(frame["head"]) == {1}
    assert np.array_equal(frame["weight"].to_numpy().astype(np.float32).reshape(expected.shape), expected)


def test_csv_of_embedded_model(embedded_model):
    captured = capture(embedded_model, "The cat sat on the mat because the cat was tired.")
    frame = read_csv(export.attention_csv(captured))
    tokens = captured.num_tokens

    assert len(frame) == 6 * 12 * tokens * tokens
    assert np.array_equal(frame["weight"].to_numpy().astype(np.float32).reshape(captured.attentions.shape), captured.attentions)
    assert csv_manifest(export.attention_csv(captured))["attn_implementation"] == captured.manifest["attn_implementation"]


def test_npz_arrays_equal_result(result):
    archive = np.load(io.BytesIO(export.attention_npz(result)), allow_pickle=False)

    assert archive["attentions"].dtype == np.float32
    assert np.array_equal(archive["attentions"], result.attentions)
    assert archive["tokens"].tolist() == list(result.tokens)
    assert archive["layers"].tolist() == list(result.layers)
    assert archive["token_ids"].tolist() == list(result.token_ids)
    assert json.loads(str(archive["manifest"])) == result.manifest


def test_json_round_trip(result):
    payload = json.loads(export.attention_json(result))
    attentions = np.array(payload["attentions"], dtype=np.float32)

    assert payload["manifest"] == result.manifest
    assert payload["tokens"] == list(result.tokens)
    assert payload["layers"] == list(result.layers)
    assert payload["shapes"]["attentions"] == list(result.attentions.shape)
    assert np.array_equal(attentions, result.attentions)


def test_seq2seq_npz_and_json_name_each_kind(seq2seq_result):
    archive = np.load(io.BytesIO(export.attention_npz(seq2seq_result)), allow_pickle=False)
    payload = json.loads(export.attention_json(seq2seq_result))

    for kind in ("attentions", "decoder_attentions", "cross_attentions"):
        assert np.array_equal(archive[kind], getattr(seq2seq_result, kind))
        assert np.array_equal(np.array(payload[kind], dtype=np.float32), getattr(seq2seq_result, kind))
    assert archive["target_tokens"].tolist() == list(seq2seq_result.target_tokens)
    assert payload["shapes"]["cross_attentions"] == [2, 3, 4, 3]


def test_seq2seq_cross_csv_uses_target_and_source(seq2seq_result):
    data = export.attention_csv(seq2seq_result, "cross_attentions")
    frame = read_csv(data)
    cell = frame[(frame["layer"] == 1) & (frame["head"] == 2) & (frame["query_pos"] == 1) & (frame["key_pos"] == 0)]

    assert tuple(frame.columns) == export.CSV_COLUMNS
    assert len(frame) == 2 * 3 * 4 * 3
    assert cell["query_token"].item() == "▁hallo"
    assert cell["key_token"].item() == "▁hello"
    assert np.float32(cell["weight"].item()) == seq2seq_result.cross_attentions[1, 2, 1, 0]
    assert csv_manifest(data)["attention_kind"] == "cross_attentions"


def test_seq2seq_main_csv_is_encoder_only(seq2seq_result):
    frame = read_csv(export.attention_csv(seq2seq_result))

    assert len(frame) == 2 * 3 * 3 * 3
    assert set(frame["query_token"]) == set(seq2seq_result.tokens)


def test_seq2seq_capture_exports_every_kind():
    from tests.tiny_models import tiny_bart

    captured = capture(tiny_bart(), "hello world", target="hallo welt", layers=[1])
    archive = np.load(io.BytesIO(export.attention_npz(captured)), allow_pickle=False)

    for kind in ("attentions", "decoder_attentions", "cross_attentions"):
        frame = read_csv(export.attention_csv(captured, kind))
        array = getattr(captured, kind)
        assert set(frame["layer"]) == {1}, kind
        assert len(frame) == array.size, kind
        assert np.array_equal(frame["weight"].to_numpy().astype(np.float32).reshape(array.shape), array), kind
        assert np.array_equal(archive[kind], array), kind
    cross = read_csv(export.attention_csv(captured, "cross_attentions", heads=[0]))
    assert cross[cross["key_pos"] == 0]["query_token"].tolist() == list(captured.target_tokens)
    assert cross[cross["query_pos"] == 0]["key_token"].tolist() == list(captured.tokens)


def test_csv_rejects_missing_kind(result):
    with pytest.raises(ValueError, match="no decoder_attentions"):
        export.attention_csv(result, "decoder_attentions")


def test_weight_count_sums_every_kind(seq2seq_result):
    assert export.weight_count(seq2seq_result) == 2 * 3 * (3 * 3 + 4 * 4 + 4 * 3)


# --- the app -------------------------------------------------------------------------------


def download_labels(app: AppTest) -> list[str]:
    return [button.proto.label for button in app.get("download_button")]


@pytest.fixture
def heads_app(monkeypatch):
    from streamlit.runtime.pages_manager import PagesManager

    # AppTest resets Streamlit's legacy ``pages/`` folder flag before every run, so each run
    # of a page first reruns through app.py (see ui/routing.py) and a button click is lost
    # on the way. A server clears the flag once per process; do the same here.
    original_init = PagesManager.__init__

    def init_without_folder_mode(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init_without_folder_mode)

    def start(**environment) -> AppTest:
        from ui.session import get_settings

        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        get_settings.clear()
        app = AppTest.from_file(str(APP_FILE), default_timeout=240)
        app.run()
        app.switch_page("pages/heads.py")
        app.run()
        assert [exception.message for exception in app.exception] == []
        return app

    yield start
    from ui.session import get_settings

    get_settings.clear()


def test_heads_page_offers_data_downloads(heads_app):
    app = heads_app()
    labels = download_labels(app)
    keys = [button.proto.id for button in app.get("download_button")]

    for fmt in ("HTML", "CSV", "NPZ", "JSON"):
        assert labels.count(fmt) == 2, f"{fmt} should sit beside both figures"
    assert len(set(keys)) == len(keys)


def test_heads_page_renders_static_on_request(heads_app):
    # A long limit: this test checks the buttons, not the speed of a shared, busy machine.
    app = heads_app(ATLAS_EXPORT_TIMEOUT_SECONDS="120")
    prepare = [button for button in app.button if button.key == "heads.heatmap_export.prepare"]
    assert len(prepare) == 1

    prepare[0].click()
    app.run()

    assert [exception.message for exception in app.exception] == []
    assert [warning.value for warning in app.warning] == []
    assert {"PNG", "SVG", "PDF"} <= set(download_labels(app))


def test_heads_page_without_browser_explains_fix(heads_app):
    started = time.monotonic()
    app = heads_app(ATLAS_CHROMIUM_PATH="/nonexistent/chromium")

    assert time.monotonic() - started < 60
    notes = [info.value for info in app.info if "apt-get install chromium" in info.value]
    assert len(notes) == 2
    assert "HTML" in download_labels(app)
    assert not [button for button in app.button if button.key.endswith(".prepare")]


def test_heads_page_timeout_message(heads_app):
    app = heads_app(ATLAS_EXPORT_TIMEOUT_SECONDS="0.01")
    prepare = [button for button in app.button if button.key == "heads.heatmap_export.prepare"][0]

    prepare.click()
    app.run()

    warnings = [warning.value for warning in app.warning]
    assert len(warnings) == 1
    assert "0.01 s" in warnings[0]
    assert "HTML, CSV, NPZ and JSON" in warnings[0]


def downloads_script(weight_limit: int | None = None, seq2seq: bool = False):
    """Draw one head's figure with its download buttons, as a page does; ``test.head`` picks the head."""
    import plotly.graph_objects as go
    import streamlit as st

    from tests.test_export import make_result, make_seq2seq_result
    from ui import downloads

    if weight_limit is not None:
        downloads.TEXT_EXPORT_MAX_WEIGHTS = weight_limit
    result = make_seq2seq_result() if seq2seq else make_result()
    head = st.session_state.get("test.head", 0)
    figure = go.Figure(go.Heatmap(z=result.attentions[0, head]), layout={"width": 300, "height": 300})
    downloads.render_downloads(figure, result, "figure", key="test.export")


@pytest.fixture
def downloads_app(monkeypatch):
    import ui.downloads

    monkeypatch.setattr(ui.downloads, "TEXT_EXPORT_MAX_WEIGHTS", ui.downloads.TEXT_EXPORT_MAX_WEIGHTS)
    # A long limit: these tests check the buttons, not the speed of a shared, busy machine.
    monkeypatch.setenv("ATLAS_EXPORT_TIMEOUT_SECONDS", "120")
    ui.downloads.get_settings.clear()

    def start(**kwargs) -> AppTest:
        app = AppTest.from_function(downloads_script, kwargs=kwargs, default_timeout=180)
        app.run()
        assert [exception.message for exception in app.exception] == []
        return app

    yield start
    ui.downloads.get_settings.clear()


def test_downloads_offer_every_data_format(downloads_app):
    app = downloads_app()
    buttons = {button.proto.label: button.proto for button in app.get("download_button")}

    assert list(buttons) == ["HTML", "CSV", "NPZ", "JSON"]
    for label, proto in buttons.items():
        assert not proto.disabled, label
        assert proto.ignore_rerun, label
        # Deferred: a file id to build on click, no file made during the script run.
        assert proto.deferred_file_id, label
        assert not proto.url, label


def test_downloads_add_seq2seq_csvs(downloads_app):
    app = downloads_app(seq2seq=True)
    labels = download_labels(app)

    assert labels[:4] == ["HTML", "CSV", "NPZ", "JSON"]
    assert "CSV (decoder self-attention)" in labels
    assert "CSV (cross-attention)" in labels


def test_downloads_disable_text_over_limit(downloads_app):
    app = downloads_app(weight_limit=10)
    buttons = {button.proto.label: button.proto for button in app.get("download_button")}

    assert buttons["CSV"].disabled
    assert buttons["JSON"].disabled
    assert not buttons["NPZ"].disabled
    assert any("NPZ" in caption.value for caption in app.caption)


def test_downloads_static_files_follow_figure(downloads_app):
    app = downloads_app()
    app.button(key="test.export.prepare").click()
    app.run()

    static_labels = [label for label in download_labels(app) if label in ("PNG", "SVG", "PDF")]
    assert static_labels == ["PNG", "SVG", "PDF"]
    assert app.session_state["test.export.static_files"].files["png"].startswith(b"\x89PNG")

    # Another head is another figure: the rendered files no longer match and are dropped.
    app.session_state["test.head"] = 1
    app.run()

    assert "test.export.static_files" not in app.session_state
    assert "PNG" not in download_labels(app)
