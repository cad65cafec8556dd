"""The pipeline, read top to bottom:

fingerprint the cards folder -> collect (parse and render what changed, reuse the rest)
-> stamp (note mtimes) -> plan the packages -> write them -> save the cache, the state
and the build record, each atomically, the record last.

Only `build` writes. `check` and `diff` run the same steps up to the plan, reading the
build record and the cache without writing either.
"""

from __future__ import annotations

import functools
import gc
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from deckgen import COMBINED, environment, record
from deckgen.changes import Changes, TopicChanges
from deckgen.environment import CACHE_DIR
from deckgen.errors import DeckgenError, Problem, SourceErrors
from deckgen.model import Location, Note, Topic
from deckgen.record import Record, TopicRecord
from deckgen.state import STATE_FILE, Shipped, ShippedStamp

if TYPE_CHECKING:
    from deckgen.collect import Sources, TopicResult
    from deckgen.state import State

# The loader, renderer and packager are imported only by a build with work to do (in the
# functions below): a build with nothing to do must return in a fraction of a second.

Found = tuple[dict[str, "bytes | str"], list[Problem]]  # record.fingerprint(): files, problems
KEPT_COLLECTIONS = Path(CACHE_DIR, "collections")  # in the output folder


@dataclass(frozen=True)
class Checked:
    """Every topic, validated, rendered and linted."""

    topics: list[TopicResult]  # in build order
    warnings: list[Problem]
    rendered_now: int  # cards rendered in this run (the rest came from the cache)
    earlier: dict[str, TopicRecord] = field(default_factory=dict)  # last build's outlines

    @property
    def card_count(self) -> int:
        return sum(len(t.record.notes) for t in self.topics)

    @property
    def rendered(self) -> list[tuple[Topic, list[Note]]]:
        """Each topic with its notes: only for a check made with no build folder."""
        assert all(t.topic is not None for t in self.topics), "check(cards_dir) without out_dir"
        return [(t.topic, list(t.notes)) for t in self.topics]

    @property
    def notes(self) -> list[Note]:
        return [note for _, notes in self.rendered for note in notes]


@dataclass(frozen=True)
class Plan:
    """What a build would write, and how that differs from the previous build."""

    checked: Checked
    sources: Sources
    state: State  # the stamps this build ships
    changes: Changes
    where: dict[str, Location]  # each card's place in the sources

    @functools.cached_property
    def state_text(self) -> str:
        """The state file as this build writes it (and its record hashes it)."""
        from deckgen.state import dump_state

        return dump_state(self.state)


@dataclass(frozen=True)
class Package:
    path: Path
    notes: int
    written: bool  # False: its content had not changed, the file was left alone


@dataclass(frozen=True)
class BuildReport:
    changes: Changes
    warnings: list[Problem]
    packages: list[Package]
    where: dict[str, Location] = field(default_factory=dict)
    rendered_now: int = 0  # cards rendered in this build (the rest came from the cache)
    deleted: list[Path] = field(default_factory=list)  # packages of topics that are gone
    kept: list[Path] = field(default_factory=list)  # the same, but changed since written


def check(cards_dir: Path, out_dir: Path | None = None, progress=None) -> Checked:
    """Load, render and lint everything; raise SourceErrors if anything is an error.

    With `out_dir`, files unchanged since the last build there are taken from its record
    and cache (which are only read); without, every card is rendered, notes in hand."""
    previous = record.load(out_dir) if out_dir else Record()
    sources = _sources(cards_dir, out_dir, _read_cards_folder(cards_dir, out_dir))
    checked = _check(sources, previous, progress)
    # What a build would refuse too, when it stamps the cards: a state file it cannot
    # read, a changed note type or card kind, a time past the largest allowed.
    _stamp(checked, sources, _old_state(sources, previous), previous,
           cards_dir / STATE_FILE, None, False, frozenset())
    return checked


def collect_all(cards_dir: Path):
    """Every topic parsed and rendered, with every problem found, errors included: what
    `check` sees before it decides (for tools and tests)."""
    from deckgen.collect import collect

    return collect(_sources(cards_dir, None, _read_cards_folder(cards_dir)), Record(),
                   everything=True)


def _check(sources, previous: Record, progress) -> Checked:
    from deckgen.collect import collect, quietly

    bank = collect(sources, previous, progress or quietly,
                   everything=sources.cache_dir is None)
    if any(p.level == "error" for p in bank.problems):
        raise SourceErrors(bank.problems)
    if not bank.topics:
        raise DeckgenError(f"{sources.cards_dir}: no *.yaml topic files found")
    return Checked(bank.topics, bank.problems, bank.rendered_now, bank.earlier)


def plan(cards_dir: Path, out_dir: Path | None = None, now: int | None = None,
         accept_notetype_change: bool = False, restamp: Iterable[str] = (),
         progress=None) -> Plan:
    """Check, then stamp every note: what `build` would ship, and what changed."""
    previous = record.load(out_dir) if out_dir else Record()
    return _plan(cards_dir, out_dir, _read_cards_folder(cards_dir, out_dir), previous, now,
                 accept_notetype_change, frozenset(restamp), progress)


def _plan(cards_dir: Path, out_dir: Path | None, found: Found, previous: Record,
          now: int | None, accept_notetype_change: bool, restamp: frozenset[str],
          progress) -> Plan:
    sources = _sources(cards_dir, out_dir, found)
    checked = _check(sources, previous, progress)
    return _stamp(checked, sources, _old_state(sources, previous), previous,
                  cards_dir / STATE_FILE, now, accept_notetype_change, restamp)


def _old_state(sources, previous: Record) -> State:
    """The committed state file, as the build read it; an error if it cannot be used."""
    from deckgen.state import State, load_state

    state_file = sources.cards_dir / STATE_FILE
    raw = sources.files.get(STATE_FILE)
    if (raw is None and os.path.lexists(state_file)) or raw == "":  # not a plain file
        raise SourceErrors([Problem(str(state_file), 1, (
            "cannot read the build state: not a readable file (a folder, a pipe, a link to"
            " a device?); make it the file deckgen wrote, or delete it to treat every card as"
            " changed"))])
    if not isinstance(raw, bytes):
        return State()  # none yet
    # The very bytes the last build, of this deckgen, wrote (and checked): parsed only.
    as_written = (previous.environment == sources.env
                  and previous.inputs.get(STATE_FILE) == sources.inputs[STATE_FILE])
    return load_state(state_file, raw, checked=as_written)


def _stamp(checked: Checked, sources, old_state, previous: Record, state_file: Path,
           now: int | None, accept_notetype_change: bool, restamp: frozenset[str]) -> Plan:
    from deckgen.changes import compare, since_last_build
    from deckgen.notetypes import note_types
    from deckgen.state import NoteStamp, State, TypeStamp, never_back, too_late, with_mtimes

    types = note_types()
    if not accept_notetype_change:
        _guard_schemas(old_state, types, state_file)
        _guard_kinds(old_state, previous.shipped, checked, sources)
    known = {n.card_id for t in checked.topics for n in t.record.notes}
    if unknown := sorted(restamp - known):
        raise DeckgenError(f"--restamp: no card with id {', '.join(unknown)}")
    now = int(time.time()) if now is None else now
    current = {n.card_id: NoteStamp(n.digest, 0, t.record.id, n.text_digest, n.notetype)
               for t in checked.topics for n in t.record.notes}
    shipped = previous.shipped
    returning = frozenset(current.keys() - old_state.notes.keys())
    state = State(
        notes=never_back(with_mtimes(old_state.notes, current, now), shipped, now, restamp,
                         returning),
        notetypes=with_mtimes(old_state.notetypes,
                        {k: TypeStamp(t.digest, 0, t.schema) for k, t in types.items()}, now),
    )
    too_late(state, state_file, sources.files.get(STATE_FILE))
    changes = compare(old_state.notes, state.notes, [t.record.id for t in checked.topics],
                      shipped)
    changes.moves, changes.emptied, changes.respelled_tags = since_last_build(
        {n.card_id: (r.deck, n) for r in checked.earlier.values() for n in r.notes},
        {n.card_id: (t.record.deck, n) for t in checked.topics for n in t.record.notes})
    return Plan(checked, sources, state, changes, _where(checked, sources, changes))


def _where(checked: Checked, sources, changes: Changes) -> dict[str, Location]:
    """Where each added, updated or renamed card is, for the report."""
    wanted = set(changes.changed_ids)
    return {n.card_id: Location(sources.shown(t.record.source), n.line)
            for t in checked.topics for n in t.record.notes if n.card_id in wanted}


def build(cards_dir: Path, out_dir: Path, now: int | None = None, dry_run: bool = False,
          accept_notetype_change: bool = False, restamp: Iterable[str] = (),
          progress=None) -> BuildReport:
    """Write one package per topic plus the combined one, each only if its content changed;
    write nothing at all on any error, or with `dry_run`."""
    restamp = frozenset(restamp)
    found, previous = _read_cards_folder(cards_dir, out_dir), record.load(out_dir)
    if not restamp and (report := _repeat(cards_dir, out_dir, found, previous)) is not None:
        return report
    with _collector_paused():
        return _work(cards_dir, out_dir, found, previous, now, dry_run,
                     accept_notetype_change, restamp, progress)


def unchanged(cards_dir: Path, out_dir: Path, outputs: bool = True) -> BuildReport | None:
    """The last build's report, if no input, environment or (with `outputs`) package
    changed since: then `check` and `diff` have nothing to add, and `build` nothing to do."""
    return _repeat(cards_dir, out_dir, _read_cards_folder(cards_dir, out_dir), record.load(out_dir),
                   outputs)


def _repeat(cards_dir: Path, out_dir: Path, found: Found, previous: Record,
            outputs: bool = True) -> BuildReport | None:
    files, unreadable = found
    if unreadable or previous.environment != environment.digest():
        return None
    if record.digests(files) != previous.inputs:
        return None
    if outputs and not all(record.is_as_written(out_dir / name, output)
                           for name, output in previous.outputs.items()):
        return None
    warnings = previous.problems()
    try:
        topics = {topic: TopicChanges(unchanged=list(ids)) for topic, ids in previous.cards}
        packages = [Package(out_dir / f"{topic}.apkg", len(ids), False)
                    for topic, ids in previous.cards]
    except (TypeError, ValueError):
        return None
    if warnings is None or set(previous.outputs) != {p.path.name for p in packages} | {
            f"{COMBINED}.apkg"}:
        return None
    packages.append(Package(out_dir / f"{COMBINED}.apkg", sum(p.notes for p in packages),
                            False))
    return BuildReport(Changes(topics, []), [_shown(p, cards_dir) for p in warnings],
                       packages)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A build makes tens of thousands of long-lived objects and drops them together at
    the end: the cycle collector would only walk them again and again (a tenth of a
    one-card rebuild, in a paired A/B run)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _work(cards_dir: Path, out_dir: Path, found: Found, previous: Record,
          now: int | None, dry_run: bool, accept_notetype_change: bool,
          restamp: frozenset[str], progress) -> BuildReport:
    from deckgen import atomic
    from deckgen.collect import with_notes

    the_plan = _plan(cards_dir, out_dir, found, previous, now, accept_notetype_change,
                     restamp, progress)
    topics = the_plan.checked.topics
    fingerprints = _fingerprints(topics, the_plan.state, the_plan.sources.env)
    stale = {t.record.id for t in topics
             if not _current(previous, out_dir, f"{t.record.id}.apkg", fingerprints)}
    combined_stale = not _current(previous, out_dir, f"{COMBINED}.apkg", fingerprints)
    gone = [out_dir / name for name in previous.outputs if name not in fingerprints]
    orphans = [p for p in gone if record.is_as_written(p, previous.outputs[p.name])]
    kept = [p for p in gone if p not in orphans and p.exists()]  # changed by someone else
    rendered_now = the_plan.checked.rendered_now
    if not dry_run:
        atomic.sweep(out_dir, out_dir / CACHE_DIR, out_dir / CACHE_DIR / "cards", cards_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if stale or combined_stale:
            topics = [with_notes(the_plan.sources, t) if t.record.id in stale else t
                      for t in topics]
            # Topics whose cache shard could not give their notes were rendered again.
            rendered_now += sum(len(t.record.notes) for t, before in
                                zip(topics, the_plan.checked.topics) if t.shard is not before.shard)
        moves, scratch = (_write_packages(the_plan, topics, stale, combined_stale, out_dir)
                          if stale or combined_stale else ([], {}))
        try:
            _publish(moves, lambda: _save_cache_and_state(the_plan, topics, stale, out_dir,
                                                          cards_dir))
            _keep_collections(scratch, out_dir)
        finally:
            for database in scratch.values():  # those not kept
                database.unlink(missing_ok=True)
        for orphan in orphans:
            orphan.unlink(missing_ok=True)
        _save_record(the_plan, topics, previous, fingerprints, out_dir, cards_dir)
    written = stale | ({COMBINED} if combined_stale else set())
    packages = [Package(out_dir / f"{t.record.id}.apkg", len(t.record.notes),
                        t.record.id in written) for t in topics]
    packages.append(Package(out_dir / f"{COMBINED}.apkg", the_plan.checked.card_count,
                            COMBINED in written))
    return BuildReport(the_plan.changes, the_plan.checked.warnings, packages, the_plan.where,
                       rendered_now, orphans, kept)


def _current(previous: Record, out_dir: Path, name: str, fingerprints: dict[str, str]) -> bool:
    """Whether the package holds what this build would write, untouched since."""
    output = previous.outputs.get(name)
    return (isinstance(output, list) and output[:1] == [fingerprints[name]]
            and record.is_as_written(out_dir / name, output))


def _fingerprints(topics: list, state, env: str) -> dict[str, str]:
    """A digest of what each package holds, by file name: when it changes, the package
    must be written again."""
    from deckgen.model import digest

    notetypes = sorted((k, s.digest, s.mtime) for k, s in state.notetypes.items())
    stamps = state.notes
    # The environment too: a new deckgen may write the same notes into a package otherwise.
    prints = {f"{t.record.id}.apkg": digest([env, t.record.id, t.record.deck, notetypes, [
        (n.card_id, stamps[n.card_id].digest, stamps[n.card_id].mtime)
        for n in t.record.notes]]) for t in topics}
    prints[f"{COMBINED}.apkg"] = digest(list(prints.values()))  # in topic order
    return prints


def _write_packages(the_plan: Plan, topics: list, stale: set[str], combined: bool,
                    out_dir: Path) -> tuple[list[tuple[Path, Path]], dict[str, Path]]:
    """Write the stale packages to temporary files: (temporary file, final path) each,
    and the collection inside each topic package written, by topic id."""
    from deckgen.notetypes import note_types
    from deckgen.package import Deck, DeckContent, Part, write_combined, write_topic

    note_mtimes = {key: s.mtime for key, s in the_plan.state.notes.items()}
    type_mtimes = {key: s.mtime for key, s in the_plan.state.notetypes.items()}
    types = note_types()
    sources = the_plan.sources
    moves: list[tuple[Path, Path]] = []  # (temporary file, final path)
    scratch: dict[str, Path] = {}  # topic id -> its collection, written in this build
    try:
        for result in (t for t in topics if t.record.id in stale):
            deck = Deck(result.record.id, result.record.deck)
            content = DeckContent(deck, result.notes, _media(result.record, sources))
            package, scratch[deck.topic_id] = write_topic(
                out_dir / f"{deck.topic_id}.apkg", content, types, type_mtimes, note_mtimes)
            moves.append((package, out_dir / f"{deck.topic_id}.apkg"))
        if combined:
            parts = [Part(Deck(t.record.id, t.record.deck), scratch.get(t.record.id),
                          out_dir / f"{t.record.id}.apkg", _media(t.record, sources),
                          _kept_collection(out_dir, t.record.id))
                     for t in topics]
            moves.append((write_combined(out_dir / f"{COMBINED}.apkg", parts, types,
                                         type_mtimes), out_dir / f"{COMBINED}.apkg"))
    except BaseException:
        for tmp in [*(tmp for tmp, _ in moves), *scratch.values()]:
            tmp.unlink(missing_ok=True)
        raise
    return moves, scratch


def _publish(moves: list[tuple[Path, Path]], save_state) -> None:
    """Save the state, then move the new packages into place: a state that cannot be
    written (read-only folder, full disk) leaves every earlier output as it was, and no
    package is ever published with stamps the state file does not hold."""
    try:
        save_state()
    except BaseException:
        for tmp, _ in moves:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in moves:
        os.replace(tmp, final)


def _keep_collections(scratch: dict[str, Path], out_dir: Path) -> None:
    """Keep the topic collections written, for the next build's combined package to copy
    instead of inflating their packages again. A cache: one that cannot be kept (the
    cache on another file system, a folder in its place) is only a loss of speed."""
    for topic_id, database in scratch.items():
        kept = _kept_collection(out_dir, topic_id)
        with suppress(OSError):
            kept.parent.mkdir(parents=True, exist_ok=True)
            os.replace(database, kept)


def _kept_collection(out_dir: Path, topic_id: str) -> Path:
    """Where the cache keeps the collection inside a topic's package."""
    return out_dir / KEPT_COLLECTIONS / f"{topic_id}.anki2"


def _media(topic, sources) -> tuple:
    """The images a topic's notes show, where they are now (the cards folder may have
    been moved or renamed since they were rendered), with the hash the build read (collect
    refuses an image that is not among the files read)."""
    from deckgen.model import Media

    return tuple(Media(name, (sources.cards_dir / rel).resolve(), rel, sources.inputs[rel])
                 for note in topic.notes for name, rel in note.media)


def _save_cache_and_state(the_plan: Plan, topics: list, stale: set[str], out_dir: Path,
                          cards_dir: Path) -> None:
    from deckgen import cache
    from deckgen.loader import known_cards
    from deckgen.state import save_dumped

    cache_dir = out_dir / CACHE_DIR / "cards"
    for topic in topics:
        if topic.shard is not None:  # read in this build
            cache.save_shard(cache_dir, topic.record.source, the_plan.sources.env, topic.shard)
        # Read in this build, card by card. (A file read whole keeps the known cards of an
        # earlier build: they are known by their text, so never wrong, only fewer.)
        if topic.origins:
            cache.save_known_cards(cache_dir, topic.record.source, the_plan.sources.env,
                                   known_cards(topic.topic, topic.origins))
    cache.prune(cache_dir, [t.record.source for t in topics])
    _forget_collections(out_dir, {t.record.id for t in topics} - stale)
    save_dumped(cards_dir / STATE_FILE, the_plan.state_text)


def _forget_collections(out_dir: Path, keep: set[str]) -> None:
    """Remove the kept collections of topics that are gone or whose package is about to
    be replaced: none may outlive its package, even if the new one cannot be kept."""
    with suppress(OSError):
        for copy in list((out_dir / KEPT_COLLECTIONS).glob("*.anki2")):
            if copy.stem not in keep:
                with suppress(OSError):  # a folder in its place is never read either
                    copy.unlink()


def _save_record(the_plan: Plan, topics: list, previous: Record, fingerprints: dict[str, str],
                 out_dir: Path, cards_dir: Path) -> None:
    """The record, last: whatever stops a build before it, the next one trusts nothing
    this one did."""
    sources = the_plan.sources
    inputs = dict(sources.inputs)
    inputs[STATE_FILE] = record.sha(the_plan.state_text.encode())
    shipped = {**previous.shipped, **{k: ShippedStamp(s.mtime, s.digest, s.notetype)
                                      for k, s in the_plan.state.notes.items()}}
    outputs = {name: [fingerprint, record.stat_of(out_dir / name)]
               for name, fingerprint in fingerprints.items()}
    warnings = [[p.path, p.line, p.message, p.level, p.code]
                for p in (_relative(p, cards_dir) for p in the_plan.checked.warnings)]
    record.save(out_dir, Record(sources.env, inputs, outputs, warnings),
                [t.record for t in topics], shipped)


def _relative(problem: Problem, cards_dir: Path) -> Problem:
    return replace(problem, path=Path(problem.path).relative_to(cards_dir).as_posix())


def _shown(problem: Problem, cards_dir: Path) -> Problem:
    return replace(problem, path=str(cards_dir / problem.path))


def require_cards_folder(cards_dir: Path) -> None:
    if not cards_dir.is_dir():
        raise DeckgenError(f"{cards_dir}: no such folder (pass --cards DIR)")


def _read_cards_folder(cards_dir: Path, out_dir: Path | None = None) -> Found:
    require_cards_folder(cards_dir)
    return record.fingerprint(cards_dir, out_dir)


def _sources(cards_dir: Path, out_dir: Path | None, found: Found):
    from deckgen.collect import Sources

    files, unreadable = found
    cache_dir = out_dir / CACHE_DIR / "cards" if out_dir else None
    return Sources(cards_dir, files, record.digests(files), environment.digest(), cache_dir,
                   unreadable)


def _guard_kinds(previous, shipped: Shipped, checked: Checked, sources) -> None:
    """A card that was built as a front/back card and is now a cloze, or the other way:
    Anki keeps a note's type on import and skips such a note as a conflict, so the change
    would never reach a learner who has the card. Its last kind is in the state file, or,
    for a card removed since and back, in what this machine shipped."""
    kinds = {"basic": "a front/back card", "cloze": "a cloze"}

    def last_kind(card_id: str) -> str:
        stamp = previous.notes.get(card_id)
        last = stamp or shipped.get(card_id)
        return last.notetype if last else ""

    changed = [Problem(sources.shown(t.record.source), n.line, (
        f"card '{n.card_id}' was {kinds[old]} when it was last built and is now"
        f" {kinds[n.notetype]}. Anki keeps a note's type on import, so learners who have"
        " the card would never get it: give it a new id (they keep the old card and its"
        " history), or, if no learner has it yet, build with --accept-notetype-change"))
        for t in checked.topics for n in t.record.notes
        if (old := last_kind(n.card_id)) in kinds and old != n.notetype]
    if changed:
        raise SourceErrors(changed)


def _guard_schemas(previous, types: dict, state_path: Path) -> None:
    changed = [t for key, t in types.items()
               if key in previous.notetypes and previous.notetypes[key].schema != t.schema]
    if changed:
        names = ", ".join(f"'{t.name}'" for t in changed)
        raise SourceErrors([Problem(str(state_path), 1, (
            f"the fields or card templates of note type {names} differ from what earlier"
            " builds shipped. Anki cannot update such a note type in place: on import it"
            " adds a copy and leaves every existing note of the old one un-updated, so users'"
            " edits stop arriving. If that is intended, build with --accept-notetype-change"))])
