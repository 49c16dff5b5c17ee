"""Device choice and accelerate's device_map path, run on the CPU with a tiny model."""

import numpy as np
import pytest
import torch

from model_utils import ModelLoadError, capture, load_model
from model_utils.devices import available_devices, needs_spreading, pick_device, weights_bytes
from tests.tiny_models import tiny_bert


@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-bert")
    model = tiny_bert()
    model.model.save_pretrained(folder)
    model.tokenizer.save_pretrained(folder)
    return folder


def test_auto_picks_best_available():
    expected = "cpu"
    if torch.backends.mps.is_available():
        expected = "mps"
    if torch.cuda.is_available():
        expected = "cuda"

    assert pick_device("auto") == expected
    assert available_devices()[-1] == "cpu"


def test_missing_device_rejected():
    with pytest.raises(ModelLoadError, match="not available"):
        pick_device(f"cuda:{torch.cuda.device_count() + 3}")


def test_cpu_never_spreads(saved_folder):
    assert weights_bytes(saved_folder) > 0
    assert not needs_spreading(weights_bytes(saved_folder), "cpu")


def test_device_map_auto_same_weights(saved_folder):
    plain = load_model(str(saved_folder), device="cpu")
    spread = load_model(str(saved_folder), device_map="auto")
    plain_state = plain.model.state_dict()
    spread_state = spread.model.state_dict()

    assert spread.device == "cpu"
    assert plain_state.keys() == spread_state.keys()
    for name, tensor in plain_state.items():
        assert torch.equal(tensor, spread_state[name]), name
    text = "the cat sat on the mat"
    np.testing.assert_array_equal(capture(spread, text).attentions, capture(plain, text).attentions)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_dtypes_capture(saved_folder, dtype):
    loaded = load_model(str(saved_folder), dtype=dtype)
    result = capture(loaded, "the cat sat on the mat")

    assert loaded.dtype == dtype
    assert result.attentions.dtype == np.float32
    np.testing.assert_allclose(result.attentions.sum(axis=-1), 1.0, atol=1e-3)
