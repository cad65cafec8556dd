"""The pipeline: load -> render -> stamp -> package. Only `build` writes."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from deckgen.errors import DeckgenError, Problem, SourceErrors
from deckgen.lints import lint_topics
from deckgen.loader import COMBINED, load_topics
from deckgen.model import Note, Topic
from deckgen.notetypes import note_types
from deckgen.render import MarkdownRenderer, render_topic
from deckgen.state import STATE_FILE, State, load_state, restamp, save_state


@dataclass(frozen=True)
class Package:
    path: Path
    notes: int


@dataclass(frozen=True)
class BuildReport:
    topics: int
    notes: int
    changed: list[str]  # card ids whose content changed since the last build
    packages: list[Package]
    warnings: list[Problem]


@dataclass(frozen=True)
class Checked:
    rendered: list[tuple[Topic, list[Note]]]
    warnings: list[Problem]


def check(cards_dir: Path) -> Checked:
    """Load and render everything; raise SourceErrors listing every problem."""
    if not cards_dir.is_dir():
        raise DeckgenError(f"{cards_dir}: no such folder (pass --cards DIR)")
    topics, problems = load_topics(cards_dir)
    renderer = MarkdownRenderer(cards_dir)
    rendered = [(topic, render_topic(topic, renderer)) for topic in topics]
    problems += renderer.problems
    if problems:
        raise SourceErrors(problems)
    if not topics:
        raise DeckgenError(f"{cards_dir}: no *.yaml topic files found")
    return Checked(rendered, sorted(lint_topics(topics)))


def build(cards_dir: Path, out_dir: Path, now: int | None = None) -> BuildReport:
    """Build one package per topic plus the combined one; write nothing on any error."""
    from deckgen.package import DeckContent, write_package

    checked = check(cards_dir)
    rendered = checked.rendered
    notes = [note for _, topic_notes in rendered for note in topic_notes]
    state_path = cards_dir / STATE_FILE
    previous = load_state(state_path)
    now = int(time.time()) if now is None else now
    types = note_types()
    state = State(
        notes=restamp(previous.notes, {n.card_id: note_digest(n) for n in notes}, now),
        notetypes=restamp(previous.notetypes, {k: t.digest for k, t in types.items()}, now),
    )
    decks = [DeckContent(topic, tuple(topic_notes)) for topic, topic_notes in rendered]
    note_mtimes = {key: s.mtime for key, s in state.notes.items()}
    type_mtimes = {key: s.mtime for key, s in state.notetypes.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {out_dir / f"{d.topic.id}.apkg": [d] for d in decks}
    outputs[out_dir / f"{COMBINED}.apkg"] = decks
    written: dict[Path, Path] = {}
    try:
        for path, content in outputs.items():
            written[path] = write_package(path, content, types, type_mtimes, note_mtimes)
    except BaseException:
        for tmp in written.values():
            tmp.unlink()
        raise
    for path, tmp in written.items():
        os.replace(tmp, path)
    save_state(state_path, state)
    changed = sorted(k for k, s in state.notes.items() if previous.notes.get(k) != s)
    packages = [Package(path, sum(len(d.notes) for d in content))
                for path, content in outputs.items()]
    return BuildReport(len(decks), len(notes), changed, packages, checked.warnings)


def note_digest(note: Note) -> str:
    content = [note.notetype, note.fields, note.tags]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:16]
