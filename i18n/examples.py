"""Example sentences offered in the sidebar, in English and Chinese.

The sentences are data, not interface text: they stay the same whatever the interface
language is, and only their labels (message keys ``example.<name>``) are translated.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One example sentence: a stable name, the language it is written in, and the text."""

    name: str
    language: str
    text: str


EXAMPLES: tuple[Example, ...] = (
    # "it" refers to the cat. In the embedded model, layer 5, head 11 gives "cat" 0.71 of the
    # weight of "it", but most other tokens also put most of their weight on "cat" there.
    Example("cat", "en", "The cat sat on the mat because it was tired."),
    # A Winograd schema: "it" refers to the trophy, and resolving that takes world knowledge.
    Example("trophy", "en", "The trophy did not fit in the suitcase because it was too big."),
    # For the embedded uncased English WordPiece model: 我, 大, 学, 中 and 文 are in its
    # vocabulary and become one token each (学 twice, on two rows); 们, 在 and 习 become [UNK].
    Example("chinese", "zh-CN", "我们在大学学习中文。"),
    # English words split into WordPiece pieces (transform, ##er) beside single Chinese characters.
    Example("mixed", "zh-CN", "Attention 机制是 Transformer 的核心。"),
)

DEFAULT_EXAMPLE = EXAMPLES[0]


def example_by_name(name: str) -> Example:
    """Return the example called ``name``; raise KeyError listing the valid names otherwise."""
    for example in EXAMPLES:
        if example.name == name:
            return example
    raise KeyError(f"Unknown example '{name}'. Valid names: {', '.join(example.name for example in EXAMPLES)}.")


def contains_cjk(text: str) -> bool:
    """Return True when ``text`` has a CJK ideograph (Unified Ideographs or Extension A)."""
    return any("\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" for char in text)
