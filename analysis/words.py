"""Word-level and special-token-free views of a capture, as new results with the same fields.

Word rule: a special token is a word of its own. With WordPiece tokens, a token that starts
with ``##`` continues the word before it. With byte-level BPE (``Ġ``) or SentencePiece
(``▁``) tokens, a token that starts with the marker, or follows a special token, starts a
word. Every other token continues the word before it, so punctuation written without a
space joins the word it touches. Tokenizers with neither marker keep one word per token.
Scripts written without spaces (Chinese, Japanese, Thai and their neighbours) give no
word boundary to read, so there a token is a word of its own; only the byte fragments of
one character, labelled ``好 (1/3)``, ``好 (2/3)``, ... join.

Merging a ``[query, key]`` matrix: the weight TO a word is the sum over its pieces (key
columns are added), and the weight FROM a word is the mean over its pieces (query rows are
averaged), so every row still sums to 1.

Hiding special tokens removes their rows and columns and renormalises each remaining row
to sum to 1. When both are on, special tokens are hidden first and words merged after.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

WORDPIECE_CONTINUATION = "##"
WORD_START_MARKERS = ("Ġ", "▁")
FRAGMENT_SUFFIX = re.compile(r"^(.*) \((\d+)/(\d+)\)$")
# The label of a token that is only a word-start marker, which stands for a space.
VISIBLE_SPACE = "␣"


# Unicode blocks of scripts written without spaces between words.
SPACELESS_BLOCKS = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x30FF),  # CJK symbols and punctuation, Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # Halfwidth and fullwidth forms
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def is_spaceless(char: str) -> bool:
    """Tell whether ``char`` belongs to a script written without spaces between words."""
    code = ord(char)
    return any(low <= code <= high for low, high in SPACELESS_BLOCKS)


def _split_fragment(label: str) -> tuple[str, int | None]:
    """Split a display label into its text and its position within a split character (``好 (2/3)`` gives ``("好", 2)``)."""
    fragment = FRAGMENT_SUFFIX.match(label)
    return (fragment.group(1), int(fragment.group(2))) if fragment else (label, None)


def word_groups(raw_tokens: Sequence[str], special_mask: Sequence[bool], labels: Sequence[str] | None = None) -> list[list[int]]:
    """Group token positions into words by the module's word rule; groups are contiguous and in order.

    ``labels`` are the display labels of the tokens. With them, tokens of spaceless scripts
    are words of their own and byte fragments of one character join. Without them, the
    rule reads only the subword markers.

    NOTE: the marker style is read from the tokens, so a byte-level text without any space
    has no ``Ġ`` token and keeps one word per token.
    """
    wordpiece = any(token.startswith(WORDPIECE_CONTINUATION) for token in raw_tokens)
    marked = not wordpiece and any(token.startswith(WORD_START_MARKERS) for token in raw_tokens)
    groups: list[list[int]] = []
    previous_special = True
    previous_spaceless = False
    for position, (token, special) in enumerate(zip(raw_tokens, special_mask)):
        text, fragment = _split_fragment(labels[position]) if labels is not None else ("", None)
        starts_spaceless = bool(text) and is_spaceless(text[0])
        ends_spaceless = bool(text) and is_spaceless(text[-1])
        if special:
            starts_word = True
        elif fragment is not None and fragment > 1:
            starts_word = previous_special
        elif starts_spaceless or previous_spaceless:
            starts_word = True
        elif wordpiece:
            starts_word = previous_special or not token.startswith(WORDPIECE_CONTINUATION)
        elif marked:
            starts_word = previous_special or token.startswith(WORD_START_MARKERS)
        else:
            starts_word = True
        if starts_word:
            groups.append([position])
        else:
            groups[-1].append(position)
        previous_special = bool(special)
        previous_spaceless = ends_spaceless and not special
    return groups


def _starts(groups: Sequence[Sequence[int]], num_tokens: int) -> np.ndarray:
    flat = [position for group in groups for position in group]
    if flat != list(range(num_tokens)):
        raise ValueError(f"Word groups must cover positions 0 to {num_tokens - 1} once each, in order.")
    return np.array([group[0] for group in groups])


def merge_keys(weights: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Sum the key columns of ``weights [..., key]`` over each word's pieces."""
    return np.add.reduceat(np.asarray(weights), _starts(groups, weights.shape[-1]), axis=-1)


def merge_queries(weights: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Average the query rows of ``weights [..., query, key]`` over each word's pieces."""
    starts = _starts(groups, weights.shape[-2])
    summed = np.add.reduceat(np.asarray(weights), starts, axis=-2)
    sizes = np.array([len(group) for group in groups], dtype=summed.dtype)
    return summed / sizes[:, None]


def merge_words(weights: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Merge a square ``[..., query, key]`` matrix into words: keys summed, queries averaged."""
    return merge_queries(merge_keys(weights, groups), groups)


def hide_keys(weights: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Drop the key columns not in ``keep`` and renormalise each row; a row left with no weight stays 0."""
    kept = np.asarray(weights)[..., keep]
    totals = kept.sum(axis=-1, keepdims=True)
    return np.divide(kept, totals, out=np.zeros_like(kept), where=totals > 0)


def word_label(labels: Sequence[str]) -> str:
    """Join the display labels of one word's pieces: ``##`` dropped, byte fragments of one character shown once.

    A lone space piece (``␣``, a word-start marker the tokenizer split off) is left out when
    the word has other pieces.
    """
    if len(labels) > 1 and labels[0] == VISIBLE_SPACE:
        labels = labels[1:]
    pieces = []
    for label in labels:
        text, fragment = _split_fragment(label)
        if fragment is not None and fragment > 1:
            continue
        pieces.append(text.removeprefix(WORDPIECE_CONTINUATION) if pieces else text)
    return "".join(pieces)


def _raw_word(raw_pieces: Sequence[str]) -> str:
    return raw_pieces[0] + "".join(piece.removeprefix(WORDPIECE_CONTINUATION) for piece in raw_pieces[1:])


def token_view(result, *, merge: bool = False, hide_special: bool = False):
    """Return a copy of a capture result seen as words and/or without special tokens.

    ``tokens``, ``raw_tokens``, ``token_ids``, ``special_mask``, ``segment_ids``,
    ``attentions`` and the key axis of ``cross_attentions`` change; a merged word keeps the
    id and segment of its first piece. ``manifest["token_view"]`` records the switches and
    the original positions behind every new token. Decoder self-attention of
    encoder-decoder models is left as it was.
    """
    if not merge and not hide_special:
        return result
    positions = [[position] for position in range(len(result.tokens))]
    # Sums stay in the capture's float32, so a view of a long input costs no float64 copy.
    attentions = np.asarray(result.attentions)
    cross = None if result.cross_attentions is None else np.asarray(result.cross_attentions)
    tokens, raw_tokens = list(result.tokens), list(result.raw_tokens)
    token_ids, special = list(result.token_ids), list(result.special_mask)
    segments = None if result.segment_ids is None else list(result.segment_ids)

    if hide_special:
        keep = np.flatnonzero(~np.asarray(special, dtype=bool))
        if keep.size == 0:
            raise ValueError("Every token is a special token, so nothing is left to show with special tokens hidden.")
        attentions = hide_keys(attentions[..., keep, :], keep)
        cross = None if cross is None else hide_keys(cross, keep)
        positions = [positions[index] for index in keep]
        tokens, raw_tokens = [tokens[index] for index in keep], [raw_tokens[index] for index in keep]
        token_ids, special = [token_ids[index] for index in keep], [special[index] for index in keep]
        segments = None if segments is None else [segments[index] for index in keep]

    if merge:
        groups = word_groups(raw_tokens, special, tokens)
        attentions = merge_words(attentions, groups)
        cross = None if cross is None else merge_keys(cross, groups)
        firsts = [group[0] for group in groups]
        positions = [[original for index in group for original in positions[index]] for group in groups]
        tokens = [word_label([tokens[index] for index in group]) for group in groups]
        raw_tokens = [_raw_word([raw_tokens[index] for index in group]) for group in groups]
        token_ids, special = [token_ids[index] for index in firsts], [special[index] for index in firsts]
        segments = None if segments is None else [segments[index] for index in firsts]

    manifest = dict(result.manifest)
    manifest["token_view"] = {"merge_words": merge, "hide_special": hide_special, "positions": positions}
    return result.replace(
        tokens=tuple(tokens),
        raw_tokens=tuple(raw_tokens),
        token_ids=tuple(token_ids),
        special_mask=tuple(special),
        segment_ids=None if segments is None else tuple(segments),
        attentions=attentions,
        cross_attentions=cross,
        manifest=manifest,
    )
