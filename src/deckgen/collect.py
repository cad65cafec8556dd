"""Sources to rendered notes: what the build record and cache still hold is reused,
the rest is parsed and rendered (in parallel processes when there is a lot of it)."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from deckgen import cache, record
from deckgen.cache import Rendered, Shard, card_key
from deckgen.errors import Problem
from deckgen.lints import bank_problems, card_problems
from deckgen.loader import CardOrigins, cross_file_problems, read_topic, read_topic_by_card
from deckgen.model import Card, Note, NoteInfo, Topic
from deckgen.record import Record, TopicRecord
from deckgen.sources import is_source

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

PARALLEL_FROM = 400  # fewer cards than this render faster in one process
CHUNK = 100
MAX_WORKERS = 8  # each imports the renderer (tens of MB); more gain little at bank sizes

Advance = Callable[[int], None]  # told how many more cards are rendered
Progress = Callable[[int], AbstractContextManager[Advance]]  # given the number to render


@contextmanager
def quietly(total: int) -> Iterator[Advance]:
    yield lambda done: None


@dataclass(frozen=True)
class TopicResult:
    """One source file: its outline always; its cards and notes when this build has them."""

    record: TopicRecord
    topic: Topic | None = None  # the parsed file, if it was read in this build
    notes: tuple[Note, ...] | None = None  # the rendered notes, fields and all
    shard: Shard | None = None  # its rendered cards by key, to cache, if read in this build
    origins: CardOrigins | None = None  # if read card by card: where each card came from


@dataclass
class Bank:
    topics: list[TopicResult]
    problems: list[Problem]  # sorted; errors and warnings
    rendered_now: int  # cards rendered in this run, not taken from the cache
    earlier: dict[str, TopicRecord]  # the last build's outlines (its record), by source


@dataclass(frozen=True)
class Sources:
    """What the build read: the cards folder, every file in it, and where the cache is."""

    cards_dir: Path
    files: dict[str, bytes | str]  # record.fingerprint()
    inputs: dict[str, str]  # the same, hashed
    env: str
    cache_dir: Path | None  # None: render everything
    unreadable: list[Problem]  # folders and files that could not be read

    def shown(self, rel: str) -> str:
        return str(self.cards_dir / rel)


def collect(sources: Sources, previous: Record, progress: Progress = quietly,
            everything: bool = False) -> Bank:
    """Every topic, reusing the outlines of files (and images) unchanged since `previous`
    unless `everything`: then every file is parsed and rendered, notes in hand."""
    old = previous.topic_records() if previous.environment == sources.env else {}
    results: list[TopicResult | Topic] = []
    problems: list[Problem] = list(sources.unreadable)  # never a topic silently gone
    origins: dict[Path, CardOrigins] = {}  # of each file read
    with _Rendering(sources) as rendering:
        for rel in sorted(r for r in sources.files if is_source(r)):
            kept = None if everything else old.get(rel)
            if kept is not None and _unchanged(kept, sources, previous):
                results.append(TopicResult(kept))
                problems += [replace(p, path=sources.shown(p.path)) for p in kept.warnings]
                continue
            topic, found, read_from = _parse(sources, rel)
            problems += found
            if topic is not None:
                results.append(topic)
                origins[topic.source] = read_from
                rendering.add(topic)  # workers render it while the next file is parsed
        problems += cross_file_problems([_outline(r, sources) for r in results])
        rendered, found = rendering.finish(progress)
    problems += found
    topics = [r if isinstance(r, TopicResult)
              else replace(rendered[r.source], origins=origins[r.source])
              for r in results]
    if not any(p.level == "error" and not p.code for p in problems):  # sources are sound
        problems += bank_problems(sources.cards_dir, sources.inputs,
                                  [t.record for t in topics])
    return Bank(topics, sorted(problems), rendering.count, old)


def _unchanged(kept: TopicRecord, sources: Sources, previous: Record) -> bool:
    return (sources.inputs.get(kept.source) == kept.sha
            and all(sources.inputs.get(i) == previous.inputs.get(i) for i in kept.images))


def _parse(sources: Sources, rel: str,
           ) -> tuple[Topic | None, list[Problem], CardOrigins]:
    """The topic, its problems, and where each card came from if it was read card by
    card (to cache: the next build parses only the cards whose text changed)."""
    raw = sources.files[rel]
    if not isinstance(raw, bytes):
        if any(p.path == sources.shown(rel) for p in sources.unreadable):  # said: too large
            return None, [], CardOrigins()
        return None, [Problem(sources.shown(rel), 1, "cannot read this topic file; fix its"
                              " permissions or remove it")], CardOrigins()
    path = sources.cards_dir / rel
    if sources.cache_dir is None:
        return (*read_topic(sources.cards_dir, path, raw), CardOrigins())
    known = cache.load_known_cards(sources.cache_dir, rel, sources.env)
    return read_topic_by_card(sources.cards_dir, path, raw, known)


def _outline(result: TopicResult | Topic, sources: Sources) -> tuple:
    """(path, topic id, deck, [(card id, line, tags)]) for the checks across files."""
    if isinstance(result, Topic):
        return (str(result.source), result.id, result.deck,
                [(c.id, c.where.line, (*result.tags, *c.tags)) for c in result.cards])
    rec = result.record
    return (sources.shown(rec.source), rec.id, rec.deck,
            [(n.card_id, n.line, n.tags) for n in rec.notes])


class _Rendering:
    """Renders the cards of the topics it is given that their file's cache does not hold:
    in this process, or, once there are PARALLEL_FROM cards to render, in worker
    processes that start on them while the build goes on parsing."""

    def __init__(self, sources: Sources):
        self.sources = sources
        self.topics: list[tuple[Topic, list[str]]] = []  # each with its cards' cache keys
        self.ready: dict[str, Rendered] = {}  # by cache key
        self.todo: list[tuple[Card, Topic, str]] = []  # not yet handed to a worker
        self.count = 0  # cards rendered in this run, not taken from the cache
        self.pool: ProcessPoolExecutor | None = None
        self.pending: list[Future] = []

    def __enter__(self) -> _Rendering:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def add(self, topic: Topic) -> None:
        keys = [card_key(c, topic, self.sources.env) for c in topic.cards]
        self.topics.append((topic, keys))
        old = _old_shard(self.sources, topic)
        alone = replace(topic, cards=())  # all a worker needs of the topic
        for card, key in zip(topic.cards, keys):
            if key in old and old[key].images_match(self.sources.inputs):
                self.ready[key] = old[key]
            else:
                self.todo.append((card, alone, key))
                self.count += 1
        if self.pool is None and self.count >= PARALLEL_FROM and _usable_cpus() > 1:
            self.pool = _start_workers()
        if self.pool is not None:
            while len(self.todo) >= CHUNK:
                self._hand_over(self.todo[:CHUNK])
                del self.todo[:CHUNK]

    def _hand_over(self, chunk: list) -> None:
        assert self.pool is not None
        with _ctrl_c_held():  # the pool may start workers now
            self.pending.append(self.pool.submit(render_chunk, self.sources.cards_dir, chunk))

    def finish(self, progress: Progress) -> tuple[dict[Path, TopicResult], list[Problem]]:
        """Each topic's result by source path, and the problems found in its cards."""
        with progress(self.count) as advance:
            for done in self._rendered():
                advance(len(done))
                for key, rendered in done:
                    self.ready[key] = rendered.with_images(self.sources.inputs)
        results, problems = {}, []
        for topic, keys in self.topics:
            cards = [(card, key, self.ready[key]) for card, key in zip(topic.cards, keys)]
            found = [p for card, _, rendered in cards
                     for p in (*rendered.problems_at(card), *self._unread_images(card, rendered))]
            results[topic.source] = _result(self.sources, topic, cards, found)
            problems += found
        return results, problems

    def _unread_images(self, card: Card, rendered: Rendered) -> list[Problem]:
        """Images among no files the build read (in the output folder, inside the cards
        folder): no build would see them change."""
        return [Problem(card.where.path, card.where.line, (
            f"card '{card.id}': image '{media.source}' is in the output folder, whose files"
            " builds do not read (they would not see it change); move it"))
            for media in rendered.note.media if media.source not in self.sources.inputs]

    def _rendered(self) -> Iterator[list[tuple[str, Rendered]]]:
        if self.pool is None:
            while self.todo:
                yield render_chunk(self.sources.cards_dir, self.todo[:CHUNK])
                del self.todo[:CHUNK]
            return
        if self.todo:
            self._hand_over(self.todo)
            self.todo = []
        for future in self.pending:
            yield future.result()


def _old_shard(sources: Sources, topic: Topic) -> Shard:
    if sources.cache_dir is None:
        return {}
    return cache.load_shard(sources.cache_dir, _rel(sources, topic), sources.env)


def _rel(sources: Sources, topic: Topic) -> str:
    return topic.source.relative_to(sources.cards_dir).as_posix()


def _result(sources: Sources, topic: Topic, cards: list[tuple[Card, str, Rendered]],
            problems: list[Problem]) -> TopicResult:
    rel = _rel(sources, topic)
    outline = TopicRecord(
        rel, record.sha(sources.files[rel]), topic.id, topic.deck,  # type: ignore[arg-type]
        tuple(NoteInfo.of(card, key, r.note) for card, key, r in cards),
        tuple(replace(p, path=rel) for p in problems if p.level == "warning"))
    return TopicResult(outline, topic, tuple(r.note for _, _, r in cards),
                       {key: r for _, key, r in cards})


def with_notes(sources: Sources, result: TopicResult) -> TopicResult:
    """The topic with its notes' fields: from its cache shard, or by reading and
    rendering its file again when the shard does not hold them all."""
    if result.notes is not None:
        return result
    rec = result.record
    if sources.cache_dir is not None:
        shard = cache.load_shard(sources.cache_dir, rec.source, sources.env)
        if all(n.key in shard and shard[n.key].images_match(sources.inputs) for n in rec.notes):
            return replace(result, notes=tuple(shard[n.key].note for n in rec.notes))
    topic, _, _ = _parse(sources, rec.source)
    assert topic is not None  # it parsed in the build that recorded it, bytes the same
    with _Rendering(sources) as rendering:
        rendering.add(topic)
        rendered, _ = rendering.finish(quietly)
    return rendered[topic.source]


def _usable_cpus() -> int:
    """The CPUs this process may run on: its affinity (taskset, a container's cpuset),
    not every CPU of the machine."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _start_workers() -> ProcessPoolExecutor:
    # Imported here, not at the top: a one-card edit renders in this process, and these
    # imports took a fiftieth of it.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context()
    return ProcessPoolExecutor(min(MAX_WORKERS, _usable_cpus()), mp_context=context,
                               initializer=_worker_started,
                               initargs=(os.getpid(), context.get_start_method()))


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold Ctrl+C back while the pool may start workers: a worker is born with it
    blocked (Ctrl+C is the build's to handle), and the pool is never left half started.
    A Ctrl+C pressed meanwhile arrives when this ends."""
    if (not hasattr(signal, "pthread_sigmask")  # Windows
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _worker_started(build: int, start_method: str) -> None:
    """A render worker collects cycles (the build pauses that) and ends when the build's
    process does, even one killed with SIGKILL, which closes no pipe the worker waits on.
    Ctrl+C is the build's to handle: it shuts the workers down (a worker waiting for work
    would otherwise print a traceback of its own)."""
    gc.enable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    build_alive = _build_alive(build, start_method)

    def watch() -> None:
        while build_alive():
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _build_alive(build: int, start_method: str) -> Callable[[], bool]:
    """A test of whether the build that started this worker still runs."""
    if start_method == "fork":
        # Every worker holds copies of the pipes to the others, so none closes when the
        # build dies; but the worker is the build's child until the build ends.
        return lambda: os.getppid() == build
    # Spawned (Windows, macOS) or from a fork server (Python 3.14's default on Linux):
    # only the build holds the other end of the worker's pipe to its parent, which
    # closes when the build dies, zombie or not. (From a fork server the worker's own
    # parent is the server, and on Windows os.getppid() outlives the parent.)
    import multiprocessing  # the worker imported it already, to start

    parent = multiprocessing.parent_process()
    assert parent is not None
    return parent.is_alive


_renderers: dict[Path, object] = {}  # one Markdown converter per process and cards folder

# The renderer (Markdown, pymdown-extensions, Pygments) is imported only when a card is to
# be rendered: importing it takes longer than a whole `check` of an unchanged bank.


def _renderer(cards_dir: Path):
    from deckgen.render import MarkdownRenderer

    root = cards_dir.resolve()
    return _renderers.get(root) or _renderers.setdefault(root, MarkdownRenderer(root))


def render_chunk(cards_dir: Path, jobs: list[tuple[Card, Topic, str]],
                 ) -> list[tuple[str, Rendered]]:
    from deckgen.render import render_checked

    renderer = _renderer(cards_dir)
    results = []
    for card, topic, key in jobs:
        note, problems = render_checked(card, topic, renderer)
        problems = problems + (card_problems(card, note) if not problems else [])
        results.append((key, Rendered.of(card, note, problems)))
    return results
