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
    if " " not in text and text.isprintable():
        return text
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


def _fragment_clusters(spans: Sequence[tuple[int, int] | None]) -> dict[int, tuple[int, int]]:
    """Map each token whose characters overlap a neighbour's to ``(index, count)`` within its run.

    Byte-level BPE can split one character over several tokens. One token can also contain
    the last bytes of one character and the first bytes of the next. Runs are therefore built
    from any overlap of character spans, not only from equal spans.
    """
    clusters: list[list[int]] = []
    run_end = -1
    for position, span in enumerate(spans):
        if span is None:
            run_end = -1
            continue
        if clusters and span[0] < run_end:
            clusters[-1].append(position)
        else:
            clusters.append([position])
        run_end = max(run_end, span[1]) if len(clusters[-1]) > 1 else span[1]
    fragments = {}
    for members in clusters:
        if len(members) > 1:
            for index, position in enumerate(members, start=1):
                fragments[position] = (index, len(members))
    return fragments


def display_tokens(
    text: str,
    raw_tokens: Sequence[str],
    offsets: Sequence[tuple[int, int]] | None,
    special_mask: Sequence[int],
) -> list[str]:
    """Build one readable label per token, in token order.

    Labels come from the characters each token covers in `text`, so casing, CJK and emoji
    read as typed. Tokens whose character spans overlap (byte fragments of an emoji or CJK
    character) get an index within their run such as ``好 (1/3)``. WordPiece continuations
    keep their ``##`` marker. Special tokens, and tokenizers without offsets, fall back to
    the cleaned raw token.
    """
    spans: list[tuple[int, int] | None] = []
    for position, raw in enumerate(raw_tokens):
        span = tuple(offsets[position]) if offsets is not None else (0, 0)
        # SentencePiece gives a lone "▁" the span of the next character, so it is labelled as a space.
        usable = not special_mask[position] and span[1] > span[0] and not _is_space_marker(raw)
        spans.append(span if usable else None)
    fragments = _fragment_clusters(spans)

    labels = []
    for position, raw in enumerate(raw_tokens):
        span = spans[position]
        if span is None:
            labels.append(clean_raw_token(raw))
            continue
        covered = text[span[0]:span[1]]
        label = _visible(covered.strip()) or _visible(covered)
        if raw.startswith(WORDPIECE_CONTINUATION):
            label = WORDPIECE_CONTINUATION + label
        if position in fragments:
            index, count = fragments[position]
            label = f"{label} ({index}/{count})"
        labels.append(label)
    return labels


def plotly_literal(label: str) -> str:
    """Escape a label so plotly shows it as text: plotly reads <b>, <br> and entities in labels."""
    return html.escape(label, quote=False)


def tick_labels(tokens: Sequence[str]) -> list[str]:
    """Return tick text for a token axis, escaped for plotly."""
    return [plotly_literal(token) for token in tokens]
