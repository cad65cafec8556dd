"""The pipeline: load -> render -> lint -> stamp -> package. Only `build` writes."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from deckgen.changes import Changes, compare
from deckgen.errors import DeckgenError, Problem, SourceErrors
from deckgen.lints import lint
from deckgen.loader import COMBINED, load_topics
from deckgen.model import Note, Topic
from deckgen.notetypes import NoteType, note_types
from deckgen.render import MarkdownRenderer, render_topic
from deckgen.state import STATE_FILE, NoteStamp, State, TypeStamp, load_state, restamp, save_state

PACKAGES_FILE = ".deckgen-packages.json"  # in the output folder: what each package holds


@dataclass(frozen=True)
class Checked:
    rendered: list[tuple[Topic, list[Note]]]
    warnings: list[Problem]

    @property
    def notes(self) -> list[Note]:
        return [note for _, notes in self.rendered for note in notes]


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
    plan: Plan
    packages: list[Package]


def check(cards_dir: Path) -> Checked:
    """Load, render and lint everything; raise SourceErrors if anything is an error."""
    if not cards_dir.is_dir():
        raise DeckgenError(f"{cards_dir}: no such folder (pass --cards DIR)")
    topics, problems = load_topics(cards_dir)
    renderer = MarkdownRenderer(cards_dir)
    rendered = [(topic, render_topic(topic, renderer)) for topic in topics]
    problems += renderer.problems
    if not problems:
        problems += lint(rendered, renderer.media.values(), cards_dir)
    if any(p.level == "error" for p in problems):
        raise SourceErrors(problems)
    if not topics:
        raise DeckgenError(f"{cards_dir}: no *.yaml topic files found")
    return Checked(rendered, sorted(problems))


def plan(cards_dir: Path, now: int | None = None, accept_notetype_change: bool = False) -> Plan:
    checked = check(cards_dir)
    state_path = cards_dir / STATE_FILE
    previous = load_state(state_path)
    types = note_types()
    if not accept_notetype_change:
        _guard_schemas(previous, types, state_path)
    now = int(time.time()) if now is None else now
    notes = {note.card_id: NoteStamp(note_digest(note), 0, topic.id, text_digest(note))
             for topic, notes in checked.rendered for note in notes}
    state = State(
        notes=restamp(previous.notes, notes, now),
        notetypes=restamp(previous.notetypes,
                          {k: TypeStamp(t.digest, 0, t.schema) for k, t in types.items()}, now),
    )
    changes = compare(previous.notes, state.notes, [t.id for t, _ in checked.rendered])
    return Plan(checked, state, changes)


def build(cards_dir: Path, out_dir: Path, now: int | None = None, dry_run: bool = False,
          accept_notetype_change: bool = False) -> BuildReport:
    """Write one package per topic plus the combined one, each only if its content changed;
    write nothing at all on any error, or with `dry_run`."""
    from deckgen.package import DeckContent, write_package

    the_plan = plan(cards_dir, now, accept_notetype_change)
    decks = [DeckContent(topic, tuple(notes)) for topic, notes in the_plan.checked.rendered]
    outputs = {out_dir / f"{d.topic.id}.apkg": [d] for d in decks}
    outputs[out_dir / f"{COMBINED}.apkg"] = decks
    fingerprints = {path.name: _fingerprint(content, the_plan.state)
                    for path, content in outputs.items()}
    shipped = _load_fingerprints(out_dir / PACKAGES_FILE)
    stale = [path for path in outputs
             if shipped.get(path.name) != fingerprints[path.name] or not path.exists()]
    if not dry_run:
        types = note_types()
        note_mtimes = {key: s.mtime for key, s in the_plan.state.notes.items()}
        type_mtimes = {key: s.mtime for key, s in the_plan.state.notetypes.items()}
        out_dir.mkdir(parents=True, exist_ok=True)
        written: dict[Path, Path] = {}
        try:
            for path in stale:
                written[path] = write_package(path, outputs[path], types, type_mtimes,
                                              note_mtimes)
        except BaseException:
            for tmp in written.values():
                tmp.unlink()
            raise
        for path, tmp in written.items():
            os.replace(tmp, path)
        _save_fingerprints(out_dir / PACKAGES_FILE, fingerprints)
        save_state(cards_dir / STATE_FILE, the_plan.state)
    packages = [Package(path, sum(len(d.notes) for d in content), path in stale)
                for path, content in outputs.items()]
    return BuildReport(the_plan, packages)


def note_digest(note: Note) -> str:
    return _digest([note.notetype, note.fields, note.tags])


def text_digest(note: Note) -> str:
    """The card's own text: fields without CardId and Source, so a rename keeps it."""
    return _digest([note.notetype, note.fields[:-2]])


def _digest(content: list) -> str:
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:16]


def _guard_schemas(previous: State, types: dict[str, NoteType], state_path: Path) -> None:
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


def _load_fingerprints(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # unknown: every package counts as changed


def _save_fingerprints(path: Path, fingerprints: dict[str, str]) -> None:
    from deckgen.atomic import write_atomically

    write_atomically(path, json.dumps(fingerprints, indent=1, sort_keys=True).encode())
