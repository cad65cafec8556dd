"""The objects that flow through a build: sources in, rendered notes out."""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from deckgen import cloze


class Compact:
    """Pickles as its class and field values: the build cache loads several times faster
    than with the default pickling of dataclasses."""

    def __reduce__(self):
        return self.__class__, tuple(getattr(self, name) for name in self.__dataclass_fields__)


@dataclass(frozen=True)
class Location(Compact):
    path: str  # as shown to the user, e.g. "cards/basics.yaml"
    line: int

    def at(self, offset: int) -> Location:
        return Location(self.path, self.line + offset)


@dataclass(frozen=True)
class Text(Compact):
    """A Markdown field with the line where its text starts."""

    source: str
    where: Location


@dataclass(frozen=True)
class Card(Compact):
    id: str
    where: Location
    front: Text | None = None
    back: Text | None = None
    cloze: Text | None = None
    extra: Text | None = None
    tags: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()  # lint names silenced for this card

    @property
    def is_cloze(self) -> bool:
        return self.cloze is not None


@dataclass(frozen=True)
class Topic(Compact):
    id: str
    deck: str
    source: Path  # the YAML file
    label: str  # the file as named in notes: its path in the cards folder, "basics.yaml"
    cards: tuple[Card, ...]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Note(Compact):
    """A card rendered to the fields of its note type."""

    guid: str
    card_id: str
    notetype: str  # "basic" or "cloze"
    fields: tuple[str, ...]
    tags: tuple[str, ...]
    media: tuple[Media, ...] = field(default=())
    # Derived from the above when the note is made (replace() keeps them: give it fields
    # and these are stale, so make a new Note instead):
    digest: str = ""  # everything Anki stores for the note: a change means a new mtime
    text_digest: str = ""  # the card's own text, without CardId and Source: kept on rename
    question_key: str = ""  # the question as read, without case, spacing or punctuation

    def __post_init__(self) -> None:
        if not self.digest:
            text = html.unescape(TAG.sub("", self.fields[0])).casefold()
            question = "".join(c for c in text if unicodedata.category(c)[0] in "LN")
            derived = {
                "digest": digest([self.notetype, self.fields, self.tags]),
                "text_digest": digest([self.notetype, self.fields[:-2]]),
                "question_key": digest([question]) if self.notetype == "basic" else "",
            }
            for name, value in derived.items():
                object.__setattr__(self, name, value)


TAG = re.compile(r"<[^>]+>")


def digest(content: list) -> str:
    """A short, stable hash of JSON-able content."""
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Media(Compact):
    name: str  # the unique name inside the package and Anki's media folder
    path: Path  # absolute while a build runs
    source: str = ""  # the file's path relative to the cards folder, as the record keeps it
    digest: str = ""  # SHA-256 of the bytes the build read, which the package must hold


class NoteInfo(NamedTuple):  # a tuple: ten thousand of them load quickly from the record
    """A rendered note without its fields: all a build needs of a topic whose package it
    does not write (stamps, lints, the report). The build record keeps one per card."""

    card_id: str
    line: int  # where the card starts in its source file
    key: str  # the card's cache key: finds its fields in the cache when they are needed
    notetype: str
    digest: str
    text_digest: str
    question_key: str  # "" for a cloze: only questions are compared
    media: tuple[tuple[str, str], ...]  # (name, path relative to the cards folder)
    allow: tuple[str, ...]
    tags: tuple[str, ...]  # the topic's and the card's
    clozes: tuple[int, ...]  # a cloze's numbers, as Anki reads them (one card each)

    @classmethod
    def of(cls, card: Card, key: str, note: Note) -> NoteInfo:
        numbers = cloze.numbers(note.fields[0]) if note.notetype == "cloze" else ()
        return cls(card.id, card.where.line, key, note.notetype, note.digest,
                   note.text_digest, note.question_key,
                   tuple((m.name, m.source) for m in note.media), card.allow, note.tags,
                   tuple(sorted(numbers)))
