"""The pipeline: load -> render -> lint -> stamp -> package. Only `build` writes."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from deckgen import manifest
from deckgen.cache import CACHE_DIR, Cache
from deckgen.changes import Changes, TopicChanges, compare
from deckgen.errors import DeckgenError, Problem, SourceErrors
from deckgen.model import COMBINED, Location, Note, Topic
from deckgen.state import STATE_FILE, NoteStamp, State, TypeStamp, load_state, restamp, save_state

# Only a build with something to do imports the loader, renderer and packager: a
# no-change build must return in a fraction of a second.

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


def check(cards_dir: Path, cache: Cache | None = None, progress=None) -> Checked:
    """Load, render and lint everything; raise SourceErrors if anything is an error."""
    from deckgen.collect import collect, quietly

    if not cards_dir.is_dir():
        raise DeckgenError(f"{cards_dir}: no such folder (pass --cards DIR)")
    collected = collect(cards_dir, cache or Cache(), progress or quietly)
    if any(p.level == "error" for p in collected.problems):
        raise SourceErrors(collected.problems)
    if not collected.rendered:
        raise DeckgenError(f"{cards_dir}: no *.yaml topic files found")
    return Checked(collected.rendered, collected.problems, collected.cache,
                   collected.rendered_now)


def plan(cards_dir: Path, now: int | None = None, accept_notetype_change: bool = False,
         cache: Cache | None = None, progress=None) -> Plan:
    from deckgen.notetypes import note_types

    checked = check(cards_dir, cache, progress)
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
    from deckgen.cache import load_cache, save_cache
    from deckgen.loader import source_files

    cache = load_cache(out_dir, cards_dir, source_files(cards_dir))
    the_plan = plan(cards_dir, now, accept_notetype_change, cache, progress)
    outputs = _outputs(the_plan, out_dir)
    fingerprints = {path.name: _fingerprint(decks, the_plan.state)
                    for path, decks in outputs.items()}
    shipped = _load_json(out_dir / CACHE_DIR / PACKAGES_FILE)
    stale = [path for path in outputs
             if shipped.get(path.name) != fingerprints[path.name] or not path.exists()]
    if not dry_run:
        _write_packages(the_plan, {path: outputs[path] for path in stale}, out_dir)
        _save_json(out_dir / CACHE_DIR / PACKAGES_FILE, fingerprints)
        save_cache(out_dir, cards_dir, the_plan.checked.cache)
        save_state(cards_dir / STATE_FILE, the_plan.state)
        manifest.save(cards_dir, out_dir, list(outputs), _report_to_repeat(the_plan, outputs))
    packages = [Package(path, sum(len(d.notes) for d in decks), path in stale)
                for path, decks in outputs.items()]
    return BuildReport(the_plan.changes, the_plan.checked.warnings, packages,
                       the_plan.checked.where, the_plan.checked.rendered_now)


def _outputs(the_plan: Plan, out_dir: Path) -> dict:
    from deckgen.package import DeckContent

    decks = [DeckContent(topic, tuple(notes)) for topic, notes in the_plan.checked.rendered]
    outputs = {out_dir / f"{d.topic.id}.apkg": [d] for d in decks}
    outputs[out_dir / f"{COMBINED}.apkg"] = decks
    return outputs


def _write_packages(the_plan: Plan, outputs: dict, out_dir: Path) -> None:
    """Write every package to a temporary file, then move them all into place."""
    from deckgen.notetypes import note_types
    from deckgen.package import write_package

    from concurrent.futures import ThreadPoolExecutor

    note_mtimes = {key: s.mtime for key, s in the_plan.state.notes.items()}
    type_mtimes = {key: s.mtime for key, s in the_plan.state.notetypes.items()}
    types = note_types()
    out_dir.mkdir(parents=True, exist_ok=True)
    # SQLite and zlib release the GIL: packages are written side by side.
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        futures = {path: pool.submit(write_package, path, decks, types, type_mtimes,
                                     note_mtimes) for path, decks in outputs.items()}
    written = {path: f.result() for path, f in futures.items() if f.exception() is None}
    failed = [f.exception() for f in futures.values() if f.exception() is not None]
    if failed:
        for tmp in written.values():
            tmp.unlink()
        raise failed[0]
    for path, tmp in written.items():
        os.replace(tmp, path)


def _report_to_repeat(the_plan: Plan, outputs: dict) -> dict:
    """What a later build with nothing to do reports: every card unchanged."""
    return {"topics": {topic.id: [c.id for c in topic.cards]
                       for topic, _ in the_plan.checked.rendered},
            "warnings": [p.as_dict() for p in the_plan.checked.warnings],
            "packages": {str(path): sum(len(d.notes) for d in decks)
                         for path, decks in outputs.items()}}


def _unchanged_report(report: dict) -> BuildReport:
    topics = {topic: TopicChanges(unchanged=ids) for topic, ids in report["topics"].items()}
    warnings = [Problem(**{k: v for k, v in p.items()}) for p in report["warnings"]]
    packages = [Package(Path(path), notes, False) for path, notes in report["packages"].items()]
    return BuildReport(Changes(topics, []), warnings, packages)


def _digest(content: list) -> str:
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:16]


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


def _fingerprint(decks, state: State) -> str:
    content = [
        [[d.topic.id, d.topic.deck, [[n.card_id, state.notes[n.card_id].digest,
                                     state.notes[n.card_id].mtime] for n in d.notes]]
         for d in decks],
        sorted((k, s.digest, s.mtime) for k, s in state.notetypes.items()),
    ]
    return _digest(content)


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # unknown: everything counts as changed


def _save_json(path: Path, data: dict) -> None:
    from deckgen.atomic import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(data, indent=1, sort_keys=True).encode())
