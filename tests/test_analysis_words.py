"""Word merging and special-token hiding: rows stay distributions and the stated rule holds."""

import numpy as np
import pytest

from analysis.words import hide_keys, is_spaceless, merge_words, token_view, word_groups, word_label
from model_utils.result import CaptureResult
from tests.tiny_models import tiny_bert, tiny_gpt2
from model_utils import capture


def constructed_result():
    # [CLS] play ##ing cats [SEP]: "play ##ing" is one word.
    raw = ("[CLS]", "play", "##ing", "cats", "[SEP]")
    rng = np.random.default_rng(0)
    weights = rng.random((2, 3, 5, 5))
    weights /= weights.sum(axis=-1, keepdims=True)
    return CaptureResult(
        tokens=("[CLS]", "play", "##ing", "cats", "[SEP]"),
        raw_tokens=raw,
        token_ids=(101, 2377, 2075, 8870, 102),
        attentions=weights,
        layers=(0, 1),
        special_mask=(True, False, False, False, True),
        is_causal=False,
        manifest={"model": "constructed"},
        segment_ids=(0, 0, 0, 0, 0),
    )


def test_wordpiece_groups():
    groups = word_groups(["[CLS]", "play", "##ing", "cats", "##!", "[SEP]"], [True, False, False, False, False, True])
    assert groups == [[0], [1, 2], [3, 4], [5]]


def test_byte_level_groups():
    raw = ["<|endoftext|>", "The", "Ġcat", "Ġsat", ".", "Ġplay", "ing"]
    special = [True] + [False] * 6
    assert word_groups(raw, special) == [[0], [1], [2], [3, 4], [5, 6]]


def test_sentencepiece_groups():
    raw = ["<s>", "▁The", "▁cat", "s", "▁sat", "</s>"]
    assert word_groups(raw, [True, False, False, False, False, True]) == [[0], [1], [2, 3], [4], [5]]


def test_unmarked_tokens_stay_separate():
    assert word_groups(["a", "b", "c"], [False] * 3) == [[0], [1], [2]]


def test_merge_rule_on_constructed_matrix():
    weights = np.array(
        [
            [0.1, 0.2, 0.3, 0.4],
            [0.4, 0.3, 0.2, 0.1],
            [0.25, 0.25, 0.25, 0.25],
            [0.0, 0.5, 0.5, 0.0],
        ]
    )
    groups = [[0], [1, 2], [3]]
    merged = merge_words(weights, groups)
    # TO the word {1, 2}: columns 1 and 2 summed. FROM the word {1, 2}: rows 1 and 2 averaged.
    expected = np.array(
        [
            [0.1, 0.5, 0.4],
            [(0.4 + 0.25) / 2, (0.5 + 0.5) / 2, (0.1 + 0.25) / 2],
            [0.0, 1.0, 0.0],
        ]
    )
    np.testing.assert_allclose(merged, expected)
    np.testing.assert_allclose(merged.sum(axis=-1), 1.0)


def test_merge_rejects_gaps():
    with pytest.raises(ValueError, match="once each"):
        merge_words(np.eye(3), [[0], [2]])


def test_hide_keys_renormalises():
    weights = np.array([[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])
    hidden = hide_keys(weights, np.array([1, 2]))
    np.testing.assert_allclose(hidden, [[0.5, 0.5], [0.0, 1.0]])


def test_word_label_joins_pieces():
    assert word_label(["play", "##ing"]) == "playing"
    assert word_label(["好 (1/3)", "好 (2/3)", "好 (3/3)"]) == "好"
    assert word_label(["mat", "."]) == "mat."


def test_token_view_merge_and_hide():
    result = constructed_result()
    view = token_view(result, merge=True, hide_special=True)
    assert view.tokens == ("playing", "cats")
    assert view.raw_tokens == ("playing", "cats")
    assert view.token_ids == (2377, 8870)
    assert view.special_mask == (False, False)
    assert view.segment_ids == (0, 0)
    assert view.attentions.shape == (2, 3, 2, 2)
    np.testing.assert_allclose(view.attentions.sum(axis=-1), 1.0, atol=1e-6)
    assert view.manifest["token_view"]["positions"] == [[1, 2], [3]]
    # Hidden first: rows 1..3 renormalised over keys 1..3, then play/##ing merged.
    weights = np.asarray(result.attentions, dtype=np.float64)[..., 1:4, 1:4]
    weights /= weights.sum(axis=-1, keepdims=True)
    expected_to_cats_from_word = (weights[..., 0, 2] + weights[..., 1, 2]) / 2
    np.testing.assert_allclose(view.attentions[..., 0, 1], expected_to_cats_from_word, atol=1e-6)
    assert result.tokens == ("[CLS]", "play", "##ing", "cats", "[SEP]")


def test_token_view_merge_keeps_specials():
    view = token_view(constructed_result(), merge=True)
    assert view.tokens == ("[CLS]", "playing", "cats", "[SEP]")
    assert view.special_mask == (True, False, False, True)
    np.testing.assert_allclose(view.attentions.sum(axis=-1), 1.0, atol=1e-6)


def test_token_view_off_returns_same_object():
    result = constructed_result()
    assert token_view(result) is result


def test_token_view_all_special_rejected():
    result = constructed_result().replace(special_mask=(True,) * 5)
    with pytest.raises(ValueError, match="special"):
        token_view(result, hide_special=True)


def test_token_view_on_real_bert_capture():
    result = capture(tiny_bert(), "Tokenization splits unbelievable words.")
    assert any(token.startswith("##") for token in result.raw_tokens)
    view = token_view(result, merge=True, hide_special=True)
    assert not any(token.startswith("##") for token in view.tokens)
    assert len(view.tokens) == 5
    np.testing.assert_allclose(view.attentions.sum(axis=-1), 1.0, atol=1e-5)


def test_token_view_causal_stays_lower_triangular():
    result = capture(tiny_gpt2(), "The cat sat on the mat, tired.")
    view = token_view(result, merge=True)
    assert len(view.tokens) < len(result.tokens)
    upper = np.triu(view.attentions, k=1)
    assert np.abs(upper).max() == 0.0
    np.testing.assert_allclose(view.attentions.sum(axis=-1), 1.0, atol=1e-5)


def test_spaceless_scripts_recognised():
    assert is_spaceless("好")
    assert is_spaceless("か")
    assert is_spaceless("，")
    assert is_spaceless("ไ")
    assert not is_spaceless("a")
    assert not is_spaceless("é")
    assert not is_spaceless("한")


def test_cjk_fragments_join_and_characters_split():
    raw = ["æĪ", "ĳ", "çĪ±", "N", "LP", "ĠOK"]
    labels = ["我 (1/2)", "我 (2/2)", "爱", "N", "LP", "OK"]

    groups = word_groups(raw, [False] * 6, labels)

    assert groups == [[0, 1], [2], [3, 4], [5]]


def test_cjk_without_labels_reads_markers_only():
    raw = ["æĪ", "ĳ", "çĪ±", "N", "LP", "ĠOK"]

    assert word_groups(raw, [False] * 6) == [[0, 1, 2, 3, 4], [5]]


def test_chinese_words_under_byte_level_tokenizer():
    # The space before "ok" gives the text a word-start marker, so the marker rule applies.
    result = capture(tiny_gpt2(), "我爱NLP。很好 ok")

    view = token_view(result, merge=True)

    assert view.tokens == ("我", "爱", "NLP", "。", "很", "好", "ok")
    np.testing.assert_allclose(view.attentions.sum(axis=-1), 1.0, atol=1e-5)


def test_lone_space_piece_dropped_from_word():
    assert word_label(["␣", "he", "llo"]) == "hello"
    assert word_label(["␣"]) == "␣"
