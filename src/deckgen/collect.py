"""Sources to rendered notes, reusing the cache and rendering the rest in parallel."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from deckgen import environment
from deckgen.cache import Cache, Rendered, SourceFile, card_key
from deckgen.errors import DeckgenError, Problem, os_reason
from deckgen.lints import bank_problems, card_problems
from deckgen.loader import cross_file_problems, read_topic
from deckgen.model import Card, Note, Topic
from deckgen.sources import find_sources

if TYPE_CHECKING:
    from deckgen.helper import Helper

PARALLEL_FROM = 400  # fewer cards than this render faster in one process
CHUNK = 100

Advance = Callable[[int], None]  # told how many more cards are rendered
Progress = Callable[[int], AbstractContextManager[Advance]]  # given the number to render


@contextmanager
def quietly(total: int) -> Iterator[Advance]:
    yield lambda done: None


@dataclass
class Collected:
    rendered: list[tuple[Topic, list[Note]]]
    problems: list[Problem]
    cache: Cache  # what the next build can reuse
    rendered_now: int  # cards rendered in this run, not taken from the cache


def collect(cards_dir: Path, old: Cache, progress: Progress = quietly,
            helper: Helper | None = None) -> Collected:
    new = old.successor()
    topics, keys, problems = _read_sources(cards_dir, old, new, helper)
    todo = _reuse_rendered(cards_dir, topics, keys, old, new)
    with progress(len(todo)) as advance:
        for key, result in _render_all(cards_dir, todo, advance, helper):
            new.cards[key] = result

    rendered = []
    for topic in topics:
        results = [new.cards[keys[id(card)]] for card in topic.cards]
        rendered.append((topic, [r.note for r in results]))
        for card, result in zip(topic.cards, results):
            problems += result.problems_at(card)
    if not any(p.level == "error" and not p.code for p in problems):  # sources are sound
        problems += bank_problems(rendered, cards_dir)
    return Collected(rendered, sorted(problems), new, len(todo))


def _read_sources(cards_dir: Path, old: Cache, new: Cache, helper: Helper | None,
                  ) -> tuple[list[Topic], dict[int, str], list[Problem]]:
    """The topics, each card's cache key (by id() of the card), and the loader's problems."""
    topics, keys = [], {}
    env = environment.digest()
    paths, problems = find_sources(cards_dir)  # an unreadable file is an error, not a removal
    for path in paths:
        try:
            source = _read(cards_dir, path, old, env, helper)
        except OSError as e:
            problems.append(Problem(str(path), 1, f"cannot read this topic file"
                                                  f" ({os_reason(e)}); fix it or remove it"))
            continue
        new.sources[str(path)] = source
        if source is not old.sources.get(str(path)):
            new.changed.add(str(path))
            old.fill(str(path))  # its unchanged cards will be saved again, text and all
        problems += source.problems
        if source.topic is not None:
            topics.append(source.topic)
            keys.update(zip(map(id, source.topic.cards), source.keys))
    return topics, keys, problems + cross_file_problems(topics)


def _reuse_rendered(cards_dir: Path, topics: list[Topic], keys: dict[int, str], old: Cache,
                    new: Cache) -> list[tuple[Card, Topic, str]]:
    """Take every card the cache still holds; return the rest, to render."""
    todo = []
    for topic in topics:
        alone = replace(topic, cards=())  # what workers need of the topic
        hits = _valid_hits(old, [keys[id(card)] for card in topic.cards])
        if len(hits) < len(topic.cards):
            new.changed.add(str(topic.source))
            old.fill(str(topic.source))  # the cards kept are saved again, text and all
            hits = _valid_hits(old, list(hits))
        misses = []  # (index, key) of the cards to render
        for i, card in enumerate(topic.cards):
            key = keys[id(card)]
            if (hit := hits.get(key)) is not None:
                new.cards[key] = hit
            else:
                misses.append((i, key))
        cards = topic.cards
        if any(cards[i].is_outline for i, _ in misses):  # an image changed, not the source
            cards = _cards_with_text(cards_dir, topic)
        todo += [(cards[i], alone, key) for i, key in misses]
    return todo


def _cards_with_text(cards_dir: Path, topic: Topic) -> tuple[Card, ...]:
    """A cached topic's cards in full: its file is unchanged, so reading it again gives
    the same cards in the same order."""
    full, _ = read_topic(cards_dir, topic.source)
    if full is None or [c.id for c in full.cards] != [c.id for c in topic.cards]:
        raise DeckgenError(f"{topic.source}: changed while the build ran; run it again")
    return full.cards


def _valid_hits(cached: Cache, keys: list[str]) -> dict[str, Rendered]:
    """The cached cards among `keys` whose images have not changed since."""
    hits = {key: cached.cards.get(key) for key in keys}
    return {key: hit for key, hit in hits.items() if hit is not None and hit.still_valid()}


def _read(cards_dir: Path, path: Path, old: Cache, env: str, helper: Helper | None,
          ) -> SourceFile:
    """The parsed file, from the cache while its bytes are unchanged."""
    st = path.stat()
    stat = (st.st_size, st.st_mtime_ns)
    cached = old.sources.get(str(path))
    if cached is not None and cached.stat == stat:
        return cached
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if cached is not None and cached.digest == digest:
        return replace(cached, stat=stat)
    parsed = helper.parsed(path, digest) if helper else None
    topic, problems = parsed or read_topic(cards_dir, path, raw)
    keys = tuple(card_key(card, topic, env) for card in topic.cards) if topic else ()
    return SourceFile(stat, digest, topic, tuple(problems), keys)


def _render_all(cards_dir: Path, jobs: list[tuple[Card, Topic, str]], advance: Advance,
                helper: Helper | None) -> Iterator[tuple[str, Rendered]]:
    chunks = [jobs[i:i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    workers = min(os.cpu_count() or 1, len(chunks))
    if len(jobs) < PARALLEL_FROM or workers < 2:
        for chunk in chunks:
            done = (helper.run(_render_chunk, cards_dir, chunk) if helper
                    else _render_chunk(cards_dir, chunk))
            advance(len(done))
            yield from done
        return
    import gc
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, initializer=gc.enable) as pool:
        for done in pool.map(_render_chunk, [cards_dir] * len(chunks), chunks):
            advance(len(done))
            yield from done


_renderers: dict[Path, object] = {}  # one Markdown converter per process and cards folder


def warm_up(cards_dir: Path) -> None:
    """Import the renderer and make this process's converter, ahead of rendering."""
    _renderer(cards_dir)


def _renderer(cards_dir: Path):
    from deckgen.render import MarkdownRenderer

    root = cards_dir.resolve()
    return _renderers.get(root) or _renderers.setdefault(root, MarkdownRenderer(root))


def _render_chunk(cards_dir: Path, jobs: list[tuple[Card, Topic, str]],
                  ) -> list[tuple[str, Rendered]]:
    from deckgen.render import render_checked

    renderer = _renderer(cards_dir)
    results = []
    for card, topic, key in jobs:
        note, problems = render_checked(card, topic, renderer)
        problems = problems + (card_problems(card, note) if not problems else [])
        results.append((key, Rendered.of(card, note, problems)))
    return results

