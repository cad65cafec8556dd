"""Write .apkg files: a collection (collection.py) with the notes and cards inserted in
bulk and each note stamped with its own mtime.

A topic's package is written from its notes. The combined package is assembled in SQL
from the topics' collections: those written in this build and, for topics that did not
change, the collection inside the package the last build wrote (from the copy that build
kept, when its size and CRC-32 match the package's entry). So a build never holds the
rendered text of an unchanged topic."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import stat
import time
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from deckgen import cloze, collection, deflate, ids
from deckgen.atomic import temp_beside
from deckgen.errors import Problem, SourceErrors
from deckgen.model import Media, Note
from deckgen.notetypes import NoteType

# Notes' rendered fields are often over 1 KiB, and leave much of a 4 KiB page unused: with
# 16 KiB pages the combined collection of a 10,000-card bank is copied together in 39 ms
# instead of 54 and is 15% smaller. A small topic's collection would grow instead (a
# 20-card package by 3 KB): topic packages keep SQLite's default, 4 KiB.
COMBINED_PAGE_SIZE = 16384
TOPIC_PAGE_SIZE = 4096


@dataclass(frozen=True)
class Deck:
    topic_id: str
    name: str


@dataclass(frozen=True)
class DeckContent:
    deck: Deck
    notes: tuple[Note, ...]
    media: tuple[Media, ...] = ()  # the images its notes show, at their current paths


@dataclass(frozen=True)
class Part:
    """A topic of the combined package, and where its collection is: a scratch file
    written in this build, or else inside the topic's own package, of which the last
    build may have kept a copy (used only if it has the very bytes the package holds)."""

    deck: Deck
    database: Path | None
    package: Path
    media: tuple[Media, ...]
    copy: Path | None = None


def write_topic(path: Path, content: DeckContent, notetypes: dict[str, NoteType],
                notetype_mtimes: dict[str, int], note_mtimes: dict[str, int],
                ) -> tuple[Path, Path]:
    """Write a topic's package, and the collection inside it, to temporary files beside
    `path`. The caller moves the package into place once every package of the build is
    written, so a failure never leaves a mixed set, and uses the collection for the
    combined package."""
    database = temp_beside(path)
    try:
        with _open(database, TOPIC_PAGE_SIZE) as conn:
            _create(conn, [content.deck], notetypes, notetype_mtimes)
            _add_notes(conn, content, notetypes, note_mtimes, itertools.count(_now_ms()))
        return _zip(path, database, _unique(content.media)), database
    except BaseException:
        database.unlink(missing_ok=True)
        raise


def write_combined(path: Path, parts: list[Part], notetypes: dict[str, NoteType],
                   notetype_mtimes: dict[str, int]) -> Path:
    """Write the package of every topic to a temporary file beside `path`, copying each
    topic's notes and cards in SQL. New cards get one order across all topics."""
    database = temp_beside(path)
    try:
        with _open(database, COMBINED_PAGE_SIZE) as conn:
            _create(conn, [p.deck for p in parts], notetypes, notetype_mtimes)
            next_id, position = _now_ms(), 0
            for part in parts:
                next_id, position = _copy_rows(conn, _collection_of(part), next_id, position)
        return _zip(path, database, _unique(m for p in parts for m in p.media))
    finally:
        database.unlink(missing_ok=True)


def _collection_of(part: Part) -> bytes:
    if part.database is not None:
        return part.database.read_bytes()
    with zipfile.ZipFile(part.package) as zf:
        info = zf.getinfo("collection.anki2")
        copy = _copy_if_same(part.copy, info) if part.copy is not None else None
        return copy if copy is not None else zf.read(info)


def _copy_if_same(copy: Path, info: zipfile.ZipInfo) -> bytes | None:
    """The copy's bytes if it is a plain file (no link, pipe or device) with the size and
    CRC-32 the package's entry records; else None (missing, damaged, of another build)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        with open(os.open(copy, flags | getattr(os, "O_BINARY", 0)), "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size != info.file_size:
                return None
            data = f.read(info.file_size)
    except OSError:
        return None
    return data if len(data) == info.file_size and deflate.crc32(data) == info.CRC else None


def _unique(media) -> list[Media]:
    return sorted({m.name: m for m in media}.values(), key=lambda m: m.name)


def _now_ms() -> int:
    return time.time_ns() // 10**6  # row ids start at the build time, as Anki's own do


@contextmanager
def _open(database: Path, page_size: int) -> Iterator[sqlite3.Connection]:
    """A new collection in a scratch file: no journal, no fsync."""
    with closing(sqlite3.connect(database)) as conn:
        conn.execute(f"PRAGMA page_size = {page_size}")
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        yield conn
        conn.commit()


def _create(conn: sqlite3.Connection, decks: list[Deck], notetypes: dict[str, NoteType],
            mtimes: dict[str, int]) -> None:
    collection.create(conn, [(ids.deck_id(d.topic_id), d.name) for d in decks], notetypes,
                      mtimes)


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


def _copy_rows(conn: sqlite3.Connection, topic_database: bytes, next_id: int,
               position: int) -> tuple[int, int]:
    """Copy a topic's notes and cards, shifting their ids past those already copied and
    their new-card positions past the earlier topics' notes. The topic's collection is
    attached from memory: no scratch file to write and read back."""
    conn.execute("ATTACH DATABASE ':memory:' AS topic")
    conn.deserialize(topic_database, name="topic")
    try:
        low, high = conn.execute(
            "SELECT min(id), max(id) FROM (SELECT id FROM topic.notes"
            " UNION ALL SELECT id FROM topic.cards)").fetchone()
        if low is None:
            return next_id, position
        (count,) = conn.execute("SELECT count(*) FROM topic.notes").fetchone()
        shift = next_id - low
        conn.execute("INSERT INTO notes SELECT id + ?, guid, mid, mod, usn, tags, flds, sfld,"
                     " csum, flags, data FROM topic.notes", (shift,))
        conn.execute("INSERT INTO cards SELECT id + ?1, nid + ?1, did, ord, mod, usn, type,"
                     " queue, due + ?2, ivl, factor, reps, lapses, left, odue, odid, flags,"
                     " data FROM topic.cards", (shift, position))
        return high + shift + 1, position + count
    finally:
        conn.commit()
        conn.execute("DETACH DATABASE topic")


def _zip(path: Path, database: Path, media: list[Media]) -> Path:
    """The package, in a temporary file beside `path`."""
    target = temp_beside(path)
    try:
        # Deflated, unlike genanki's own writer: phones download and sync these.
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            deflate.add_file(zf, database, "collection.anki2")
            zf.writestr("media", json.dumps({str(i): m.name for i, m in enumerate(media)}))
            for i, m in enumerate(media):
                deflate.add_file(zf, m.path, str(i), m.digest)
    except deflate.Changed as changed:
        target.unlink(missing_ok=True)
        raise SourceErrors([Problem(str(changed.args[0]), 1, "changed while the build read"
                                    " it; run the build again")]) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target
