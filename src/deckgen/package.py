"""Write a topic's .apkg file: a collection (collection.py) with the notes and cards
inserted in bulk and each note stamped with its own mtime. The combined package is made
from the topics' collections (combined.py)."""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from deckgen import cloze, collection, deflate, ids
from deckgen.atomic import temp_beside
from deckgen.model import Media, Note
from deckgen.notetypes import NoteType

# SQLite's default. 16 KiB pages, which suit the combined collection (combined.py), would
# make a small topic's package larger (a 20-card one by 3 KB).
TOPIC_PAGE_SIZE = 4096
ENTRY = "collection.anki2"  # the collection's name inside a package
T = TypeVar("T")


@dataclass(frozen=True)
class Deck:
    topic_id: str
    name: str


@dataclass(frozen=True)
class DeckContent:
    deck: Deck
    notes: tuple[Note, ...]
    media: tuple[Media, ...] = ()  # the images its notes show, at their current paths


def write_topic(path: Path, content: DeckContent, notetypes: dict[str, NoteType],
                notetype_mtimes: dict[str, int], note_mtimes: dict[str, int],
                ) -> tuple[Path, Path]:
    """Write a topic's package, and the collection inside it, to temporary files beside
    `path`. The caller moves the package into place once every package of the build is
    written, so a failure never leaves a mixed set, and uses the collection for the
    combined package."""
    database = temp_beside(path)
    try:
        with new_collection(database, TOPIC_PAGE_SIZE) as conn:
            deck = content.deck
            collection.create(conn, [(ids.deck_id(deck.topic_id), deck.name)], notetypes,
                              notetype_mtimes)
            _add_notes(conn, content, notetypes, note_mtimes, itertools.count(now_ms()))
        package, _ = zip_package(path, lambda zf: deflate.add_file(zf, database, ENTRY),
                                 unique(content.media))
        return package, database
    except BaseException:
        database.unlink(missing_ok=True)
        raise


def unique(media) -> list[Media]:
    """Each image once, by name."""
    return sorted({m.name: m for m in media}.values(), key=lambda m: m.name)


def now_ms() -> int:
    return time.time_ns() // 10**6  # row ids start at the build time, as Anki's own do


@contextmanager
def new_collection(database: Path, page_size: int) -> Iterator[sqlite3.Connection]:
    """A new collection in a scratch file: no journal, no fsync."""
    with closing(sqlite3.connect(database)) as conn:
        conn.execute(f"PRAGMA page_size = {page_size}")
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        yield conn
        conn.commit()


def _add_notes(conn: sqlite3.Connection, content: DeckContent, notetypes: dict[str, NoteType],
               note_mtimes: dict[str, int], row_ids: Iterator[int]) -> None:
    deck_id = ids.deck_id(content.deck.topic_id)
    notes, cards = [], []
    for note in content.notes:
        notetype = notetypes[note.notetype]
        _guard(note, notetype)
        note_id, mtime = next(row_ids), note_mtimes[note.card_id]
        notes.append((note_id, note.guid, notetype.id, mtime, -1,
                      f" {' '.join(note.tags)} ", "\x1f".join(note.fields), note.fields[0],
                      0, 0, ""))
        position = len(notes) - 1  # new cards come in note order, as Anki numbers them
        cards += [(next(row_ids), note_id, deck_id, ordinal, mtime, -1, 0, 0, position,
                   0, 0, 0, 0, 0, 0, 0, 0, "") for ordinal in card_ordinals(note)]
    conn.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", notes)
    conn.executemany("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", cards)


def _guard(note: Note, notetype: NoteType) -> None:
    """What genanki checks, since deckgen writes the rows itself: a note with the wrong
    number of fields, or a card ordinal below 0, makes Anki refuse the whole package."""
    if len(note.fields) != len(notetype.fields):
        raise ValueError(f"note '{note.card_id}' has {len(note.fields)} fields;"
                         f" its note type has {len(notetype.fields)}")
    ordinals = card_ordinals(note)
    if not ordinals or ordinals[0] < 0:
        raise ValueError(f"note '{note.card_id}' has no card, or a card ordinal below 0")


def card_ordinals(note: Note) -> list[int]:
    """Anki's card ordinals (from 0): one per cloze number, as the cloze parser finds them."""
    if note.notetype != "cloze":
        return [0]
    return sorted(n - 1 for n in cloze.numbers(note.fields[0]))


def zip_package(path: Path, add_collection: Callable[[zipfile.ZipFile], T],
                media: list[Media]) -> tuple[Path, T]:
    """The package, in a temporary file beside `path`, and what add_collection(), which
    adds its collection, returned."""
    target = temp_beside(path)
    try:
        # Deflated, unlike genanki's own writer: phones download and sync these.
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            added = add_collection(zf)
            zf.writestr("media", json.dumps({str(i): m.name for i, m in enumerate(media)}))
            for i, m in enumerate(media):
                deflate.add_file(zf, m.path, str(i))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, added
