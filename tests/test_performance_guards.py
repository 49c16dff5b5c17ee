"""Memory guard, payload guard, layer-selective capture and the PNG overview, on their worst allowed cases."""

import base64
import io
import json

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image
from transformers import AutoModel

from model_utils import CaptureError, InputError, capture, count_hooks
from model_utils.loading import embedded_model_path
from model_utils.memory import check_capture_memory, estimate_capture, estimate_for
from model_utils.overview import capture_thumbnails
from tests import tiny_models
from tests.tiny_models import tiny_bert, tiny_gpt2, tiny_llama
from ui.payload import DEFAULT_BUDGET_BYTES, estimate_figure_bytes, fit_figure
from viz.grid import COLOR_LEVELS, FUTURE_INDEX, block_edges, head_grid_figure, palette, pool_thumbnails, thumbnail_mosaic
from viz.heatmap import attention_heatmap
from viz.style import HOVER_TEXT_MAX_CELLS

TEXT = "The cat sat on the mat because it was tired, and the dog watched the cat."


def test_estimate_counts_every_weight():
    estimate = estimate_capture(layers=12, heads=12, queries=2048, hidden_size=48, dtype="float32")

    assert estimate.weights_bytes == 12 * 12 * 2048 * 2048 * 4
    assert estimate.total_bytes > estimate.weights_bytes


def test_memory_guard_limit_is_inclusive():
    estimate = estimate_capture(layers=6, heads=12, queries=512, hidden_size=384, intermediate_size=1536)

    check_capture_memory(estimate, limit_bytes=estimate.total_bytes)
    with pytest.raises(CaptureError) as raised:
        check_capture_memory(estimate, limit_bytes=estimate.total_bytes - 1)
    message = str(raised.value)
    assert "6 layers × 12 heads × 512 × 512 tokens" in message
    assert "at most" in message
    assert "tokens" in message
    assert "capture at most 5 of the 6 layers" in message


def test_memory_guard_suggestions_fit():
    estimate = estimate_capture(layers=12, heads=12, queries=2048, hidden_size=48)
    limit = 1024**3
    with pytest.raises(CaptureError) as raised:
        check_capture_memory(estimate, limit_bytes=limit)
    suggested_tokens = int(str(raised.value).split("use at most ")[1].split(" tokens")[0].replace(",", ""))

    fitting = estimate_capture(layers=12, heads=12, queries=suggested_tokens, hidden_size=48)
    too_many = estimate_capture(layers=12, heads=12, queries=suggested_tokens + 1, hidden_size=48)
    assert fitting.total_bytes <= limit < too_many.total_bytes


def test_memory_guard_rejects_before_forward():
    model = tiny_gpt2()
    text = "The cat sat on the mat."
    tokens = len(model.tokenizer(text)["input_ids"])
    limit = estimate_for(model, 2, tokens).total_bytes

    assert capture(model, text, memory_limit_bytes=limit).num_tokens == tokens
    with pytest.raises(CaptureError, match="more than"):
        capture(model, text, memory_limit_bytes=limit - 1)
    assert count_hooks(model.model) == 0
    assert not model.lock.locked()


def test_memory_guard_counts_available_memory():
    estimate = estimate_capture(layers=1, heads=1, queries=64, hidden_size=8)

    with pytest.raises(CaptureError, match="available now"):
        check_capture_memory(estimate, limit_bytes=10**12, available=estimate.total_bytes - 1)


@pytest.mark.parametrize("build", [tiny_bert, tiny_gpt2, tiny_llama], ids=["bert", "gpt2", "llama"])
def test_one_layer_capture_matches_eager(build):
    model = build()
    full = capture(model, TEXT)
    single = capture(model, TEXT, layers=[1])

    assert single.layers == (1,)
    assert single.attentions.shape == (1, *full.attentions.shape[1:])
    # Layer 0 ran SDPA instead of eager, so layer 1 sees slightly different hidden states.
    np.testing.assert_allclose(single.layer(1), full.layer(1), atol=1e-5)
    assert "sdpa" in single.manifest["attn_implementation"]
    assert full.manifest["attn_implementation"] == "eager"
    assert model.model.config._attn_implementation == "eager"
    assert count_hooks(model.model) == 0


def test_all_heads_bitwise_equal_to_eager():
    path = embedded_model_path()
    from model_utils import load_model

    loaded = load_model()
    reference = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    inputs = loaded.tokenizer(TEXT, return_tensors="pt")
    with torch.inference_mode():
        expected = np.stack([layer[0].numpy() for layer in reference(**inputs, output_attentions=True).attentions])

    np.testing.assert_array_equal(capture(loaded, TEXT).attentions, expected)


def test_sdpa_model_still_captured():
    model = tiny_bert()
    expected = capture(model, TEXT).attentions
    model.model.set_attn_implementation("sdpa")

    np.testing.assert_array_equal(capture(model, TEXT).attentions, expected)
    assert model.model.config._attn_implementation == "sdpa"


def test_pooling_keeps_block_maximum():
    rng = np.random.default_rng(0)
    weights = rng.random((2, 3, 100, 130)).astype(np.float32)
    pooled = pool_thumbnails(weights, 64)
    rows, columns = block_edges(100, 64), block_edges(130, 64)

    assert pooled.shape == (2, 3, 64, 64)
    for row in (0, 17, 63):
        for column in (0, 40, 63):
            block = weights[1, 2, rows[row] : rows[row + 1], columns[column] : columns[column + 1]]
            assert pooled[1, 2, row, column] == block.max()
    np.testing.assert_array_equal(pool_thumbnails(weights[..., :50, :50], 64), weights[..., :50, :50])


def _decode_png(source: str) -> np.ndarray:
    data = base64.b64decode(source.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_mosaic_pixels_show_weights():
    weights = np.zeros((2, 3, 4, 4), dtype=np.float32)
    weights[1, 2] = np.tril(np.full((4, 4), 0.25))
    weights[1, 2, 3, 0] = 1.0
    figure = head_grid_figure(weights, [0, 1], causal=True)
    image = _decode_png(figure.data[0].source)
    indexes, tile = thumbnail_mosaic(weights, causal=True)
    scale = tile // 4
    top, left = 1 * (tile + 3), 2 * (tile + 3)
    colors = palette()

    assert image.shape[:2] == indexes.shape
    assert tuple(image[top + 3 * scale, left]) == tuple(colors[COLOR_LEVELS - 1])
    assert tuple(image[top, left + 3 * scale]) == tuple(colors[FUTURE_INDEX])
    assert tuple(image[top + scale, left]) == tuple(colors[round(0.25 * (COLOR_LEVELS - 1))])


def test_overview_payload_far_below_json():
    rng = np.random.default_rng(1)
    weights = rng.dirichlet(np.ones(512), size=(6, 12, 512)).astype(np.float32)
    figure = head_grid_figure(weights, list(range(6)))

    assert len(figure.to_json()) < weights.size * 22 / 50


def test_payload_guard_pools_worst_heatmap():
    tokens = [f"t{index}" for index in range(2048)]
    rng = np.random.default_rng(2)
    weights = rng.dirichlet(np.ones(2048), size=2048).astype(np.float32)
    figure = attention_heatmap(np.tril(weights), tokens, causal=True)

    assert estimate_figure_bytes(figure) > DEFAULT_BUDGET_BYTES
    fitted, side = fit_figure(figure)
    heatmap = fitted.data[0]
    assert side is not None
    assert np.asarray(heatmap.z).shape == (side, side)
    assert heatmap.customdata is None
    assert len(fitted.to_json()) < DEFAULT_BUDGET_BYTES
    assert np.nanmax(np.asarray(heatmap.z, dtype=float)) == pytest.approx(float(np.tril(weights).max()))


def test_payload_guard_keeps_small_figures():
    figure = go.Figure(go.Heatmap(z=np.eye(32)))

    fitted, side = fit_figure(figure)
    assert fitted is figure
    assert side is None


@pytest.mark.parametrize(
    "name", ["bert", "roberta", "distilbert", "electra", "gpt2", "gpt_neo", "llama", "qwen2", "mistral", "gemma", "phi"]
)
def test_thumbnails_equal_pooled_capture(name):
    model = getattr(tiny_models, f"tiny_{name}")()
    text = "The cat sat on the mat because it was tired. " * 4
    full = capture(model, text)

    try:
        thumbnails = capture_thumbnails(model, text, pixels=16)
    except InputError as error:
        # Models outside the attention interface fall back to a full capture on the page.
        assert "full capture" in str(error)
        return
    assert thumbnails.num_tokens == full.num_tokens
    np.testing.assert_allclose(thumbnails.thumbnails, pool_thumbnails(full.attentions, 16), atol=1e-6)
    assert count_hooks(model.model) == 0


def test_payload_guard_keeps_difference_sign():
    difference = np.zeros((600, 600))
    difference[10, 20] = -0.9
    difference[11, 21] = 0.2
    figure = go.Figure(go.Heatmap(z=difference))

    fitted, side = fit_figure(figure, budget_bytes=1024)
    pooled = np.asarray(fitted.data[0].z, dtype=float)
    assert side is not None
    assert pooled.min() == pytest.approx(-0.9)
    assert pooled.max() == pytest.approx(0.0)


def test_large_heatmap_hover_shows_positions_only():
    side = int(HOVER_TEXT_MAX_CELLS**0.5) + 1
    figure = attention_heatmap(np.eye(side, dtype=np.float32), [f"t{index}" for index in range(side)])

    assert figure.data[0].customdata is None
    assert "%{y}" in figure.data[0].hovertemplate


def test_hover_limit_keeps_token_text():
    side = int(HOVER_TEXT_MAX_CELLS**0.5)
    figure = attention_heatmap(np.eye(side, dtype=np.float32), [f"t{index}" for index in range(side)], clickable=False)

    assert np.asarray(figure.data[0].customdata).shape == (side, side, 4)


def test_heatmap_sends_float32():
    figure = attention_heatmap(np.eye(8, dtype=np.float32), [f"t{index}" for index in range(8)])

    assert json.loads(figure.to_json())["data"][0]["z"]["dtype"] == "f4"


def test_estimate_counts_hover_text():
    labels = ["x" * 100] * 1000
    plain = go.Figure(go.Scatter(x=list(range(1000)), y=list(range(1000))))
    labelled = go.Figure(go.Scatter(x=list(range(1000)), y=list(range(1000)), hovertext=labels))

    assert estimate_figure_bytes(labelled) - estimate_figure_bytes(plain) >= 100 * 1000
