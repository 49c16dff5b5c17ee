"""Several sessions on one shared model: results stay apart, no hook is left, memory stays flat.

The app shares one LoadedModel between sessions (st.cache_resource) and each capture holds
its lock for the forward pass. These tests start eight captures at the same moment, through
the API and through eight AppTest sessions, and compare each with a run of its own.
"""

from __future__ import annotations

import gc
import os
import threading

import numpy as np
import pytest

from model_utils import capture, count_hooks
from tests import app_driver
from tests.tiny_models import tiny_gpt2

SESSIONS = 8
ROUNDS = 5
TEXTS = [
    "The cat sat on the mat because it was tired.",
    "A dog ran in the park and the cat watched it.",
    "注意力机制让模型关注句子中最相关的词。",
    "Attention weights show where each token looks, " * 6,
    "Short one.",
    "Colourless green ideas sleep furiously tonight.",
    "<b>markup</b> & entities &amp; stay text",
    "The trophy did not fit in the suitcase because it was too big.",
]
# Different limits make the tokenizer's truncation setting change between concurrent calls.
MAX_TOKENS = [512, 8, 64, 16, 512, 12, 32, 128]
SOAK_CAPTURES = 200
SOAK_WARM_UP = 20
MAX_RSS_GROWTH = 0.10


def resident_bytes() -> int:
    """Return this process's resident set size, from /proc."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def shared_app_model():
    """Return the model that the app's sessions share (already loaded by the AppTest runs)."""
    from ui.session import _load_shared_model

    return _load_shared_model("all-MiniLM-L6-v2")


def run_together(work, count: int) -> tuple[list, list[BaseException]]:
    """Run ``work(index)`` in ``count`` threads released at the same moment; return results and errors."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def target(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - every failure is reported by the test
            errors.append(error)

    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def assert_same_capture(result, reference, label: str) -> None:
    assert result.tokens == reference.tokens, label
    assert result.token_ids == reference.token_ids, label
    assert result.dropped_tokens == reference.dropped_tokens, label
    np.testing.assert_array_equal(result.attentions, reference.attentions, err_msg=label)


@pytest.mark.parametrize("model_name", ["embedded", "tiny_gpt2"])
def test_parallel_captures_match_single_runs(model_name, embedded_model):
    loaded = embedded_model if model_name == "embedded" else tiny_gpt2()
    references = [capture(loaded, text, max_tokens=limit) for text, limit in zip(TEXTS, MAX_TOKENS)]

    for round_index in range(ROUNDS):
        results, errors = run_together(lambda index: capture(loaded, TEXTS[index], max_tokens=MAX_TOKENS[index]), SESSIONS)
        assert errors == []
        for index, (result, reference) in enumerate(zip(results, references)):
            assert_same_capture(result, reference, f"round {round_index}, session {index}")
        assert count_hooks(loaded.model) == 0


def test_parallel_captures_with_failures(embedded_model):
    """Half the sessions send text that fails; the others still get their own results and no hook is left."""
    references = {index: capture(embedded_model, TEXTS[index]) for index in range(0, SESSIONS, 2)}

    def work(index: int):
        return capture(embedded_model, TEXTS[index] if index % 2 == 0 else "\u200b" * index)

    results, errors = run_together(work, SESSIONS)
    assert len(errors) == SESSIONS // 2
    assert all("only invisible characters" in str(error) for error in errors)
    for index, reference in references.items():
        assert_same_capture(results[index], reference, f"session {index}")
    assert count_hooks(embedded_model.model) == 0


def test_app_sessions_in_threads(embedded_model):
    """Eight AppTest sessions submit their own text at once; each heatmap equals its own capture."""
    with app_driver.navigation_only():
        apps = [app_driver.start_app() for _ in range(SESSIONS)]

        def work(index: int):
            return app_driver.submit(apps[index], text=TEXTS[index])

        _, errors = run_together(work, SESSIONS)
    assert errors == []
    for index, app in enumerate(apps):
        assert app_driver.exception_messages(app) == [], f"session {index}"
        assert app_driver.error_messages(app) == [], f"session {index}"
        assert app_driver.field_values(app)[1] == TEXTS[index]
        layer, head, drawn = app_driver.shown_heatmap(app)
        expected = capture(embedded_model, TEXTS[index], max_tokens=2048).layer(layer)[head]
        assert drawn.shape == expected.shape, f"session {index}"
        np.testing.assert_allclose(drawn, expected, rtol=0, atol=1e-6, err_msg=f"session {index}")
    assert count_hooks(shared_app_model().model) == 0


def test_soak_keeps_memory_flat(embedded_model):
    """Two hundred captures in a row, each of a new text: resident memory grows less than 10%."""
    texts = [f"Capture number {index} of the soak reads {'word ' * (index % 40)}and ends." for index in range(SOAK_CAPTURES)]
    for text in texts[:SOAK_WARM_UP]:
        capture(embedded_model, text)
    gc.collect()
    before = resident_bytes()

    for text in texts:
        result = capture(embedded_model, text)
        assert result.num_tokens > 0
    gc.collect()
    after = resident_bytes()

    growth = (after - before) / before
    assert growth < MAX_RSS_GROWTH, f"RSS grew {growth:.1%}: {before / 2**20:.0f} MiB to {after / 2**20:.0f} MiB"
    assert count_hooks(embedded_model.model) == 0


def test_soak_through_app_session_keeps_memory_flat(embedded_model):
    """Two hundred submits in one AppTest session: the capture cache is bounded, so memory stays flat."""
    with app_driver.navigation_only():
        app = app_driver.start_app()
        for index in range(SOAK_WARM_UP):
            app_driver.submit(app, text=f"Warm-up sentence {index} for the session soak.")
        gc.collect()
        before = resident_bytes()

        for index in range(SOAK_CAPTURES):
            app_driver.submit(app, text=f"Session soak sentence {index} with {'more ' * (index % 20)}words.")
            assert app_driver.exception_messages(app) == [], f"submit {index}"
        gc.collect()
        after = resident_bytes()

    growth = (after - before) / before
    assert growth < MAX_RSS_GROWTH, f"RSS grew {growth:.1%}: {before / 2**20:.0f} MiB to {after / 2**20:.0f} MiB"
    assert count_hooks(shared_app_model().model) == 0
