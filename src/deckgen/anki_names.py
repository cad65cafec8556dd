"""Deck names and tags as Anki stores them, to catch what it would merge or rewrite.

From Anki's rslib (decks/name.rs, tags/register.rs): each '::' part of a deck name or
tag is put in Unicode NFC, loses ASCII control characters (and, in a tag, spaces), is
trimmed (a deck part of ':' too) and becomes "blank" if nothing is left. Deck names and
tags are then compared without case.
"""

from __future__ import annotations

import re
import unicodedata

DECK_TRIM = re.compile(r"^[\s:]+|[\s:]+$")
TAG_TRIM = re.compile(r"^\s+|\s+$")
TAG_DROP = re.compile(r"[\x00-\x1f\x7f \u3000]")
DECK_DROP = re.compile(r"[\x00-\x1f\x7f]")
SEARCH_SPECIAL = re.compile(r'[\\"_*]')  # wildcards, and what ends or escapes a search text


def deck_key(name: str) -> str:
    """Equal for two deck names Anki would treat as one deck."""
    return anki_deck(name).casefold()


def anki_deck(name: str) -> str:
    """The deck name as Anki would store it."""
    return "::".join(_part(p, DECK_DROP, DECK_TRIM) for p in name.split("::"))


def anki_tag(tag: str) -> str:
    """The tag as Anki would store it."""
    return "::".join(_part(p, TAG_DROP, TAG_TRIM) for p in tag.split("::"))


def deck_search(name: str) -> str:
    """Anki's search for the cards of deck `name` itself, not its subdecks: `_` and `*`
    would be wildcards, and `"` or `\\` end or escape the text, so each gets a backslash
    (as Anki's own search writer does)."""
    text = SEARCH_SPECIAL.sub(r"\\\g<0>", name)
    return f'"deck:{text}" -"deck:{text}::*"'


def _part(part: str, drop: re.Pattern, trim: re.Pattern) -> str:
    return trim.sub("", drop.sub("", unicodedata.normalize("NFC", part))) or "blank"
