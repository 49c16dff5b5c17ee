"""Capture on the embedded model and tiny random models: parity with transformers, invariants, hooks."""

import threading

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from model_utils import CaptureError, InputError, capture, count_hooks
from model_utils.families import SELF, find_attention_modules
from model_utils.hooks import AttentionRecorder
from model_utils.loading import embedded_model_path
from tests.tiny_models import tiny_bert, tiny_gpt2

PARITY_TEXTS = [
    "the the the cat sat on the the mat",
    "Wait... what?! (Really) -- yes; no: maybe, \"quoted\" & done.",
    "Attention maps show, for every layer and every head of a Transformer, how strongly each token "
    "draws on every other token while the model builds its representation of a long sentence like this one.",
]
PARITY_TOLERANCE = 1e-6
ROW_SUM_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def eager_reference():
    """A second copy of the embedded model, loaded by transformers alone with eager attention."""
    path = embedded_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    return tokenizer, model


def reference_attentions(eager_reference, text: str) -> np.ndarray:
    tokenizer, model = eager_reference
    inputs = tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        output = model(**inputs, output_attentions=True)
    return torch.stack(output.attentions)[:, 0].numpy()


@pytest.mark.parametrize("text", PARITY_TEXTS, ids=["repeated", "punctuation", "long"])
def test_hooked_weights_equal_eager_output(embedded_model, eager_reference, text):
    result = capture(embedded_model, text)
    expected = reference_attentions(eager_reference, text)

    assert result.attentions.shape == expected.shape
    assert float(np.abs(result.attentions - expected).max()) <= PARITY_TOLERANCE


def test_same_model_with_output_attentions_agrees(embedded_model):
    text = PARITY_TEXTS[0]
    result = capture(embedded_model, text)
    inputs = embedded_model.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        output = embedded_model.model(**inputs, output_attentions=True)
    expected = torch.stack(output.attentions)[:, 0].numpy()

    assert float(np.abs(result.attentions - expected).max()) <= PARITY_TOLERANCE
    assert count_hooks(embedded_model.model) == 0


def test_embedded_capture_shape_and_tokens(embedded_model):
    text = "The cat sat on the mat."
    result = capture(embedded_model, text)
    token_count = len(embedded_model.tokenizer(text)["input_ids"])

    assert result.attentions.shape == (6, 12, token_count, token_count)
    assert result.attentions.dtype == np.float32
    assert result.layers == tuple(range(6))
    assert len(result.tokens) == len(result.raw_tokens) == len(result.token_ids) == token_count
    assert result.tokens[0] == "[CLS]"
    assert result.tokens[-1] == "[SEP]"
    assert result.special_mask[0] and result.special_mask[-1]
    assert not any(result.special_mask[1:-1])
    assert result.is_causal is False


@pytest.mark.parametrize("text", PARITY_TEXTS, ids=["repeated", "punctuation", "long"])
def test_rows_sum_to_one(embedded_model, text):
    result = capture(embedded_model, text)
    row_sums = result.attentions.sum(axis=-1)

    assert float(np.abs(row_sums - 1.0).max()) <= ROW_SUM_TOLERANCE
    assert float(result.attentions.min()) >= 0.0


def test_no_hooks_left_after_capture(embedded_model):
    before = count_hooks(embedded_model.model)
    capture(embedded_model, "One capture.")
    capture(embedded_model, "And another one, to catch hooks piling up.")

    assert before == 0
    assert count_hooks(embedded_model.model) == 0


def test_count_hooks_sees_attached_recorder(embedded_model):
    targets = find_attention_modules(embedded_model.model, embedded_model.family)[SELF]
    recorder = AttentionRecorder(targets, embedded_model.family.weights_index)
    with recorder.attached():
        attached = count_hooks(embedded_model.model)

    assert attached == len(targets) == 6
    assert count_hooks(embedded_model.model) == 0


def test_no_hooks_left_when_forward_raises(embedded_model, monkeypatch):
    failing_layer = embedded_model.model.encoder.layer[3]

    def fail(*args, **kwargs):
        raise RuntimeError("layer 3 failed on purpose")

    monkeypatch.setattr(failing_layer.intermediate, "forward", fail)
    # Errors inside the model's own code reach the pages as CaptureError naming the cause.
    with pytest.raises(CaptureError, match="raised RuntimeError during its forward pass: layer 3 failed on purpose"):
        capture(embedded_model, "This forward pass stops halfway.")

    assert count_hooks(embedded_model.model) == 0
    assert not embedded_model.lock.locked()


def test_capture_works_after_failed_forward(embedded_model, monkeypatch, eager_reference):
    text = "Still correct after a failure."
    monkeypatch.setattr(embedded_model.model.encoder.layer[5].output, "forward", _raise_value_error)
    with pytest.raises(ValueError, match="broken output"):
        capture(embedded_model, text)
    monkeypatch.undo()

    result = capture(embedded_model, text)
    expected = reference_attentions(eager_reference, text)
    assert float(np.abs(result.attentions - expected).max()) <= PARITY_TOLERANCE


def _raise_value_error(*args, **kwargs):
    raise ValueError("broken output")


def test_result_arrays_read_only(embedded_model):
    result = capture(embedded_model, "Frozen results.")

    assert not result.attentions.flags.writeable
    with pytest.raises(ValueError):
        result.attentions[0, 0, 0, 0] = 0.5
    with pytest.raises(AttributeError):
        result.tokens = ("changed",)


def test_layer_selection_keeps_model_indexes(embedded_model):
    text = "Only two layers."
    full = capture(embedded_model, text)
    chosen = capture(embedded_model, text, layers=[4, 1])

    assert chosen.layers == (1, 4)
    assert chosen.attentions.shape[0] == 2
    # Layers that are not kept run SDPA, whose rounding differs from eager by about 1e-6.
    np.testing.assert_allclose(chosen.layer(4), full.layer(4), atol=1e-5)
    np.testing.assert_allclose(chosen.layer(1), full.attentions[1], atol=1e-5)


def test_layer_out_of_range_rejected(embedded_model):
    with pytest.raises(InputError, match="out of range"):
        capture(embedded_model, "text", layers=[6])


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text_rejected(embedded_model, text):
    with pytest.raises(InputError, match="empty"):
        capture(embedded_model, text)


def test_long_text_truncated_with_count(embedded_model):
    text = "word " * 600
    result = capture(embedded_model, text)
    full_length = len(embedded_model.tokenizer(text)["input_ids"])

    assert result.num_tokens == 512
    assert result.dropped_tokens == full_length - 512
    assert result.attentions.shape[-2:] == (512, 512)


def test_manifest_names_model_and_text(embedded_model):
    text = "Where did this come from?"
    result = capture(embedded_model, text)

    assert "all-MiniLM-L6-v2" in result.manifest["model"]
    assert result.manifest["text"] == text
    assert result.manifest["token_count"] == result.num_tokens
    assert result.manifest["attn_implementation"] == "eager"
    assert result.manifest["dtype"] == "float32"
    assert result.manifest["torch_version"] == torch.__version__


def test_concurrent_captures_do_not_mix(embedded_model):
    texts = ["First session types this.", "The second session types a different, longer sentence here."]
    expected = {text: capture(embedded_model, text).attentions for text in texts}
    results: dict[tuple[int, str], np.ndarray] = {}
    errors: list[BaseException] = []

    def worker(index: int, text: str) -> None:
        try:
            for _ in range(3):
                results[(index, text)] = capture(embedded_model, text).attentions
        except BaseException as error:  # a thread's failure must reach the test
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index, texts[index % 2])) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(results) == 4
    for (_, text), attentions in results.items():
        np.testing.assert_array_equal(attentions, expected[text])
    assert count_hooks(embedded_model.model) == 0


def test_causal_capture_has_zero_upper_triangle():
    model = tiny_gpt2()
    result = capture(model, "the cat sat on the mat because it was tired")
    size = result.num_tokens
    future = np.triu(np.ones((size, size), dtype=bool), k=1)

    assert result.is_causal
    assert size > 5
    assert result.attentions.shape == (2, 4, size, size)
    assert float(np.abs(result.attentions[..., future]).max()) == 0.0
    assert float(np.abs(result.attentions.sum(axis=-1) - 1.0).max()) <= ROW_SUM_TOLERANCE
    assert count_hooks(model.model) == 0


def test_causal_parity_with_output_attentions():
    model = tiny_gpt2(seed=3)
    text = "the dog ran in the park"
    result = capture(model, text)
    inputs = model.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        output = model.model(**inputs, output_attentions=True)
    expected = torch.stack(output.attentions)[:, 0].numpy()

    assert float(np.abs(result.attentions - expected).max()) <= PARITY_TOLERANCE


def test_sdpa_model_raises_capture_error(monkeypatch):
    model = tiny_bert()
    model.model.set_attn_implementation("sdpa")
    # A model outside transformers' attention interface cannot be switched to eager per layer.
    monkeypatch.setattr(type(model.model), "_supports_attention_backend", False)

    with pytest.raises(CaptureError, match="0 of 2 layers captured"):
        capture(model, "the cat sat on the mat")
    assert count_hooks(model.model) == 0
    assert not model.lock.locked()


def test_layer_without_weights_is_named(monkeypatch):
    model = tiny_bert()
    silent_layer = model.model.encoder.layer[1].attention.self
    original_forward = silent_layer.forward

    def forward_without_weights(*args, **kwargs):
        attn_output, _ = original_forward(*args, **kwargs)
        return attn_output, None

    monkeypatch.setattr(silent_layer, "forward", forward_without_weights)
    with pytest.raises(CaptureError, match=r"1 of 2 layers captured.*\[1\].*encoder\.layer\.1\.attention\.self"):
        capture(model, "the cat sat")
    assert count_hooks(model.model) == 0


def test_future_weight_is_rejected(monkeypatch):
    model = tiny_gpt2()
    leaking_layer = model.model.transformer.h[0].attn
    original_forward = leaking_layer.forward

    def forward_without_mask(*args, **kwargs):
        attn_output, weights = original_forward(*args, **kwargs)
        uniform = torch.full_like(weights, 1.0 / weights.shape[-1])
        return attn_output, uniform

    monkeypatch.setattr(leaking_layer, "forward", forward_without_mask)
    with pytest.raises(CaptureError, match="later token"):
        capture(model, "the cat sat on the mat")


def test_layer_not_captured_names_captured_layers(embedded_model):
    result = capture(embedded_model, "The cat sat.", layers=[3])

    with pytest.raises(InputError, match=r"Layer 0 was not captured.*\[3\]"):
        result.layer(0)
    assert result.layer(3).shape[0] == 12
