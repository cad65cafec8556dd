"""Rendered cards kept between builds, so a build renders only what changed.

Entries are keyed by a hash of everything a card's HTML depends on: its source
text, its topic's label, tags and folder, and the environment (deckgen's own files,
note type templates and CSS included, and the installed Markdown, pymdown-extensions,
Pygments and genanki). Any upgrade or template change gives every card a new key,
so stale HTML is never served. Images a card uses are checked by size and mtime.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path

from deckgen import environment
from deckgen.atomic import replacing
from deckgen.environment import CACHE_DIR, file_stat
from deckgen.errors import Problem
from deckgen.model import Card, Compact, Note, Topic


def card_key(card: Card, topic: Topic, env: str) -> str:
    texts = [(t.where.line - card.where.line, t.source) if t else None
             for t in (card.front, card.back, card.cloze, card.extra)]
    content = (env, topic.label, topic.tags, str(topic.source.parent), card.id,
               card.tags, card.allow, texts)
    return hashlib.sha256(repr(content).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Rendered(Compact):
    """A rendered card; problem lines are relative to the card's first line."""

    note: Note
    problems: tuple[Problem, ...]
    images: tuple[tuple[str, int, int], ...]  # (path, size, mtime_ns) of each image used

    @classmethod
    def of(cls, card: Card, note: Note, problems: list[Problem]) -> Rendered:
        relative = tuple(replace(p, path="", line=p.line - card.where.line) for p in problems)
        return cls(note, relative, tuple(file_stat(m.path) for m in note.media))

    def problems_at(self, card: Card) -> list[Problem]:
        return [replace(p, path=card.where.path, line=card.where.line + p.line)
                for p in self.problems]

    def still_valid(self) -> bool:
        return all(file_stat(Path(path)) == (path, size, mtime)
                   for path, size, mtime in self.images)


@dataclass(frozen=True)
class SourceFile(Compact):
    """A parsed source file, reused while its bytes are unchanged."""

    stat: tuple[int, int]  # (size, mtime_ns)
    digest: str
    topic: Topic | None
    problems: tuple[Problem, ...]
    keys: tuple[str, ...]  # card_key of each card, in order


@dataclass
class Cache:
    """Rendered cards by key. Their HTML fields are loaded only for the sources that need
    them (an edited file, a package to rewrite): elsewhere notes are stubs with fields ()."""

    sources: dict[str, SourceFile] = field(default_factory=dict)
    cards: dict[str, Rendered] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)  # sources whose shards must be saved
    folder: Path | None = None  # where the shards are
    header: tuple = ()

    def fill(self, source: str) -> None:
        """Give the cards of `source` their rendered fields, from its shard."""
        entry = self.sources.get(source)
        if entry is None or self.folder is None:
            return
        stubs = [key for key in entry.keys if key in self.cards and not self.cards[key].note.fields]
        if not stubs:
            return
        fields = _load(_shard(self.folder, Path(source), "html"), self.header) or {}
        for key in stubs:
            if key in fields:
                rendered = self.cards[key]
                self.cards[key] = replace(rendered, note=replace(rendered.note, fields=fields[key]))
            else:
                del self.cards[key]  # no text to be had: render it again

    def successor(self) -> Cache:
        """An empty cache for the next build, able to fill from the same shards."""
        return Cache(folder=self.folder, header=self.header)


def load_cache(out_dir: Path, cards_dir: Path, sources: list[Path]) -> Cache:
    """What the last build into `out_dir` left for these sources (a shard a source, so an
    edit rewrites one); nothing where missing, or made for other cards or by other code."""
    header = (environment.digest(), str(cards_dir))
    cached = Cache(folder=out_dir / CACHE_DIR / "cards", header=header)
    for source in sources:
        if not _shard(cached.folder, source, "html").exists():
            continue
        loaded = _load(_shard(cached.folder, source, "meta"), header)
        if loaded is not None:
            entry, cards = loaded
            cached.sources[str(source)] = entry
            cached.cards.update(cards)
    return cached


def save_cache(cached: Cache) -> None:
    """Save the shards of changed sources (each card's note must have its fields)."""
    assert cached.folder is not None
    cached.folder.mkdir(parents=True, exist_ok=True)
    shards = set()
    for source, entry in cached.sources.items():
        meta, html = _shard(cached.folder, Path(source), "meta"), _shard(cached.folder,
                                                                          Path(source), "html")
        shards |= {meta, html}
        if source in cached.changed or not meta.exists() or not html.exists():
            cards = {key: cached.cards[key] for key in entry.keys}
            _dump(html, (cached.header, {k: r.note.fields for k, r in cards.items()}))
            _dump(meta, (cached.header, (_outline(entry), {
                k: replace(r, note=replace(r.note, fields=())) for k, r in cards.items()})))
    for stale in set(cached.folder.glob("*.pickle")) - shards:
        stale.unlink()


def _outline(entry: SourceFile) -> SourceFile:
    """Cached topics keep card outlines: a source read again is parsed afresh anyway."""
    if entry.topic is None:
        return entry
    cards = tuple(card.outline() for card in entry.topic.cards)
    return replace(entry, topic=replace(entry.topic, cards=cards))


def _shard(folder: Path, source: Path, part: str) -> Path:
    name = hashlib.sha256(str(source).encode()).hexdigest()[:16]
    return folder / f"{name}.{part}.pickle"


def _load(path: Path, header: tuple):
    try:
        with open(path, "rb") as f:
            shard_header, data = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError,
            ImportError, TypeError):
        return None
    return data if shard_header == header else None


def _dump(target: Path, data: object) -> None:
    with replacing(target) as tmp, open(tmp, "wb") as f:  # streamed: no copy in memory
        pickle.dump(data, f, pickle.HIGHEST_PROTOCOL)
