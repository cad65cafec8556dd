"""Rendered cards kept between builds, so a build renders only what changed.

Entries are keyed by a hash of everything a card's HTML depends on: its source
text, its topic's label, tags and folder, and the environment (deckgen's version,
the Markdown, pymdown-extensions, Pygments and genanki versions, and the note type
templates and CSS). Any upgrade or template change gives every card a new key,
so stale HTML is never served. Images a card uses are checked by size and mtime.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

from deckgen import __version__, resources
from deckgen.atomic import write_atomically
from deckgen.errors import Problem
from deckgen.model import Card, Note, Topic

CACHE_DIR = ".deckgen-cache"
RENDER_VERSION = 1  # bump when rendering changes in a way the versions below miss
LIBRARIES = ("markdown", "pymdown-extensions", "pygments", "genanki")


def environment() -> str:
    """One hash of everything outside the sources that shapes the output."""
    digest = hashlib.sha256()
    digest.update(repr((__version__, RENDER_VERSION, library_versions())).encode())
    for template in sorted(resources.TEMPLATES.iterdir(), key=lambda t: t.name):
        digest.update(template.name.encode() + template.read_bytes())
    return digest.hexdigest()[:20]


def library_versions() -> tuple[str, ...]:
    return tuple(metadata.version(name) for name in LIBRARIES)


def card_key(card: Card, topic: Topic, env: str) -> str:
    texts = [(t.where.line - card.where.line, t.source) if t else None
             for t in (card.front, card.back, card.cloze, card.extra)]
    content = (env, topic.label, topic.tags, str(topic.source.parent), card.id,
               card.tags, card.allow, texts)
    return hashlib.sha256(repr(content).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Rendered:
    """A rendered card; problem lines are relative to the card's first line."""

    note: Note
    problems: tuple[Problem, ...]
    images: tuple[tuple[str, int, int], ...]  # (path, size, mtime_ns) of each image used

    @classmethod
    def of(cls, card: Card, note: Note, problems: list[Problem]) -> Rendered:
        relative = tuple(replace(p, path="", line=p.line - card.where.line) for p in problems)
        return cls(note, relative, tuple(_stat(m.path) for m in note.media))

    def problems_at(self, card: Card) -> list[Problem]:
        return [replace(p, path=card.where.path, line=card.where.line + p.line)
                for p in self.problems]

    def still_valid(self) -> bool:
        return all(_stat(Path(path)) == (path, size, mtime) for path, size, mtime in self.images)


@dataclass(frozen=True)
class SourceFile:
    """A parsed source file, reused while its bytes are unchanged."""

    stat: tuple[int, int]  # (size, mtime_ns)
    digest: str
    topic: Topic | None
    problems: tuple[Problem, ...]


@dataclass
class Cache:
    sources: dict[str, SourceFile] = field(default_factory=dict)
    cards: dict[str, Rendered] = field(default_factory=dict)


def load_cache(out_dir: Path, cards_dir: Path) -> Cache:
    """The cache of the last build into `out_dir`; empty if missing or from elsewhere."""
    try:
        with open(out_dir / CACHE_DIR / "cards.pickle", "rb") as f:
            header, cached = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError,
            ImportError, TypeError):
        return Cache()
    return cached if header == (environment(), str(cards_dir)) else Cache()


def save_cache(out_dir: Path, cards_dir: Path, cached: Cache) -> None:
    folder = out_dir / CACHE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(((environment(), str(cards_dir)), cached), pickle.HIGHEST_PROTOCOL)
    write_atomically(folder / "cards.pickle", data)


def _stat(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), st.st_size, st.st_mtime_ns)
