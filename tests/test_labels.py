"""Token labels: subword markers, literal HTML, byte fragments of CJK and emoji."""

import functools
import html

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from model_utils import capture
from tests.tiny_models import TRAINING_TEXT, byte_level_tokenizer, tiny_gpt2, wordpiece_tokenizer
from viz.labels import clean_raw_token, display_tokens, plotly_literal, tick_labels

MARKERS = ("##", "Ġ", "▁", "Ċ")


@functools.lru_cache(maxsize=None)
def sentencepiece_tokenizer() -> PreTrainedTokenizerFast:
    """Train a small Unigram tokenizer with the Metaspace "▁" word marker, as T5 and Llama use."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=150, special_tokens=["<unk>", "</s>"], unk_token="<unk>")
    tokenizer.train_from_iterator(TRAINING_TEXT * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", eos_token="</s>")


def labels_for(tokenizer, text: str) -> tuple[list[str], list[str]]:
    """Return ``(raw tokens, display labels)`` the way capture builds them."""
    encoding = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    raw = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    labels = display_tokens(text, raw, encoding["offset_mapping"], encoding["special_tokens_mask"])
    return raw, labels


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ġcat", "cat"),
        ("▁cat", "cat"),
        ("Ġ", "␣"),
        ("▁", "␣"),
        ("Ċ", "\\n"),
        ("[CLS]", "[CLS]"),
        ("cat", "cat"),
    ],
)
def test_clean_raw_token(raw, expected):
    assert clean_raw_token(raw) == expected


def test_wordpiece_continuation_keeps_one_marker():
    raw, labels = labels_for(wordpiece_tokenizer(), "Tokenization works")

    assert raw == ["[CLS]", "token", "##ization", "works", "[SEP]"]
    assert labels == ["[CLS]", "Token", "##ization", "works", "[SEP]"]


def test_wordpiece_labels_keep_typed_case():
    _, labels = labels_for(wordpiece_tokenizer(), "The CAT sat")

    assert labels[1:-1] == ["The", "CAT", "sat"]


def test_byte_level_marker_removed():
    text = "the cat sat on the mat"
    raw, labels = labels_for(byte_level_tokenizer(), text)

    assert any(token.startswith("Ġ") for token in raw)
    assert not any(marker in label for label in labels for marker in MARKERS)
    assert "cat" in labels
    assert "mat" in labels


def test_sentencepiece_marker_removed():
    text = "The cat sat on the mat"
    raw, labels = labels_for(sentencepiece_tokenizer(), text)

    assert any(token.startswith("▁") for token in raw)
    assert not any("▁" in label for label in labels)
    assert len(labels) == len(raw)
    for token, label in zip(raw, labels):
        expected = token.removeprefix("▁") or "␣"
        assert label == expected


def test_sentencepiece_lone_marker_is_space():
    raw, labels = labels_for(sentencepiece_tokenizer(), "The cat")

    assert raw[0] == "▁"
    assert labels[0] == "␣"
    assert labels[1] == "T"


def test_whitespace_shown_visibly():
    text = "the\tcat\nsat"
    raw, labels = labels_for(byte_level_tokenizer(), text)

    assert "\\t" in labels
    assert "\\n" in labels
    assert not any(char in label for label in labels for char in "\t\n")


def test_html_labels_stay_literal():
    text = "<b>bold</b> <script>alert(1)</script>"
    raw, labels = labels_for(byte_level_tokenizer(), text)

    assert "".join(labels).replace("␣", " ") == text
    assert "<" in labels
    ticks = tick_labels(labels)
    assert not any("<" in tick or ">" in tick for tick in ticks)
    assert "".join(ticks).replace("␣", " ") == html.escape(text, quote=False)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("<b>", "&lt;b&gt;"),
        ("<br>", "&lt;br&gt;"),
        ("</s>", "&lt;/s&gt;"),
        ("&amp;", "&amp;amp;"),
        ("a & b", "a &amp; b"),
        ('"quoted"', '"quoted"'),
        ("plain", "plain"),
    ],
)
def test_plotly_literal_escapes(label, expected):
    assert plotly_literal(label) == expected


def test_html_in_embedded_capture_stays_literal(embedded_model):
    result = capture(embedded_model, "<b>hello</b> <script>x</script>")

    assert result.tokens[1:4] == ("<", "b", ">")
    assert "script" in result.tokens
    assert not any("&" in token for token in result.tokens)


@pytest.mark.parametrize(("char", "byte_count"), [("好", 3), ("😀", 4), ("é", 2)])
def test_byte_fragments_get_indexed_labels(char, byte_count):
    text = f"cat {char} mat"
    raw, labels = labels_for(byte_level_tokenizer(), text)
    fragments = [label for label in labels if label.startswith(char)]

    assert fragments == [f"{char} ({index}/{byte_count})" for index in range(1, byte_count + 1)]
    assert not any("\ufffd" in label for label in labels)


def test_fragment_labels_repeat_per_character():
    text = "好好"
    _, labels = labels_for(byte_level_tokenizer(), text)

    assert labels == ["好 (1/3)", "好 (2/3)", "好 (3/3)"] * 2


@pytest.mark.parametrize(
    "text",
    [
        "the cat sat on the mat",
        "注意力机制 😀🚀 naïve café",
        "<b>x</b> & \"y\"\n\tz",
        "  leading and trailing spaces  ",
    ],
)
def test_byte_level_tokens_decode_to_input(text):
    tokenizer = byte_level_tokenizer()
    raw, labels = labels_for(tokenizer, text)

    assert tokenizer.convert_tokens_to_string(raw) == text
    assert len(labels) == len(raw)
    assert all(labels)


def test_capture_keeps_raw_and_display_tokens():
    model = tiny_gpt2()
    text = "cat 好 😀"
    result = capture(model, text)

    assert model.tokenizer.convert_tokens_to_string(list(result.raw_tokens)) == text
    assert len(result.tokens) == len(result.raw_tokens) == result.attentions.shape[-1]
    assert result.tokens.count("好 (2/3)") == 1
    assert result.tokens.count("😀 (4/4)") == 1


def test_token_spanning_two_characters_gets_fragment_index():
    # Byte-level BPE: one token contains the last byte of 我 and the first byte of 爱.
    text = "我爱"
    raw = ["æĪ", "ĳçĪ", "±"]
    labels = display_tokens(text, raw, [(0, 1), (0, 2), (1, 2)], [0, 0, 0])

    assert labels == ["我 (1/3)", "我爱 (2/3)", "爱 (3/3)"]
    assert len(set(labels)) == len(labels)
