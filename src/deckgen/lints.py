"""Warnings: things that build fine but make worse cards. A card silences one with
`allow: [name]`."""

from __future__ import annotations

import re

from deckgen.errors import Problem
from deckgen.model import Topic

LONG_BACK = 150
READING_UNIT = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[A-Za-z0-9]+")


def reading_length(text: str) -> int:
    """Han characters plus Latin words and numbers (TeX included): a rough reading time
    that treats Chinese and English alike."""
    return len(READING_UNIT.findall(text))


def lint_topics(topics: list[Topic]) -> list[Problem]:
    warnings = []
    for topic in topics:
        for card in topic.cards:
            if card.back and "long-back" not in card.allow:
                length = reading_length(card.back.source)
                if length > LONG_BACK:
                    warnings.append(Problem(
                        card.where.path, card.where.line,
                        f"warning: card '{card.id}': answer is {length} long (limit {LONG_BACK});"
                        " shorten it, move detail to 'extra', or add allow: [long-back]"))
    return warnings
