"""Write .apkg files: genanki's collection schema, note types and decks, with the notes
and cards inserted in bulk and each note stamped with its own mtime."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA

from deckgen import ids
from deckgen.atomic import temp_beside
from deckgen.model import Media, Note, Topic
from deckgen.notetypes import NoteType

CLOZE_NUMBER = re.compile(r"{{c(\d+)::", re.DOTALL)


@dataclass(frozen=True)
class DeckContent:
    topic: Topic
    notes: tuple[Note, ...]


class _StampedModel(genanki.Model):
    def __init__(self, notetype: NoteType, mtime: int):
        super().__init__(
            notetype.id, notetype.name,
            fields=[{"name": name} for name in notetype.fields],
            templates=[{"name": notetype.card_name, "qfmt": notetype.front,
                        "afmt": notetype.back}],
            css=notetype.css,
            model_type=genanki.Model.CLOZE if notetype.is_cloze else genanki.Model.FRONT_BACK,
        )
        self.mtime = mtime

    def to_json(self, timestamp: float, deck_id: int) -> dict:
        return super().to_json(self.mtime, deck_id)


def write_package(path: Path, decks: Iterable[DeckContent], notetypes: dict[str, NoteType],
                  notetype_mtimes: dict[str, int], note_mtimes: dict[str, int]) -> Path:
    """Write the package to a temporary file beside `path` and return it.

    The caller moves it into place once every package of the build is written,
    so a failure never leaves a half-written or mixed set of outputs.
    """
    decks = list(decks)
    models = {key: _StampedModel(nt, notetype_mtimes[key]) for key, nt in notetypes.items()}
    media = sorted({m.name: m for d in decks for n in d.notes for m in n.media}.values(),
                   key=lambda m: m.name)
    tmp, database = temp_beside(path), temp_beside(path.with_suffix(".anki2"))
    try:
        _write_collection(database, decks, models, note_mtimes)
        _write_zip(tmp, database, media)
    except BaseException:
        tmp.unlink()
        raise
    finally:
        database.unlink()
    return tmp


def _write_collection(database: Path, decks: list[DeckContent],
                      models: dict[str, _StampedModel], note_mtimes: dict[str, int]) -> None:
    """The package's SQLite collection. A scratch file: no journal, no fsync."""
    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        cursor = conn.cursor()
        cursor.executescript(APKG_SCHEMA)
        cursor.executescript(APKG_COL)
        # Row ids start at the build time, as Anki's own do; notes are matched by guid.
        row_ids = itertools.count(time.time_ns() // 10**6)
        notes, cards = [], []
        for content in decks:
            deck = genanki.Deck(ids.deck_id(content.topic.id), content.topic.deck)
            for model in models.values():
                deck.add_model(model)
            deck.write_to_db(cursor, 0, row_ids)  # deck and note types; notes follow
            for note in content.notes:
                note_id, mtime = next(row_ids), note_mtimes[note.card_id]
                notes.append((note_id, note.guid, models[note.notetype].model_id, mtime, -1,
                              f" {' '.join(note.tags)} ", "\x1f".join(note.fields),
                              note.fields[0], 0, 0, ""))
                cards += [(next(row_ids), note_id, deck.deck_id, ordinal, mtime, -1, 0, 0,
                           len(cards), 0, 0, 0, 0, 0, 0, 0, 0, "")
                          for ordinal in _card_ordinals(note)]
        cursor.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", notes)
        cursor.executemany("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           cards)
        conn.commit()
    finally:
        conn.close()


def _card_ordinals(note: Note) -> list[int]:
    if note.notetype != "cloze":
        return [0]
    return sorted({int(n) - 1 for n in CLOZE_NUMBER.findall(note.fields[0])})


def _write_zip(target: Path, database: Path, media: list[Media]) -> None:
    # Deflated, unlike genanki's own writer: phones download and sync these. Level 1
    # compresses within 2% of the default in half the time.
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.write(database, "collection.anki2")
        zf.writestr("media", json.dumps({str(i): m.name for i, m in enumerate(media)}))
        for i, m in enumerate(media):
            zf.write(m.path, str(i))
