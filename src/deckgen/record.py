"""The build record: what the last build read and what it wrote, in one file.

It is written once, at the end of a build, atomically, from what that build actually
read: every input file under the cards folder by the SHA-256 of the bytes used (a hash,
not a size and mtime, so an edit saved while a build runs, or one that keeps the file's
size and mtime, is never missed), each package by its content fingerprint and the stat
of the file as written, the environment digest, an outline of each topic (enough to
report, lint and stamp it without reading it again), and the newest stamp each note was
shipped with. It lives in the output folder and is disposable: a record that is missing,
damaged or of another version means a full build, never an error.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from deckgen.environment import CACHE_DIR
from deckgen.errors import Problem
from deckgen.model import NoteInfo
from deckgen.sources import find_files, is_source
from deckgen.state import STATE_FILE, Shipped, ShippedStamp

RECORD = "record.json"
VERSION = 5  # of the file's layout: another means a full build
MAX_SOURCE_BYTES = 64 << 20  # a topic file (or the state file), read whole: 10,000 cards take 8 MB


@dataclass(frozen=True)
class TopicRecord:
    """One source file as the last build read it."""

    source: str  # path relative to the cards folder
    sha: str  # of the bytes read
    id: str
    deck: str
    notes: tuple[NoteInfo, ...]
    warnings: tuple[Problem, ...]  # this file's own, lines absolute

    @property
    def card_ids(self) -> list[str]:
        return [n.card_id for n in self.notes]

    @property
    def images(self) -> set[str]:
        return {path for note in self.notes for _, path in note.media}

    @functools.cached_property
    def json_line(self) -> bytes:
        """The outline as one line of JSON. One read from the record keeps the line it was
        read from: a build writes the outlines of unchanged topics back without encoding
        them again."""
        row = [self.source, self.sha, self.id, self.deck, list(self.notes),
               [[p.path, p.line, p.message, p.level, p.code] for p in self.warnings]]
        return _json_line(row)

    @classmethod
    def from_json_line(cls, text: bytes) -> TopicRecord:
        row = json.loads(text)
        if not (isinstance(row, list) and len(row) == 6 and isinstance(row[0], str)):
            raise ValueError("not a topic outline")
        source, sha, topic_id, deck, notes, warnings = row
        infos = tuple(NoteInfo(i, line, key, kind, d, t, q, tuple(map(tuple, m)), tuple(a),
                               tuple(g), tuple(c))
                      for i, line, key, kind, d, t, q, m, a, g, c in notes)  # JSON has lists
        record = cls(source, sha, topic_id, deck, infos, tuple(Problem(*w) for w in warnings))
        record.__dict__["json_line"] = text  # the cached property, known already
        return record


@dataclass
class Record:
    """The record as loaded. Its first line is what a build with nothing to do needs (read
    on every build); the rest, parsed only when there is work, is a line of shipped
    stamps, then one line per topic outline."""

    environment: str = ""
    inputs: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    outputs: dict[str, list] = field(default_factory=dict)  # package -> [fingerprint, stat]
    warnings: list[list] = field(default_factory=list)  # every warning of the build
    cards: list[list] = field(default_factory=list)  # [topic id, [card ids]], build order
    body: bytes = b""  # the lines after the first

    @functools.cached_property
    def _lines(self) -> list[bytes]:
        return self.body.split(b"\n")  # JSON escapes the newlines inside its strings

    @functools.cached_property
    def shipped(self) -> Shipped:
        """What the newest package built for each card held. Entries of the wrong shape
        are left out; those of two values, from before the kind was kept, get kind ""."""
        try:
            shipped = json.loads(self._lines[0])
        except ValueError:
            return {}
        if not isinstance(shipped, dict):
            return {}
        return {key: ShippedStamp(*value) for key, value in shipped.items()
                if isinstance(value, list) and len(value) in (2, 3)
                and type(value[0]) is int and all(isinstance(v, str) for v in value[1:])}

    def topic_records(self) -> dict[str, TopicRecord]:
        """By source path; none if the record was damaged."""
        try:
            return {r.source: r for r in map(TopicRecord.from_json_line, self._lines[1:])}
        except (ValueError, TypeError, KeyError, IndexError):
            return {}

    def problems(self) -> list[Problem] | None:
        """The last build's warnings, or None if the record was damaged."""
        try:
            return [Problem(*w) for w in self.warnings]
        except TypeError:
            return None


def fingerprint(cards_dir: Path, out_dir: Path | None = None,
                ) -> tuple[dict[str, bytes | str], list[Problem]]:
    """Every file under the cards folder (but not in `out_dir`) by relative path: YAML
    sources and the state file as their bytes, other files (images) as the SHA-256 of their
    bytes, "" when unreadable; and what could not be read."""
    paths, problems = find_files(cards_dir, skip=out_dir)
    files: dict[str, bytes | str] = {}
    for path in paths:
        rel = path.relative_to(cards_dir).as_posix()
        try:
            with open(path, "rb") as f:
                if not (is_source(rel) or rel == STATE_FILE):
                    files[rel] = hashlib.file_digest(f, "sha256").hexdigest()  # a piece at a time
                elif (size := os.fstat(f.fileno()).st_size) > MAX_SOURCE_BYTES:
                    files[rel] = ""
                    problems.append(Problem(str(path), 1, (
                        f"file too large ({size >> 20} MiB; a topic or state file may have"
                        f" at most {MAX_SOURCE_BYTES >> 20} MiB)")))
                else:
                    files[rel] = f.read()
        except OSError:
            files[rel] = ""  # the loader reports it if it is a source
    return files, problems


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digests(files: dict[str, bytes | str]) -> dict[str, str]:
    return {rel: sha(v) if isinstance(v, bytes) else v for rel, v in files.items()}


def load(out_dir: Path) -> Record:
    """The last build's record, or an empty one."""
    try:
        with open(out_dir / CACHE_DIR / RECORD, "rb") as f:
            head, body = json.loads(f.readline()), f.read()
        if head.get("version") != VERSION:
            return Record()
        record = Record(head["environment"], head["inputs"], head["outputs"],
                        head["warnings"], head["cards"], body)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return Record()
    shapes = [(record.inputs, dict), (record.outputs, dict), (record.warnings, list),
              (record.cards, list)]
    return record if all(isinstance(v, kind) for v, kind in shapes) else Record()


def save(out_dir: Path, record: Record, topics: list[TopicRecord],
         shipped: Shipped) -> None:
    from deckgen.atomic import write_atomically

    head = {"version": VERSION, "environment": record.environment, "inputs": record.inputs,
            "outputs": record.outputs, "warnings": record.warnings,
            "cards": [[t.id, t.card_ids] for t in topics]}
    lines = [_json_line(head), _json_line(shipped), *(t.json_line for t in topics)]
    (out_dir / CACHE_DIR).mkdir(parents=True, exist_ok=True)
    write_atomically(out_dir / CACHE_DIR / RECORD, b"\n".join(lines))


def _json_line(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def stat_of(path: Path) -> list[int] | None:
    """Size and mtime of a package, or None for one that is gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def is_as_written(path: Path, output: list | None) -> bool:
    """Whether `path` is still the file the last build wrote there."""
    try:
        return stat_of(path) == output[1]  # type: ignore[index]
    except (TypeError, IndexError, KeyError):
        return False
