"""Query and key vectors recorded from the real forward pass reproduce the captured weights."""

import numpy as np
import pytest

from analysis.walkthrough import attention_steps, softmax
from model_utils import capture, count_hooks
from model_utils.qk import capture_query_key
from tests.tiny_models import tiny_bert, tiny_gpt2, tiny_llama

TEXT = "The cat sat on the mat because it was tired."
BUILDERS = {"bert": tiny_bert, "gpt2": tiny_gpt2, "llama_gqa": tiny_llama}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def model_and_capture(request):
    loaded = BUILDERS[request.param]()
    return loaded, capture(loaded, TEXT), capture_query_key(loaded, TEXT)


def test_walkthrough_reproduces_captured_weights(model_and_capture):
    _, result, record = model_and_capture
    assert record.token_ids == result.token_ids
    worst = 0.0
    for layer in range(result.num_layers):
        for head in range(result.num_heads):
            for query in range(result.num_tokens):
                steps = attention_steps(
                    record.queries[layer, head, query], record.keys[layer, head], record.masks[layer, query], record.scalings[layer]
                )
                worst = max(worst, float(np.abs(steps.weights - result.attentions[layer, head, query]).max()))
    assert worst < 1e-5


def test_recorded_weights_equal_capture(model_and_capture):
    _, result, record = model_and_capture
    np.testing.assert_allclose(record.weights, result.attentions, atol=1e-6)


def test_model_restored_after_recording(model_and_capture):
    loaded, _, _ = model_and_capture
    assert loaded.model.config._attn_implementation == "eager"
    assert count_hooks(loaded.model) == 0


def test_causal_mask_hides_later_keys():
    loaded = tiny_gpt2()
    record = capture_query_key(loaded, TEXT)
    steps = attention_steps(record.queries[0, 0, 2], record.keys[0, 0], record.masks[0, 2], record.scalings[0])
    assert steps.visible.tolist() == [True, True, True] + [False] * (len(record.token_ids) - 3)
    assert (steps.weights[3:] == 0.0).all()


def test_grouped_query_keys_repeat_per_group():
    record = capture_query_key(tiny_llama(num_key_value_heads=2), TEXT)
    assert record.kv_heads == 2
    assert record.keys.shape[1] == 4
    np.testing.assert_array_equal(record.keys[:, 0], record.keys[:, 1])
    np.testing.assert_array_equal(record.keys[:, 2], record.keys[:, 3])
    assert not np.array_equal(record.keys[:, 1], record.keys[:, 2])
    # Queries differ per head even inside one group.
    assert not np.array_equal(record.queries[:, 0], record.queries[:, 1])


def test_multi_query_attention():
    loaded = tiny_llama(num_key_value_heads=1)
    record = capture_query_key(loaded, TEXT)
    result = capture(loaded, TEXT)
    assert record.kv_heads == 1
    steps = attention_steps(record.queries[1, 3, 5], record.keys[1, 3], record.masks[1, 5], record.scalings[1])
    np.testing.assert_allclose(steps.weights, result.attentions[1, 3, 5], atol=1e-5)


def test_rotary_keys_differ_from_projection():
    # Rotary embeddings rotate keys by position: the recorded key is not the plain projection.
    loaded = tiny_llama()
    record = capture_query_key(loaded, TEXT)
    attention = loaded.model.model.layers[0].self_attn
    import torch

    with torch.inference_mode():
        embeddings = loaded.model.model.embed_tokens(torch.tensor([record.token_ids]))
        normed = loaded.model.model.layers[0].input_layernorm(embeddings)
        projected = attention.k_proj(normed)[0].view(len(record.token_ids), -1, attention.head_dim)
    plain = projected[:, 0].numpy()
    np.testing.assert_allclose(record.keys[0, 0, 0], plain[0], atol=1e-5)
    assert np.abs(record.keys[0, 0, 5] - plain[5]).max() > 1e-3


def test_embedded_model_walkthrough(embedded_model):
    result = capture(embedded_model, TEXT)
    record = capture_query_key(embedded_model, TEXT)
    assert record.head_dim == 32
    assert record.scalings[0] == pytest.approx(32 ** -0.5)
    steps = attention_steps(record.queries[3, 7, 4], record.keys[3, 7], record.masks[3, 4], record.scalings[3])
    np.testing.assert_allclose(steps.weights, result.attentions[3, 7, 4], atol=1e-5)


def test_steps_are_consistent():
    rng = np.random.default_rng(0)
    query, keys = rng.normal(size=4), rng.normal(size=(3, 4))
    mask = np.array([0.0, 0.0, np.finfo(np.float32).min])
    steps = attention_steps(query, keys, mask, 0.5)
    np.testing.assert_allclose(steps.raw_scores, keys @ query)
    np.testing.assert_allclose(steps.scaled_scores, 0.5 * keys @ query)
    assert steps.masked_scores[2] == -np.inf
    np.testing.assert_allclose(steps.weights[:2], softmax(steps.scaled_scores[:2]))
    assert steps.weights[2] == 0.0
