"""The pool of weight buffers: reuse only after release, bounded idle memory, captures left intact."""

import threading

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from model_utils import attention_backend, capture
from model_utils.loading import embedded_model_path
from model_utils.weight_buffers import POOL, BufferPool

FLOAT_BYTES = 4
SAME_LENGTH_TEXTS = ("the cat sat on the mat", "a dog ran in the park")


def test_released_buffer_is_lent_again():
    pool = BufferPool(idle_limit_bytes=1024)
    first = pool.lend((4, 8))
    address = first.ctypes.data
    del first

    again = pool.lend((2, 16))

    assert again.ctypes.data == address


def test_buffer_lent_while_slice_lives():
    pool = BufferPool(idle_limit_bytes=1024)
    first = pool.lend((4, 8))
    address = first.ctypes.data
    row = first[3]
    del first

    other = pool.lend((4, 8))

    assert other.ctypes.data != address
    assert row.base is not None


def test_slice_keeps_values_after_lend():
    pool = BufferPool(idle_limit_bytes=1024)
    first = pool.lend((4, 8))
    first[:] = 7.0
    row = first[1]
    del first

    other = pool.lend((4, 8))
    other[:] = -1.0

    assert np.all(row == 7.0)


def test_idle_memory_stays_under_the_limit():
    pool = BufferPool(idle_limit_bytes=100 * FLOAT_BYTES)
    arrays = [pool.lend((40,)) for _ in range(5)]
    del arrays

    assert pool.idle_bytes() <= 100 * FLOAT_BYTES
    assert pool.idle_bytes() == 80 * FLOAT_BYTES


def test_oversized_buffer_not_kept():
    pool = BufferPool(idle_limit_bytes=100 * FLOAT_BYTES)
    big = pool.lend((500,))
    del big

    assert pool.idle_bytes() == 0


def test_short_request_skips_long_buffer():
    pool = BufferPool(idle_limit_bytes=10_000 * FLOAT_BYTES)
    long = pool.lend((1000,))
    address = long.ctypes.data
    del long

    short = pool.lend((10,))

    assert short.ctypes.data != address
    assert pool.idle_bytes() == 1000 * FLOAT_BYTES


def test_threads_never_share_a_lent_buffer():
    pool = BufferPool(idle_limit_bytes=64 * 1024)
    failures = []

    def work(marker: float):
        for _ in range(300):
            array = pool.lend((16, 16))
            array.fill(marker)
            if not np.all(array == marker):
                failures.append(marker)
            del array

    threads = [threading.Thread(target=work, args=(float(index),)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []


def _eager_weights(text: str) -> np.ndarray:
    path = embedded_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    with torch.inference_mode():
        output = model(**tokenizer(text, return_tensors="pt"), output_attentions=True)
    return torch.stack(output.attentions)[:, 0].numpy()


def test_texts_have_the_same_length(embedded_model):
    lengths = {capture(embedded_model, text).num_tokens for text in SAME_LENGTH_TEXTS}

    assert len(lengths) == 1


def test_capture_reuses_released_buffer(embedded_model, monkeypatch):
    # A pool of its own, so buffers left idle by earlier tests cannot be lent instead.
    monkeypatch.setattr(attention_backend, "POOL", BufferPool())
    first_text, second_text = SAME_LENGTH_TEXTS
    released = capture(embedded_model, first_text)
    address = released.attentions.ctypes.data
    del released

    reused = capture(embedded_model, second_text)

    assert reused.attentions.ctypes.data == address
    assert float(np.abs(reused.attentions - _eager_weights(second_text)).max()) <= 1e-6


def test_held_slice_survives_next_capture(embedded_model):
    first_text, second_text = SAME_LENGTH_TEXTS
    first_result = capture(embedded_model, first_text)
    address = first_result.attentions.ctypes.data
    head = first_result.attentions[2, 5]
    expected = head.copy()
    del first_result

    later = capture(embedded_model, second_text)

    assert later.attentions.ctypes.data != address
    assert np.array_equal(head, expected)


def test_module_pool_is_bounded():
    assert POOL.idle_bytes() <= POOL.idle_limit_bytes
