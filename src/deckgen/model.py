"""The objects that flow through a build: sources in, rendered notes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Location:
    path: str  # as shown to the user, e.g. "cards/basics.yaml"
    line: int

    def at(self, offset: int) -> Location:
        return Location(self.path, self.line + offset)


@dataclass(frozen=True)
class Text:
    """A Markdown field with the line where its text starts."""

    source: str
    where: Location


@dataclass(frozen=True)
class Card:
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
class Topic:
    id: str
    deck: str
    source: Path  # the YAML file
    label: str  # the file as named in notes: "cards/basics.yaml"
    cards: tuple[Card, ...]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Note:
    """A card rendered to the fields of its note type."""

    guid: str
    card_id: str
    notetype: str  # "basic" or "cloze"
    fields: tuple[str, ...]
    tags: tuple[str, ...]
    media: tuple[Media, ...] = field(default=())


@dataclass(frozen=True)
class Media:
    name: str  # the unique name inside the package and Anki's media folder
    path: Path
