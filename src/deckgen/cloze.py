"""Cloze deletions: `{{c1::answer}}` and `{{c1::answer::hint}}`.

Anki ends a deletion at the first `}}`, so TeX such as `{{c1::\\frac{a}{b}}}` would
break there. We find each deletion's end by balancing braces instead, then split
every other `}}` inside it, so the first `}}` Anki sees is the one the author meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPENING = re.compile(r"\{\{c(\d+)::")


@dataclass(frozen=True)
class Deletion:
    number: int
    start: int  # offset of "{{"
    end: int  # offset just past "}}"


class UnclosedDeletion(ValueError):
    def __init__(self, offset: int):
        super().__init__("cloze deletion is never closed with '}}'")
        self.offset = offset


def numbers(text: str) -> set[int]:
    """Every cloze number in `text`, nested deletions included: Anki makes a card each."""
    return {int(match.group(1)) for match in OPENING.finditer(text)}


def find_deletions(text: str) -> list[Deletion]:
    """Top-level deletions in order; nested ones are left to Anki."""
    deletions = []
    pos = 0
    while match := OPENING.search(text, pos):
        end = _closing(text, match.end())
        if end is None:
            raise UnclosedDeletion(match.start())
        deletions.append(Deletion(int(match.group(1)), match.start(), end + 2))
        pos = end + 2
    return deletions


def _closing(text: str, pos: int) -> int | None:
    """Offset of the `}}` that closes a deletion whose text starts at `pos`."""
    depth = 0
    for i in range(pos, len(text)):
        char = text[i]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and text.startswith("}}", i):
                return i
            depth = max(depth - 1, 0)
    return None


def pad_deletions(text: str) -> str:
    """Split every `}}` inside a deletion into `} }`, so Anki's first `}}` is the closer.

    TeX ignores the space; `\\frac{a}{\\sqrt{b}}` inside a deletion would otherwise
    end it early.
    """
    out, pos = [], 0
    for deletion in find_deletions(text):
        out.append(text[pos:deletion.start])
        opening = OPENING.match(text, deletion.start)
        assert opening is not None
        inner = _pad_inside(text[opening.end():deletion.end - 2])
        out.append(f"{opening.group(0)}{inner}}}}}")
        pos = deletion.end
    out.append(text[pos:])
    return "".join(out)


def _pad_inside(content: str) -> str:
    out, pos = [], 0
    for nested in find_deletions(content):
        out.append(_split_braces(content[pos:nested.start]))
        out.append(pad_deletions(content[nested.start:nested.end]))
        pos = nested.end
    out.append(_split_braces(content[pos:]))
    padded = "".join(out)
    return padded + " " if padded.endswith("}") else padded


def _split_braces(segment: str) -> str:
    while "}}" in segment:
        segment = segment.replace("}}", "} }")
    return segment
