"""Rendered cards kept between builds, so a build renders only what changed.

One shard a source file, holding its rendered cards by key; beside it, the cards as read
from the file, by their text, so that the next build parses only the texts it has not
seen (loader.read_topic_by_card). A key is a hash of everything a card's HTML depends
on: its source text, its topic's label (the file's path in the cards folder) and tags,
and the environment (deckgen's own files, the note type templates and CSS, and the
installed Markdown, pymdown-extensions, Pygments, nh3 and PyYAML). An upgrade or a
template change gives every card a new key, so stale HTML is never served. A cached card also
names the images it shows with their hashes, and is reused only while they match.

The cache is disposable: a shard that is missing, damaged or made by other code is
simply not used, and its cards are rendered again. Each shard starts with a header line
that is checked before the rest is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from deckgen.atomic import replacing
from deckgen.errors import Problem
from deckgen.model import Card, Compact, Note, Topic

if TYPE_CHECKING:
    from deckgen.loader import KnownCards

VERSION = 1


def card_key(card: Card, topic: Topic, env: str) -> str:
    texts = [(t.where.line - card.where.line, t.source) if t else None
             for t in (card.front, card.back, card.cloze, card.extra)]
    content = (env, topic.label, topic.tags, card.id,
               card.tags, card.allow, texts)
    return hashlib.sha256(repr(content).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Rendered(Compact):
    """A rendered card; problem lines are relative to the card's first line."""

    note: Note
    problems: tuple[Problem, ...]
    images: tuple[tuple[str, str], ...] = ()  # (path, sha256) of each image it shows

    @classmethod
    def of(cls, card: Card, note: Note, problems: list[Problem]) -> Rendered:
        return cls(note, tuple(replace(p, path="", line=p.line - card.where.line)
                               for p in problems))

    def with_images(self, inputs: dict[str, str]) -> Rendered:
        """Name the images with the hashes the build read them as."""
        return replace(self, images=tuple((m.source, inputs.get(m.source, ""))
                                          for m in self.note.media))

    def problems_at(self, card: Card) -> list[Problem]:
        return [replace(p, path=card.where.path, line=card.where.line + p.line)
                for p in self.problems]

    def images_match(self, inputs: dict[str, str]) -> bool:
        """Whether every image the card shows still has the content it was rendered with."""
        return all(inputs.get(path) == digest for path, digest in self.images)


Shard = dict[str, Rendered]


def shard_path(folder: Path, source: str) -> Path:
    return folder / f"{hashlib.sha256(source.encode()).hexdigest()[:16]}.cards"


def load_shard(folder: Path, source: str, env: str) -> Shard:
    """The rendered cards of one source file, or none."""
    shard = _load(shard_path(folder, source), source, env)
    if not isinstance(shard, dict) or not all(isinstance(r, Rendered) for r in shard.values()):
        return {}
    return shard


def save_shard(folder: Path, source: str, env: str, shard: Shard) -> None:
    _save(shard_path(folder, source), source, env, shard)


def _load(path: Path, source: str, env: str) -> object:
    """What _save() wrote there, if its header says it is for `source` and `env`."""
    try:
        with open(path, "rb") as f:
            if json.loads(f.readline()) != _header(source, env):
                return None
            return pickle.load(f)
    except Exception:
        return None


def _save(path: Path, source: str, env: str, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(json.dumps(_header(source, env)).encode() + b"\n")
        pickle.dump(value, f, pickle.HIGHEST_PROTOCOL)


def load_known_cards(folder: Path, source: str, env: str) -> KnownCards:
    """The cards read from one source file by their text, or none. (The reader checks
    the shape of each entry it uses: read_topic_by_card.)"""
    known = _load(_known_cards_path(folder, source), source, env)
    return known if isinstance(known, dict) else {}


def save_known_cards(folder: Path, source: str, env: str, known: KnownCards) -> None:
    _save(_known_cards_path(folder, source), source, env, known)


def _known_cards_path(folder: Path, source: str) -> Path:
    return shard_path(folder, source).with_suffix(".known")


def prune(folder: Path, sources: list[str]) -> None:
    """Remove the shards (and known cards) of sources that are gone."""
    keep = {shard_path(folder, s).stem for s in sources}
    for path in [*folder.glob("*.cards"), *folder.glob("*.known")]:
        if path.stem not in keep:
            path.unlink(missing_ok=True)


def _header(source: str, env: str) -> list:
    return ["deckgen cache", VERSION, env, source]
