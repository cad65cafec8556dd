"""When each note and note type last changed, kept beside the sources.

Anki updates an existing note on import only when the package's modification
time is strictly newer (whole seconds) than the collection's, and then replaces
fields and tags wholesale. So a note's mtime must move exactly when its rendered
content does. The state file records a digest and an mtime per note and note
type; it is committed with the cards so every clone builds the same mtimes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from deckgen.atomic import write_atomically
from deckgen.errors import Problem, SourceErrors

STATE_FILE = "deckgen-state.json"
VERSION = 1


@dataclass(frozen=True)
class Stamp:
    digest: str
    mtime: int


@dataclass
class State:
    notes: dict[str, Stamp] = field(default_factory=dict)
    notetypes: dict[str, Stamp] = field(default_factory=dict)


def restamp(previous: dict[str, Stamp], current: dict[str, str], now: int) -> dict[str, Stamp]:
    """New stamps for `current` (key -> digest): unchanged keys keep their mtime,
    changed or new ones get `now`, or one second past the old mtime if that is later."""
    stamps = {}
    for key, digest in current.items():
        old = previous.get(key)
        if old is not None and old.digest == digest:
            stamps[key] = old
        else:
            stamps[key] = Stamp(digest, max(now, old.mtime + 1) if old else now)
    return stamps


def load_state(path: Path) -> State:
    """The saved state, or an empty one (everything counts as changed)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            return State()  # written by another deckgen: start afresh
        return State(_stamps(data["notes"]), _stamps(data["notetypes"]))
    except FileNotFoundError:
        return State()
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        line = getattr(e, "lineno", 1)
        raise SourceErrors([Problem(str(path), line, f"cannot read the build state ({e});"
                                    " fix it, or delete it to treat every card as changed")])


def _stamps(raw: dict) -> dict[str, Stamp]:
    return {key: Stamp(str(value[0]), int(value[1])) for key, value in raw.items()}


def dump_state(state: State) -> str:
    """Sorted, one entry a line: small, readable diffs when cards change."""

    def section(stamps: dict[str, Stamp]) -> str:
        rows = [f"    {json.dumps(key)}: [{json.dumps(s.digest)}, {s.mtime}]"
                for key, s in sorted(stamps.items())]
        return "{\n" + ",\n".join(rows) + "\n  }" if rows else "{}"

    return (f'{{\n  "version": {VERSION},\n  "notetypes": {section(state.notetypes)},\n'
            f'  "notes": {section(state.notes)}\n}}\n')


def save_state(path: Path, state: State) -> None:
    write_atomically(path, dump_state(state).encode())
