"""The objects that flow through a build: sources in, rendered notes out."""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path


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

    def outline(self) -> Card:
        """The card without its texts: what a build needs of a card it renders no more."""
        return Card(self.id, self.where, tags=self.tags, allow=self.allow)

    @property
    def is_outline(self) -> bool:
        return self.front is None and self.cloze is None


@dataclass(frozen=True)
class Topic(Compact):
    id: str
    deck: str
    source: Path  # the YAML file
    label: str  # the file as named in notes: "cards/basics.yaml"
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
    # Derived from the above where the note is rendered, then kept with it in the cache
    # (so replace() keeps them: only the cache uses it, to drop and restore the fields):
    digest: str = ""  # everything Anki stores for the note: a change means a new mtime
    text_digest: str = ""  # the card's own text, without CardId and Source: kept on rename
    question_key: str = ""  # the question as read, without case, spacing or punctuation

    def __post_init__(self) -> None:
        if not self.digest:
            text = html.unescape(TAG.sub("", self.fields[0])).casefold()
            derived = {
                "digest": digest([self.notetype, self.fields, self.tags]),
                "text_digest": digest([self.notetype, self.fields[:-2]]),
                "question_key": "".join(c for c in text if unicodedata.category(c)[0] in "LN"),
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
    path: Path
