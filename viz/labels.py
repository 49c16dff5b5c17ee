"""Display labels for tokens: one helper shared by every view and export."""

from __future__ import annotations

import html
from collections.abc import Sequence

WORDPIECE_CONTINUATION = "##"
BYTE_LEVEL_SPACE = "Ġ"
BYTE_LEVEL_NEWLINE = "Ċ"
SENTENCEPIECE_SPACE = "▁"
VISIBLE_WHITESPACE = {" ": "␣", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible(text: str) -> str:
    """Replace whitespace and control characters with visible escapes."""
    pieces = []
    for char in text:
        if char in VISIBLE_WHITESPACE:
            pieces.append(VISIBLE_WHITESPACE[char])
        elif not char.isprintable():
            pieces.append(f"\\u{ord(char):04x}")
        else:
            pieces.append(char)
    return "".join(pieces)


def _is_space_marker(raw: str) -> bool:
    """Tell whether a token is a lone word-start marker, which stands for a space."""
    return raw in (BYTE_LEVEL_SPACE, SENTENCEPIECE_SPACE)


def clean_raw_token(raw: str) -> str:
    """Strip the subword markers of WordPiece, byte-level BPE and SentencePiece from one token."""
    if raw.startswith(BYTE_LEVEL_SPACE) or raw.startswith(SENTENCEPIECE_SPACE):
        raw = raw[1:]
    raw = raw.replace(BYTE_LEVEL_NEWLINE, "\n")
    return _visible(raw) if raw else "␣"


def display_tokens(
    text: str,
    raw_tokens: Sequence[str],
    offsets: Sequence[tuple[int, int]] | None,
    special_mask: Sequence[int],
) -> list[str]:
    """Build one readable label per token, in token order.

    Labels come from the characters each token covers in `text`, so casing, CJK and emoji
    read as typed. Tokens that share one character span (byte fragments of an emoji or CJK
    character) get a fragment index such as ``好 (1/3)``. WordPiece continuations keep
    their ``##`` marker. Special tokens, and tokenizers without offsets, fall back to the
    cleaned raw token.
    """
    labels = []
    span_counts: dict[tuple[int, int], int] = {}
    if offsets is not None:
        for position, span in enumerate(offsets):
            if not special_mask[position] and span[1] > span[0] and not _is_space_marker(raw_tokens[position]):
                span_counts[tuple(span)] = span_counts.get(tuple(span), 0) + 1

    span_seen: dict[tuple[int, int], int] = {}
    for position, raw in enumerate(raw_tokens):
        span = tuple(offsets[position]) if offsets is not None else (0, 0)
        # SentencePiece gives a lone "▁" the span of the next character, so it is labelled as a space.
        if special_mask[position] or span[1] <= span[0] or _is_space_marker(raw):
            labels.append(clean_raw_token(raw))
            continue
        covered = text[span[0]:span[1]]
        label = _visible(covered.strip()) or _visible(covered)
        if raw.startswith(WORDPIECE_CONTINUATION):
            label = WORDPIECE_CONTINUATION + label
        fragments = span_counts[span]
        if fragments > 1:
            span_seen[span] = span_seen.get(span, 0) + 1
            label = f"{label} ({span_seen[span]}/{fragments})"
        labels.append(label)
    return labels


def plotly_literal(label: str) -> str:
    """Escape a label so plotly shows it as text: plotly reads <b>, <br> and entities in labels."""
    return html.escape(label, quote=False)


def tick_labels(tokens: Sequence[str]) -> list[str]:
    """Return tick text for a token axis, escaped for plotly."""
    return [plotly_literal(token) for token in tokens]
