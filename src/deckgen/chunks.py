"""A topic file cut into the text of each card and the rest, so that a build parses
only the cards whose text it has not seen before (loader.read_topic_by_card).

The cut is made only in a file laid out as topics usually are: no directive, one
`cards:` key at the start of a line, then a block list whose items start at one
indentation with "- ", every other line of the list indented deeper, blank, or a
comment. Any other layout (a flow list, tabs, odd line breaks, a line that would end the
list early) is not cut. Even so, an item may mean something else alone (an alias to an
anchor elsewhere, an anchor used after it): the reader checks that too, and reads the
whole file when in doubt (loader.read_topic_by_card).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

# The `cards:` key, at the start of a line and with nothing after it but a comment.
CARDS_KEY = re.compile(r"cards:(?:[ ]+#[^\r\n]*|[ ]*)(?:\r?\n|\Z)")
# Blank and comment lines, then the first item: its indentation is the list's.
FIRST_ITEM = re.compile(r"\n(?:[ ]*(?:#[^\n]*)?\r?\n)*?(?P<indent>[ ]*)- ")
# Line breaks YAML knows besides \n and \r\n: a cut by lines would not see them.
ODD_BREAKS = ("\x85", "\u2028", "\u2029")


class Chunk(NamedTuple):
    line: int  # where its first line is in the file, from 1
    text: str


class Cut(NamedTuple):
    rest: str  # the file with the cards' lines left empty: deck, tags and the `cards:` key
    cards_line: int  # the line of the `cards:` key, from 1
    chunks: list[Chunk]  # the text of each item of the list, in order


def cut(text: str) -> Cut | None:
    """The file cut at its cards, or None if it is not laid out so that it can be."""
    if any(b in text for b in ODD_BREAKS) or text.count("\r") != text.count("\r\n"):
        return None
    if text.startswith("%") or "\n%" in text:
        return None  # a directive: %TAG may give tags another meaning in the whole file
    keys = [at + 1 for at in _find_all(text, "\ncards:")]
    keys = [0, *keys] if text.startswith("cards:") else keys
    key = CARDS_KEY.match(text, keys[0]) if len(keys) == 1 else None
    first = FIRST_ITEM.match(text, key.end() - 1) if key else None
    if first is None:
        return None
    start, indent = first.start("indent"), len(first["indent"])
    # The first line after the first item that is neither an item nor indented deeper,
    # blank or a comment: at the start of a line it ends the list, else the file is odd.
    other = re.compile(rf"\n(?! {{{indent}}}- )(?P<spaces> {{0,{indent}}})[^ #\r\n]")
    found = other.search(text, start)
    if found is not None and (found["spaces"] or found[0][-1] == "\t"):
        return None  # a line less indented than the items (or by a tab), inside the list
    end = len(text) if found is None else found.start() + 1
    item = re.compile(rf"\n {{{indent}}}- ")
    starts = [start, *(m.start() + 1 for m in item.finditer(text, start, end))]
    cards_line = text.count("\n", 0, keys[0]) + 1
    line = text.count("\n", 0, start) + 1
    chunks = []
    for begin, stop in zip(starts, [*starts[1:], end]):
        chunks.append(Chunk(line, text[begin:stop]))
        line += text.count("\n", begin, stop)
    rest = text[:start] + "\n" * text.count("\n", start, end) + text[end:]
    return Cut(rest, cards_line, chunks)


def _find_all(text: str, needle: str) -> Iterator[int]:
    at = text.find(needle)
    while at != -1:
        yield at
        at = text.find(needle, at + 1)
