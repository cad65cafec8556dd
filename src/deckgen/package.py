"""Write .apkg files with genanki, stamping each note with its own mtime."""

from __future__ import annotations

import itertools
import json
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import genanki

from deckgen import ids
from deckgen.atomic import temp_beside
from deckgen.model import Media, Note, Topic
from deckgen.notetypes import NoteType


@dataclass(frozen=True)
class DeckContent:
    topic: Topic
    notes: tuple[Note, ...]


class _StampedModel(genanki.Model):
    def __init__(self, notetype: NoteType, mtime: int):
        super().__init__(
            notetype.id, notetype.name,
            fields=[{"name": name} for name in notetype.fields],
            templates=[{"name": notetype.card_name, "qfmt": notetype.front, "afmt": notetype.back}],
            css=notetype.css,
            model_type=genanki.Model.CLOZE if notetype.is_cloze else genanki.Model.FRONT_BACK,
        )
        self.mtime = mtime

    def to_json(self, timestamp: float, deck_id: int) -> dict:
        return super().to_json(self.mtime, deck_id)


class _StampedNote(genanki.Note):
    def __init__(self, model: _StampedModel, note: Note, mtime: int):
        super().__init__(model=model, fields=list(note.fields), tags=list(note.tags),
                         guid=note.guid)
        self.mtime = mtime

    def write_to_db(self, cursor, timestamp: float, deck_id: int, id_gen) -> None:
        super().write_to_db(cursor, self.mtime, deck_id, id_gen)


def write_package(path: Path, decks: Iterable[DeckContent], notetypes: dict[str, NoteType],
                  notetype_mtimes: dict[str, int], note_mtimes: dict[str, int]) -> Path:
    """Write the package to a temporary file beside `path` and return it.

    The caller moves it into place once every package of the build is written,
    so a failure never leaves a half-written or mixed set of outputs.
    """
    models = {key: _StampedModel(nt, notetype_mtimes[key]) for key, nt in notetypes.items()}
    genanki_decks, media = [], {}
    for content in decks:
        deck = genanki.Deck(ids.deck_id(content.topic.id), content.topic.deck)
        for note in content.notes:
            deck.add_note(_StampedNote(models[note.notetype], note, note_mtimes[note.card_id]))
            media.update((m.name, m) for m in note.media)
        genanki_decks.append(deck)
    tmp = temp_beside(path)
    try:
        _write_zip(tmp, genanki.Package(genanki_decks), sorted(media.values(),
                                                               key=lambda m: m.name))
    except BaseException:
        tmp.unlink()
        raise
    return tmp


def _write_zip(target: Path, package: genanki.Package, media: list[Media]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        db_path = Path(scratch) / "collection.anki2"
        conn = sqlite3.connect(db_path)
        try:
            # Row ids start at the build time, as Anki's own do; notes are matched by guid.
            package.write_to_db(conn.cursor(), time.time(), itertools.count(time.time_ns() // 10**6))
            conn.commit()
        finally:
            conn.close()
        # Deflated, unlike genanki's own writer: phones download and sync these.
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(db_path, "collection.anki2")
            zf.writestr("media", json.dumps({str(i): m.name for i, m in enumerate(media)}))
            for i, m in enumerate(media):
                zf.write(m.path, str(i))
