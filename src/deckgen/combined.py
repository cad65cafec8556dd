"""The combined package: every topic's notes and cards in one collection, with one order
of new cards across topics.

The last combined collection is kept in the cache, with how it was deflated. When it is
still the one inside the combined package, a build replaces in it the rows of the topics
whose packages it wrote, and deflates again only the segments of the collection that
changed (deflate.py): a one-card edit rewrites a quarter of it, not all. Otherwise, and
when every topic changed, each topic's collection is copied into a new one."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from deckgen import collection, deflate, ids
from deckgen.atomic import temp_beside, write_atomically
from deckgen.model import Media
from deckgen.notetypes import NoteType
from deckgen.package import ENTRY, Deck, new_collection, now_ms, unique, zip_package

# Notes' rendered fields are often over 1 KiB, and leave much of a 4 KiB page unused: with
# 16 KiB pages the combined collection of a 10,000-card bank is copied together in 39 ms
# instead of 54 and is 15% smaller.
PAGE_SIZE = 16384


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


@dataclass(frozen=True)
class Kept:
    """Where the cache keeps the last combined collection, and the JSON file telling how
    it was deflated."""

    database: Path
    segments: Path


@dataclass(frozen=True)
class Written:
    """The combined package and its collection, in temporary files: the caller moves the
    package into place, then keeps the collection (keep())."""

    package: Path
    database: Path
    segments: deflate.Segments | None  # None: deflated whole, nothing to reuse


def write_combined(path: Path, parts: list[Part], notetypes: dict[str, NoteType],
                   notetype_mtimes: dict[str, int], kept: Kept) -> Written:
    """Write the package of every topic to a temporary file beside `path`."""
    decks = [(ids.deck_id(p.deck.topic_id), p.deck.name) for p in parts]
    database = temp_beside(path)
    try:
        with ExitStack() as files:  # the earlier files stay open: none can change under us
            earlier = _earlier(path, kept, database, files) if any(
                p.database is None for p in parts) else None
            if earlier is None or not _update(database, parts, decks, notetypes,
                                              notetype_mtimes):
                earlier = None
                database.write_bytes(b"")
                _build(database, parts, decks, notetypes, notetype_mtimes)
            with open(database, "rb") as source:
                package, segments = zip_package(
                    path, lambda zf: deflate.add_segmented(zf, ENTRY, source, earlier),
                    unique(m for p in parts for m in p.media))
        return Written(package, database, segments)
    except BaseException:
        database.unlink(missing_ok=True)
        raise


def keep(written: Written, kept: Kept) -> None:
    """Keep the collection of a combined package just moved into place, for the next
    build. The collection first: should the segments not follow, they describe another
    collection, and neither is used."""
    kept.database.parent.mkdir(parents=True, exist_ok=True)
    os.replace(written.database, kept.database)
    if written.segments is None:
        kept.segments.unlink(missing_ok=True)
        return
    s = written.segments
    write_atomically(kept.segments, json.dumps(
        {"segment": deflate.SEGMENT, "size": s.size, "crc": s.crc,
         "deflated": s.deflated}).encode())


def _build(database: Path, parts: list[Part], decks: list[tuple[int, str]],
           notetypes: dict[str, NoteType], notetype_mtimes: dict[str, int]) -> None:
    with new_collection(database, PAGE_SIZE) as conn:
        collection.create(conn, decks, notetypes, notetype_mtimes)
        next_id, position = now_ms(), 0
        for part in parts:
            next_id, position = _copy_rows(conn, _collection_of(part), next_id, position)


def _earlier(package: Path, kept: Kept, copy: Path, files: ExitStack) -> deflate.Earlier | None:
    """The collection inside the last combined package, copied to `copy`, and where
    its segments are, if the cache kept both and they are that package's; else None.
    The files are opened in `files`."""
    segments = _segments(kept.segments)
    if segments is None:
        return None
    try:
        zipped = files.enter_context(_open_plain(package))
        with zipfile.ZipFile(zipped) as zf:
            info = zf.getinfo(ENTRY)
        if (segments.size, segments.crc) != (info.file_size, info.CRC):
            return None
        data = files.enter_context(_open_plain(kept.database))
        if segments.tail > info.compress_size or not _copy_checked(data, copy, info):
            return None
        return deflate.Earlier(data, zipped, deflate.stream_offset(zipped, info), segments)
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def _segments(path: Path) -> deflate.Segments | None:
    try:
        value = json.loads(path.read_bytes())
        deflated = tuple((int(length), int(crc)) for length, crc in value["deflated"])
        if value["segment"] != deflate.SEGMENT:
            return None
        return deflate.Segments(int(value["size"]), int(value["crc"]), deflated)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _update(database: Path, parts: list[Part], decks: list[tuple[int, str]],
            notetypes: dict[str, NoteType], notetype_mtimes: dict[str, int]) -> bool:
    """Make the earlier combined collection in `database` hold `parts`: the rows of the
    topics written in this build (and of those gone) replaced, and every topic's new
    cards moved to their place in the order. False if that cannot be done well (a damaged
    collection, or one with a quarter of its pages free)."""
    written = {ids.deck_id(p.deck.topic_id) for p in parts if p.database is not None}
    current = {deck_id for deck_id, _ in decks}
    try:
        with closing(sqlite3.connect(database)) as conn:
            for pragma in ("journal_mode = OFF", "synchronous = OFF",
                           "secure_delete = ON"):  # no removed text ships in free pages
                conn.execute(f"PRAGMA {pragma}")
            collection.update_settings(conn, decks, notetypes, notetype_mtimes)
            counts = dict(conn.execute("SELECT did, count(DISTINCT nid) FROM cards GROUP BY did"))
            replaced = [(d,) for d in counts if d in written or d not in current]
            conn.executemany("DELETE FROM notes WHERE id IN"
                             " (SELECT nid FROM cards WHERE did = ?)", replaced)
            conn.executemany("DELETE FROM cards WHERE did = ?", replaced)
            (next_id,) = conn.execute("SELECT max(id) + 1 FROM (SELECT id FROM notes"
                                      " UNION ALL SELECT id FROM cards)").fetchone()
            next_id, position = next_id or now_ms(), 0
            for part, (deck_id, _) in zip(parts, decks):
                if part.database is not None:
                    next_id, position = _copy_rows(conn, part.database.read_bytes(), next_id,
                                                   position)
                elif deck_id in counts:
                    _move_new_cards(conn, deck_id, position)
                    position += counts[deck_id]
                else:
                    return False  # a topic the earlier collection does not hold
            conn.commit()
            (free,), (pages,) = (conn.execute(f"PRAGMA {n}").fetchone()
                                 for n in ("freelist_count", "page_count"))
            return free * 4 < pages
    except sqlite3.DatabaseError:
        return False


def _move_new_cards(conn: sqlite3.Connection, deck_id: int, position: int) -> None:
    """Give a deck's new cards positions from `position` on, in the order they have."""
    (start,) = conn.execute("SELECT min(due) FROM cards WHERE did = ?", (deck_id,)).fetchone()
    if start != position:
        conn.execute("UPDATE cards SET due = due + ? WHERE did = ?", (position - start, deck_id))


def _collection_of(part: Part) -> bytes:
    if part.database is not None:
        return part.database.read_bytes()
    with zipfile.ZipFile(part.package) as zf:
        info = zf.getinfo(ENTRY)
        copy = _copy_if_same(part.copy, info) if part.copy is not None else None
        return copy if copy is not None else zf.read(info)


def _copy_if_same(copy: Path, info: zipfile.ZipInfo) -> bytes | None:
    """The copy's bytes if it is a plain file with the size and CRC-32 the package's entry
    records; else None (missing, damaged, of another build)."""
    try:
        with _open_plain(copy) as f:
            data = f.read(info.file_size + 1)
    except OSError:
        return None
    return data if len(data) == info.file_size and deflate.crc32(data) == info.CRC else None


def _copy_checked(source: BinaryIO, target: Path, info: zipfile.ZipInfo) -> bool:
    """Copy `source` to `target` if it has the size and CRC-32 that the package's entry
    records (a piece at a time: no large buffer to allocate)."""
    crc = size = 0
    with open(target, "wb") as out:
        while size <= info.file_size and (piece := source.read(deflate.CHUNK)):
            crc, size = deflate.crc32(piece, crc), size + len(piece)
            out.write(piece)
    return (size, crc) == (info.file_size, info.CRC)


@contextmanager
def _open_plain(path: Path) -> Iterator[BinaryIO]:
    """`path` opened to read if it is a plain file (no link, pipe or device, which could
    block or change under the build); OSError if not."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    with open(os.open(path, flags | getattr(os, "O_BINARY", 0)), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{path}: not a plain file")
        yield f


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
