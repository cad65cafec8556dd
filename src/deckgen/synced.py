"""What deckgen last shipped into a collection, per card: its deck and its tags, kept in
the collection's own config (so it travels with the collection, its backups and its
AnkiWeb copies, and a scratch copy for a dry run carries it too).

`sync` needs it for what the collection alone cannot tell: which of a note's tags came
from deckgen (the rest are the learner's, kept on update), which deck a card was shipped
to (a card still there is moved when its topic changes), and which removed cards this
bank ever shipped (only their notes may be pruned). One entry per cards folder, so two
banks synced into one collection never prune each other's notes; a folder renamed or
moved finds its entry again by the cards it shipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anki.collection import Collection

    from deckgen.shipment import Shipment

VERSION = 1


@dataclass
class Record:
    key: str
    folder: str
    cards: dict[str, list] = field(default_factory=dict)  # card id: [deck name, tags]
    saved: dict | None = None  # as loaded: saved again only if it changed
    moved_from: str | None = None  # the key it was found under: the folder was moved

    @classmethod
    def load(cls, col: Collection, cards_dir: Path, card_ids: Iterable[str] = ()) -> Record:
        """The record of this cards folder; or, if it has none, that of a folder which is
        gone and most of whose cards are in `card_ids`: this bank before it was renamed or
        moved, taken over whole. Another bank that shares a few card ids takes nothing."""
        folder = str(cards_dir.resolve())
        key = "deckgen:" + hashlib.sha256(folder.encode()).hexdigest()[:16]
        data = col.get_config(key, None)
        if _valid(data):
            return cls(key, folder, dict(data["cards"]), data)
        ids = set(card_ids)
        for other, value in col.all_config().items():
            if (other.startswith("deckgen:") and _valid(value) and value["cards"]
                    and not Path(str(value.get("cards_folder", ""))).exists()
                    and 2 * len(ids.intersection(value["cards"])) > len(value["cards"])):
                return cls(key, folder, dict(value["cards"]), None, other)
        return cls(key, folder)  # unknown: every tag on a note counts as the learner's

    def tags(self, card_id: str) -> list[str]:
        return self.cards.get(card_id, [None, []])[1]

    def decks(self) -> dict[str, str]:
        return {card_id: deck for card_id, (deck, _) in self.cards.items()}

    def update(self, shipment: Shipment, gone, unmoved: dict[str, str]) -> None:
        """Record this shipment; forget the cards whose notes were deleted (`gone`), and
        remember the other removed ones, so a later --prune still knows them. A card
        left in its old deck (`unmoved`: card id -> that deck) is recorded there, so a
        later --move-cards still moves it."""
        for card_id in gone:
            self.cards.pop(card_id, None)
        for card_id, shipped in shipment.notes.items():
            deck = unmoved.get(card_id, shipment.decks[shipped.deck_id])
            self.cards[card_id] = [deck, list(shipped.tags)]

    def save(self, col: Collection) -> None:
        data = {"version": VERSION, "cards_folder": self.folder, "cards": self.cards}
        if data != self.saved:
            col.set_config(self.key, data)
        if self.moved_from is not None:
            col.remove_config(self.moved_from)


def _valid(data: object) -> bool:
    return (isinstance(data, dict) and data.get("version") == VERSION
            and isinstance(data.get("cards"), dict))
