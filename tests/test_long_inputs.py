"""Long inputs: truncation with a count of dropped tokens, and 2048 tokens on a 12 × 12 decoder."""

import numpy as np
import pytest

from model_utils import CaptureError, capture
from model_utils.overview import capture_thumbnails
from tests.app_driver import navigation_only, start_app, submit
from tests.tiny_models import tiny_gpt2
from viz.grid import pool_thumbnails

LONG_TEXT = "Attention weights show where each token looks, and the cat sat on the mat. " * 200


@pytest.fixture(scope="module")
def long_decoder():
    """A random-weight GPT-2 with 12 layers × 12 heads, 2048 positions and a tiny width."""
    return tiny_gpt2(num_hidden_layers=12, num_attention_heads=12, hidden_size=48, n_layer=12, n_head=12, n_embd=48)


def test_truncation_counts_dropped(long_decoder):
    full_length = len(long_decoder.tokenizer(LONG_TEXT)["input_ids"])
    result = capture(long_decoder, LONG_TEXT, layers=[11], max_tokens=300)

    assert result.num_tokens == 300
    assert result.dropped_tokens == full_length - 300
    assert result.manifest["dropped_tokens"] == full_length - 300


def test_2048_thumbnails_complete(long_decoder):
    thumbnails = capture_thumbnails(long_decoder, LONG_TEXT)

    assert thumbnails.num_tokens == 2048
    assert thumbnails.thumbnails.shape == (12, 12, 64, 64)
    assert thumbnails.dropped_tokens > 0
    # Blocks wholly after the diagonal hold no weight in a causal model.
    assert float(thumbnails.thumbnails[..., np.triu(np.ones((64, 64), dtype=bool), k=1)].max()) == 0.0


def test_2048_one_layer_matches_thumbnail(long_decoder):
    thumbnails = capture_thumbnails(long_decoder, LONG_TEXT)
    layer = capture(long_decoder, LONG_TEXT, layers=[11])

    assert layer.attentions.shape == (1, 12, 2048, 2048)
    np.testing.assert_allclose(pool_thumbnails(layer.attentions[0]), thumbnails.thumbnails[11], atol=1e-6)


def test_2048_full_capture_rejected_with_fix(long_decoder):
    with pytest.raises(CaptureError) as raised:
        capture(long_decoder, LONG_TEXT)

    message = str(raised.value)
    assert "12 layers × 12 heads × 2048 × 2048 tokens" in message
    assert "use at most" in message
    assert "layers" in message


def test_page_notice_names_dropped_tokens(embedded_model):
    text = "word " * 700
    dropped = len(embedded_model.tokenizer(text)["input_ids"]) - 512
    with navigation_only():
        app = start_app()
        submit(app, text=text)

    assert not app.exception
    warnings = [item.value for item in app.warning]
    assert any(f"{dropped} tokens were dropped" in warning for warning in warnings), warnings
