"""What a build changes compared with the previous one, per topic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deckgen.anki_names import deck_key

if TYPE_CHECKING:
    from deckgen.model import NoteInfo
    from deckgen.state import NoteStamp, Shipped

KINDS = ("added", "updated", "unchanged", "removed", "renamed")


@dataclass
class TopicChanges:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)  # the new ids

    def summary(self) -> str:
        counts = [f"{len(getattr(self, kind))} {kind}" for kind in KINDS
                  if getattr(self, kind) or kind == "unchanged"]
        return ", ".join(counts)


@dataclass(frozen=True)
class Rename:
    old: str
    new: str


@dataclass(frozen=True)
class DeckMove:
    """Cards whose deck is not the one they were last built into."""

    old: str
    new: str
    card_ids: list[str]

    @property
    def respelled(self) -> bool:
        """Whether the new deck is the old one to Anki, only spelled otherwise: an import
        then keeps the cards, and the name, where they are."""
        return deck_key(self.old) == deck_key(self.new)


@dataclass
class Changes:
    topics: dict[str, TopicChanges]
    renames: list[Rename]
    moves: list[DeckMove] = field(default_factory=list)
    respelled_tags: list[tuple[str, str]] = field(default_factory=list)  # (old, new)
    emptied: dict[str, list[int]] = field(default_factory=dict)  # card id -> cloze numbers

    @property
    def total(self) -> TopicChanges:
        total = TopicChanges()
        for topic in self.topics.values():
            for kind in KINDS:
                getattr(total, kind).extend(getattr(topic, kind))
        return total

    @property
    def changed_ids(self) -> list[str]:
        """Ids of the notes a re-import would add or update."""
        total = self.total
        return sorted(total.added + total.updated + total.renamed)


def since_last_build(earlier: dict[str, tuple[str, NoteInfo]],
                     current: dict[str, tuple[str, NoteInfo]],
                     ) -> tuple[list[DeckMove], dict[str, list[int]], list[tuple[str, str]]]:
    """What an import leaves as the last build (`earlier`) had it, from each card's deck
    and outline now (`current`, by card id): cards in another deck (Anki moves none); the
    cloze numbers a card had and has no more (Anki keeps their cards, empty, until the
    learner deletes them with Tools > Empty Cards); and tags now spelled otherwise only in
    case (Anki keeps one spelling, the old one): (old, new) each."""
    moved: dict[tuple[str, str], list[str]] = {}
    emptied: dict[str, list[int]] = {}
    for card_id, (deck, note) in current.items():
        last_deck, last_note = earlier.get(card_id, (deck, note))  # a new card: as now
        if last_deck != deck:
            moved.setdefault((last_deck, deck), []).append(card_id)
        if note.clozes and (gone := sorted(set(last_note.clozes) - set(note.clozes))):
            emptied[card_id] = gone
    moves = [DeckMove(old, new, sorted(ids)) for (old, new), ids in sorted(moved.items())]
    return moves, dict(sorted(emptied.items())), _respelled(
        {tag for _, note in earlier.values() for tag in note.tags},
        {tag for _, note in current.values() for tag in note.tags})


def _respelled(earlier: set[str], current: set[str]) -> list[tuple[str, str]]:
    old = {tag.casefold(): tag for tag in earlier - current}
    return sorted((old[tag.casefold()], tag) for tag in current - earlier
                  if tag.casefold() in old)


def compare(previous: dict[str, NoteStamp], current: dict[str, NoteStamp],
            topic_order: list[str], shipped: Shipped | None = None) -> Changes:
    """What an import of `current` does, card by card, to a collection that has
    `previous`. A card back with exactly what was `shipped` for it is added back, never a
    rename: Anki has its note already."""
    topics = {topic: TopicChanges() for topic in topic_order}
    gone = {card_id: stamp for card_id, stamp in previous.items() if card_id not in current}
    by_text = {stamp.text: card_id for card_id, stamp in gone.items()}
    renames = []
    shipped = shipped or {}
    for card_id, stamp in current.items():
        changes = topics.setdefault(stamp.topic, TopicChanges())
        old = previous.get(card_id)
        last = shipped.get(card_id)
        if old is None and last and (last.mtime, last.digest) == (stamp.mtime, stamp.digest):
            changes.added.append(card_id)
        elif old is None and stamp.text in by_text:
            renames.append(Rename(by_text.pop(stamp.text), card_id))
            changes.renamed.append(card_id)
        elif old is None:
            changes.added.append(card_id)
        elif old.digest != stamp.digest or old.mtime != stamp.mtime:
            changes.updated.append(card_id)  # an import updates it
        else:
            changes.unchanged.append(card_id)
    renamed_from = {rename.old for rename in renames}
    for card_id, stamp in sorted(gone.items()):
        if card_id not in renamed_from:
            topics.setdefault(stamp.topic, TopicChanges()).removed.append(card_id)
    return Changes(topics, renames)
