"""The pipeline: load -> render -> lint -> stamp -> package. Only `build` writes."""

from __future__ import annotations

import gc
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from deckgen import COMBINED, manifest
from deckgen.changes import Changes, TopicChanges
from deckgen.environment import CACHE_DIR
from deckgen.errors import DeckgenError, Problem, SourceErrors

if TYPE_CHECKING:
    from deckgen.cache import Cache
    from deckgen.helper import Helper
    from deckgen.model import Location, Note, Topic
    from deckgen.state import State

# Only a build with something to do imports the rest of deckgen, the loader, renderer
# and packager: a no-change build must return in a fraction of a second.

PACKAGES_FILE = "packages.json"  # in the cache folder: what each package holds


@dataclass(frozen=True)
class Checked:
    rendered: list[tuple[Topic, list[Note]]]
    warnings: list[Problem]
    cache: Cache
    rendered_now: int

    @property
    def notes(self) -> list[Note]:
        return [note for _, notes in self.rendered for note in notes]

    @property
    def where(self) -> dict[str, Location]:
        return {card.id: card.where for topic, _ in self.rendered for card in topic.cards}


@dataclass(frozen=True)
class Plan:
    """What a build would write, and how that differs from the previous build."""

    checked: Checked
    state: State
    changes: Changes


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


def check(cards_dir: Path, cache: Cache | None = None, progress=None,
          helper: Helper | None = None) -> Checked:
    """Load, render and lint everything; raise SourceErrors if anything is an error."""
    from deckgen.cache import Cache
    from deckgen.collect import collect, quietly

    if not cards_dir.is_dir():
        raise DeckgenError(f"{cards_dir}: no such folder (pass --cards DIR)")
    collected = collect(cards_dir, cache or Cache(), progress or quietly, helper)
    if any(p.level == "error" for p in collected.problems):
        raise SourceErrors(collected.problems)
    if not collected.rendered:
        raise DeckgenError(f"{cards_dir}: no *.yaml topic files found")
    return Checked(collected.rendered, collected.problems, collected.cache,
                   collected.rendered_now)


def plan(cards_dir: Path, now: int | None = None, accept_notetype_change: bool = False,
         cache: Cache | None = None, progress=None, helper: Helper | None = None) -> Plan:
    from deckgen.changes import compare
    from deckgen.notetypes import note_types
    from deckgen.state import STATE_FILE, NoteStamp, State, TypeStamp, load_state, restamp

    checked = check(cards_dir, cache, progress, helper)
    state_path = cards_dir / STATE_FILE
    previous = load_state(state_path)
    types = note_types()
    if not accept_notetype_change:
        _guard_schemas(previous, types, state_path)
    now = int(time.time()) if now is None else now
    notes = {note.card_id: NoteStamp(note.digest, 0, topic.id, note.text_digest)
             for topic, notes in checked.rendered for note in notes}
    state = State(
        notes=restamp(previous.notes, notes, now),
        notetypes=restamp(previous.notetypes,
                          {k: TypeStamp(t.digest, 0, t.schema) for k, t in types.items()}, now),
    )
    changes = compare(previous.notes, state.notes, [t.id for t, _ in checked.rendered])
    return Plan(checked, state, changes)


def build(cards_dir: Path, out_dir: Path, now: int | None = None, dry_run: bool = False,
          accept_notetype_change: bool = False, progress=None) -> BuildReport:
    """Write one package per topic plus the combined one, each only if its content changed;
    write nothing at all on any error, or with `dry_run`."""
    if (report := manifest.unchanged(cards_dir, out_dir)) is not None:
        return _unchanged_report(report)
    with _collector_paused():
        return _build(cards_dir, out_dir, now, dry_run, accept_notetype_change, progress)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A build makes tens of thousands of long-lived objects and drops them together at
    the end: the cycle collector would only walk them again and again (a tenth of the
    time of a one-card rebuild)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(cards_dir: Path, out_dir: Path, now: int | None, dry_run: bool,
           accept_notetype_change: bool, progress) -> BuildReport:
    from deckgen.cache import load_cache, save_cache
    from deckgen.helper import helper
    from deckgen.loader import source_files
    from deckgen.state import STATE_FILE, save_state

    sources = source_files(cards_dir)
    with helper(cards_dir, out_dir, sources) as aide:  # at work while the cache loads
        cache = load_cache(out_dir, cards_dir, sources)
        the_plan = plan(cards_dir, now, accept_notetype_change, cache, progress, aide)
    topics = [topic for topic, _ in the_plan.checked.rendered]
    fingerprints = _fingerprints(the_plan.checked.rendered, the_plan.state)
    shipped = _load_json(out_dir / CACHE_DIR / PACKAGES_FILE)
    written = manifest.written_packages(out_dir)
    databases = out_dir / CACHE_DIR / "databases"

    def current(name: str, database: Path | None = None) -> bool:
        """The package holds what this build would write, untouched since."""
        return (shipped.get(name) == fingerprints[name]
                and manifest.is_as_written(out_dir / name, written)
                and (database is None or database.exists()))

    stale_topics = [t for t in topics
                    if not current(f"{t.id}.apkg", databases / f"{t.id}.anki2")]
    stale_combined = not current(f"{COMBINED}.apkg")  # its fingerprint covers the topics'
    combined_db = databases / f"{COMBINED}.anki2"
    kept = _kept_in_combined(combined_db, shipped, topics, stale_topics)
    orphans = _orphans(out_dir, written, topics)
    if not dry_run:
        if stale_topics or stale_combined:
            _write_packages(the_plan, stale_topics, stale_combined, kept, out_dir, databases)
        for orphan in orphans:
            orphan.unlink()
            (databases / orphan.with_suffix(".anki2").name).unlink(missing_ok=True)
        _save_json(out_dir / CACHE_DIR / PACKAGES_FILE,
                   {**fingerprints, combined_db.name: manifest.stat_of(combined_db)})
        save_cache(the_plan.checked.cache)
        save_state(cards_dir / STATE_FILE, the_plan.state)
        manifest.save(cards_dir, out_dir, _package_paths(topics, out_dir),
                      _report_to_repeat(the_plan, out_dir))
    rewritten = {t.id for t in stale_topics} | ({COMBINED} if stale_combined else set())
    packages = [Package(path, notes, path.stem in rewritten)
                for path, notes in _package_notes(the_plan, out_dir).items()]
    return BuildReport(the_plan.changes, the_plan.checked.warnings, packages,
                       the_plan.checked.where, the_plan.checked.rendered_now, orphans)


def _kept_in_combined(combined_db: Path, shipped: dict, topics: list[Topic],
                      stale_topics: list[Topic]) -> set[str]:
    """The topics the last build's combined database holds as they are now, so that the
    combined package can update it: none unless it is as that build left it."""
    base = manifest.stat_of(combined_db)
    if base is None or base != shipped.get(combined_db.name):
        return set()
    return {t.id for t in topics if t not in stale_topics}


def _orphans(out_dir: Path, written: dict, topics: list[Topic]) -> list[Path]:
    """Packages an earlier build wrote for topics that are gone, untouched since."""
    current = _package_paths(topics, out_dir)
    return [Path(p) for p in written
            if Path(p) not in current and manifest.is_as_written(Path(p), written)]


def _package_paths(topics: list[Topic], out_dir: Path) -> list[Path]:
    return [*(out_dir / f"{t.id}.apkg" for t in topics), out_dir / f"{COMBINED}.apkg"]


def _package_notes(the_plan: Plan, out_dir: Path) -> dict[Path, int]:
    counts = {out_dir / f"{t.id}.apkg": len(n) for t, n in the_plan.checked.rendered}
    counts[out_dir / f"{COMBINED}.apkg"] = sum(counts.values())
    return counts


def _write_packages(the_plan: Plan, stale_topics: list[Topic], combined: bool, kept: set[str],
                    out_dir: Path, databases: Path) -> None:
    """Write the stale packages to temporary files, then move them all into place.

    A topic's package is written from its notes, its collection database kept beside; the
    combined package is assembled from those databases, so unchanged topics' rendered text
    is never loaded."""
    from deckgen.notetypes import note_types
    from deckgen.package import DeckContent, write_combined, write_topic

    note_mtimes = {key: s.mtime for key, s in the_plan.state.notes.items()}
    type_mtimes = {key: s.mtime for key, s in the_plan.state.notetypes.items()}
    types = note_types()
    cache = the_plan.checked.cache
    databases.mkdir(parents=True, exist_ok=True)
    moves: list[tuple[Path, Path]] = []  # (temporary file, final path)
    try:
        current = {}
        for topic in stale_topics:
            cache.fill(str(topic.source))
            keys = cache.sources[str(topic.source)].keys
            if not all(key in cache.cards for key in keys):
                shutil.rmtree(out_dir / CACHE_DIR, ignore_errors=True)
                raise DeckgenError(f"{out_dir / CACHE_DIR}: the build cache was damaged and is"
                                   " now removed; run the build again")
            content = DeckContent(topic, tuple(cache.cards[key].note for key in keys))
            final_db = databases / f"{topic.id}.anki2"
            package, database = write_topic(out_dir / f"{topic.id}.apkg", final_db, content,
                                            types, type_mtimes, note_mtimes)
            moves += [(package, out_dir / f"{topic.id}.apkg"), (database, final_db)]
            current[topic.id] = database
        if combined:
            decks = [DeckContent(t, tuple(n)) for t, n in the_plan.checked.rendered]
            topic_dbs = [current.get(d.topic.id, databases / f"{d.topic.id}.anki2")
                         for d in decks]
            path, final_db = out_dir / f"{COMBINED}.apkg", databases / f"{COMBINED}.anki2"
            package, database = write_combined(path, final_db, topic_dbs, decks, types,
                                               type_mtimes, kept)
            moves += [(package, path), (database, final_db)]
    except BaseException:
        for tmp, _ in moves:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in moves:
        os.replace(tmp, final)


def _report_to_repeat(the_plan: Plan, out_dir: Path) -> dict:
    """What a later build with nothing to do reports: every card unchanged."""
    return {"topics": {topic.id: [c.id for c in topic.cards]
                       for topic, _ in the_plan.checked.rendered},
            "warnings": [p.as_dict() for p in the_plan.checked.warnings],
            "packages": {str(path): n for path, n in _package_notes(the_plan, out_dir).items()}}


def _unchanged_report(report: dict) -> BuildReport:
    topics = {topic: TopicChanges(unchanged=ids) for topic, ids in report["topics"].items()}
    warnings = [Problem(**p) for p in report["warnings"]]
    packages = [Package(Path(path), notes, False) for path, notes in report["packages"].items()]
    return BuildReport(Changes(topics, []), warnings, packages)


def _guard_schemas(previous: State, types: dict, state_path: Path) -> None:
    changed = [t for key, t in types.items()
               if key in previous.notetypes and previous.notetypes[key].schema != t.schema]
    if changed:
        names = ", ".join(f"'{t.name}'" for t in changed)
        raise SourceErrors([Problem(str(state_path), 1, (
            f"the fields or card templates of note type {names} differ from what earlier"
            " builds shipped. Anki cannot update such a note type in place: on import it"
            " adds a copy and leaves every existing note of the old one un-updated, so users'"
            " edits stop arriving. If that is intended, build with --accept-notetype-change"))])


def _fingerprints(rendered: list[tuple[Topic, list[Note]]], state: State) -> dict[str, str]:
    """A digest of what each package holds, by file name: when it changes, the package
    must be written again."""
    from deckgen.model import digest

    notetypes = sorted((k, s.digest, s.mtime) for k, s in state.notetypes.items())
    stamps = state.notes
    fingerprints = {
        f"{topic.id}.apkg": digest([topic.id, topic.deck, notetypes, [
            (n.card_id, stamps[n.card_id].digest, stamps[n.card_id].mtime) for n in notes]])
        for topic, notes in rendered}
    fingerprints[f"{COMBINED}.apkg"] = digest(list(fingerprints.values()))  # in topic order
    return fingerprints


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # unknown: everything counts as changed


def _save_json(path: Path, data: dict) -> None:
    from deckgen.atomic import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(data, indent=1, sort_keys=True).encode())
