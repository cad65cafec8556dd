"""Cloze deletions: `{{c1::answer}}` and `{{c1::answer::hint}}`.

Anki ends a deletion at the first `}}`, so TeX such as `{{c1::\\frac{a}{b}}}` would
break there. We find each deletion's end by balancing braces instead, then split
every other `}}` inside it, so the first `}}` Anki sees is the one the author meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPENING = re.compile(r"\{\{c([0-9]+)::")  # ASCII digits only, as Anki reads them
# Anki gives c1..c500 a card each and puts every higher number on the 500th card
# (rslib/src/notetype/cardgen.rs: `cloze_ord.saturating_sub(1).min(499)`).
MAX_NUMBER = 500
MAX_NESTING = 10  # deletions inside deletions: Anki ignores deeper ones (ANKI_NESTING)


@dataclass(frozen=True)
class Deletion:
    number: int
    start: int  # offset of "{{"
    end: int  # offset just past "}}"


class BadDeletion(ValueError):
    def __init__(self, offset: int, message: str = "cloze deletion is never closed with '}}'"):
        super().__init__(message)
        self.offset = offset


def numbers(text: str) -> set[int]:
    """Every cloze number in `text`, nested deletions included: Anki makes a card each."""
    return {int(match.group(1)) for match in OPENING.finditer(text)}


def sides(text: str) -> list[str]:
    """The text of a cloze field as Anki shows it, read as Anki's parser reads it: the
    answer (each deletion's text in its place), and each card's question (its deletion
    as [hint] or [...], the others' text). Anki's markup around a deletion (a span,
    outside math) is left out: the text is what MathJax could read joined."""
    nodes = _read(text)
    numbers = sorted(_numbers_in(nodes))
    return [_shown(nodes, None), *(_shown(nodes, n) for n in numbers)]


TOKEN = re.compile(r"\{\{c([0-9]+)::|\}\}")
ANKI_NESTING = 10  # deletions Anki keeps open at once; it drops deeper openings


@dataclass
class _Read:
    number: int
    nodes: list[str | _Read]
    hint: str | None = None


def _read(text: str) -> list[str | _Read]:
    """As Anki's cloze parser (rslib/src/cloze.rs): a `}}` ends the innermost open
    deletion, or is text if none is open; each piece of text in a deletion gives its
    part after the first `::` as the hint; openings past ANKI_NESTING are dropped, and
    a deletion never closed is shown as its text (Anki shows no card for it)."""
    out: list[str | _Read] = []
    open_: list[_Read] = []

    def add(piece: str) -> None:
        if open_:
            piece, sep, hint = piece.partition("::")
            if sep:
                open_[-1].hint = hint
            open_[-1].nodes.append(piece)
        elif piece:
            out.append(piece)

    pos = 0
    for token in TOKEN.finditer(text):
        add(text[pos:token.start()])
        pos = token.end()
        if token.group(1) is not None:
            if len(open_) < ANKI_NESTING:
                open_.append(_Read(int(token.group(1)), []))
        elif open_:
            done = open_.pop()
            (open_[-1].nodes if open_ else out).append(done)
        else:
            out.append(token.group())
    add(text[pos:])
    while open_:
        done = open_.pop()
        (open_[-1].nodes if open_ else out).extend(done.nodes)
    return out


def shape(text: str) -> tuple:
    """The deletions Anki reads in `text`, as nested (number, inner shape) pairs: equal
    for a field and its source when rendering made, ended or split none."""
    return _shape(_read(text))


def _shape(nodes: list[str | _Read]) -> tuple:
    return tuple((node.number, _shape(node.nodes)) for node in nodes
                 if isinstance(node, _Read))


def _numbers_in(nodes: list[str | _Read]) -> set[int]:
    return {n for node in nodes if isinstance(node, _Read)
            for n in (node.number, *_numbers_in(node.nodes))}


def _shown(nodes: list[str | _Read], asked: int | None) -> str:
    parts = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif node.number == asked:
            parts.append(f"[{node.hint}]" if node.hint is not None else "[...]")
        else:
            parts.append(_shown(node.nodes, asked))
    return "".join(parts)


def check_deletions(text: str) -> list[Deletion]:
    """The top-level deletions; raises BadDeletion for one never closed, numbered above
    Anki's limit, or nested too deep."""
    for match in OPENING.finditer(text):
        if int(match.group(1)) > MAX_NUMBER or int(match.group(1)) == 0:
            raise BadDeletion(match.start(), f"cloze number c{match.group(1)} is outside"
                                              f" c1..c{MAX_NUMBER}, the cards Anki makes")
    deletions = find_deletions(text)
    _check_nesting(text, deletions, 1)
    return deletions


def _check_nesting(text: str, deletions: list[Deletion], depth: int) -> None:
    """Iterative over the deletions of one level, recursive at most MAX_NESTING deep."""
    for deletion in deletions:
        if depth > MAX_NESTING:
            raise BadDeletion(deletion.start, f"cloze deletions nested more than"
                                              f" {MAX_NESTING} deep; flatten them")
        inner_start = OPENING.match(text, deletion.start).end()
        inner = text[inner_start:deletion.end - 2]
        nested = find_deletions(inner)
        shifted = [Deletion(d.number, d.start + inner_start, d.end + inner_start) for d in nested]
        _check_nesting(text, shifted, depth + 1)


def find_deletions(text: str) -> list[Deletion]:
    """Top-level deletions in order; nested ones are left to Anki."""
    deletions = []
    pos = 0
    while match := OPENING.search(text, pos):
        end = _closing(text, match.end())
        if end is None:
            raise BadDeletion(match.start())
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
