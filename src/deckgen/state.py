"""What the previous build shipped, kept beside the sources.

Anki updates an existing note on import only when the package's modification
time is strictly newer (whole seconds) than the collection's, and then replaces
fields and tags wholesale. So a note's mtime must move exactly when its rendered
content does. The state file records, per note, a digest of its content and its
mtime (plus its topic and a digest of its text alone, to report removed and
renamed cards, and its kind, basic or cloze, which an import cannot change), and
per note type a digest, mtime and schema. It is committed with the cards, so every
clone builds the same mtimes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

from deckgen.atomic import write_atomically
from deckgen.errors import Problem, SourceErrors

STATE_FILE = "deckgen-state.json"
KEY_AT_LINE = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*:')  # how dump_state starts an entry
VERSION = 1


class NoteStamp(NamedTuple):  # tuples: ten thousand of them load and compare quickly
    digest: str  # everything Anki stores for the note: note type, fields, tags
    mtime: int
    topic: str
    text: str  # the card's text alone, without its id: finds renamed cards
    notetype: str = ""  # "basic" or "cloze" ("": a state file written before it was kept)


class TypeStamp(NamedTuple):
    digest: str  # name, fields, templates and CSS
    mtime: int
    schema: str  # fields and template names: what Anki cannot change in place


@dataclass
class State:
    notes: dict[str, NoteStamp] = field(default_factory=dict)
    notetypes: dict[str, TypeStamp] = field(default_factory=dict)


Stamp = TypeVar("Stamp", NoteStamp, TypeStamp)
class ShippedStamp(NamedTuple):
    """What the newest package built on this machine held for a card."""

    mtime: int
    digest: str
    notetype: str = ""  # "": a record written before it was kept


Shipped = dict[str, ShippedStamp]  # by card id


def with_mtimes(previous: dict[str, Stamp], current: dict[str, Stamp],
                now: int) -> dict[str, Stamp]:
    """Give `current` stamps (mtime not yet set) their mtimes: unchanged keys keep theirs,
    changed or new ones get `now`, or one second past the old mtime if that is later."""
    stamps = {}
    for key, stamp in current.items():
        old = previous.get(key)
        if old is None:
            stamps[key] = stamp._replace(mtime=now)
        elif old.digest != stamp.digest:
            stamps[key] = stamp._replace(mtime=max(now, old.mtime + 1))
        elif old[2:] == stamp[2:]:
            stamps[key] = old  # the common case, worth sparing a copy
        else:
            stamps[key] = stamp._replace(mtime=old.mtime)
    return stamps


def never_back(stamps: dict[str, NoteStamp], shipped: Shipped, now: int,
               restamp_ids: frozenset[str] = frozenset(),
               returning: frozenset[str] = frozenset()) -> dict[str, NoteStamp]:
    """Stamps whose mtimes never go back from what a build on this machine shipped.

    The state file is committed, so `git revert`, a checkout or a branch switch can bring
    back an older stamp with older content. Anki already holds the newer content and would
    keep it, as the package's copy looks older: such a note gets a new mtime. Cards in
    `restamp_ids` get one too, whatever this machine shipped (for learners who got a
    package built elsewhere). A card `returning` to the state file (named back, or added
    again) with the very content last shipped gets that stamp back: Anki holds it already,
    and an import would only overwrite the learner's own edits with it."""
    out = {}
    for key, stamp in stamps.items():
        mtime, content, _ = shipped.get(key, ShippedStamp(0, stamp.digest))
        if key in restamp_ids:
            stamp = stamp._replace(mtime=max(now, stamp.mtime + 1, mtime + 1))
        elif content != stamp.digest and stamp.mtime <= mtime:
            stamp = stamp._replace(mtime=max(now, mtime + 1))
        elif stamp.mtime < mtime or (key in returning and mtime and content == stamp.digest):
            stamp = stamp._replace(mtime=mtime)  # same content: never an older time
        out[key] = stamp
    return out


def load_state(path: Path, raw: bytes | None = None, checked: bool = False) -> State:
    """The saved state (`raw`, its bytes, if already read), or an empty one (everything
    counts as changed). `checked`: the bytes are those a build wrote, whose values need
    no checking again."""
    try:
        raw = path.read_bytes() if raw is None else raw
        data = json.loads(raw.decode("utf-8"))  # json alone would take UTF-16 and UTF-32
        if data.get("version") != VERSION:
            return State()  # written by another deckgen: start afresh
        if not checked:
            _check(path, data, raw)
        return State({k: NoteStamp(*v) for k, v in data["notes"].items()},
                     {k: TypeStamp(*v) for k, v in data["notetypes"].items()})
    except FileNotFoundError:
        return State()
    except RecursionError:
        raise SourceErrors([Problem(str(path), 1, "cannot read the build state (nested too"
                                    " deeply); delete it to treat every card as changed")],
                           ) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        line = getattr(e, "lineno", 1)
        raise SourceErrors([Problem(str(path), line, f"cannot read the build state ({e});"
                                    " fix it, or delete it to treat every card as changed")]) from e


def _check(path: Path, data: dict, raw: bytes) -> None:
    """Values of the wrong type or range, each at its line (dump_state writes one a line)."""
    from deckgen.state_check import stamp_problem

    wrong = [(section, key, message)
             for section, sizes in (("notetypes", (3,)), ("notes", (4, 5)))
             for key, stamp in data[section].items()
             if (message := stamp_problem(key, stamp, sizes))]
    if not wrong:
        return
    lines = key_lines(raw)
    raise SourceErrors([Problem(
        str(path), lines.get((section, str(key)), 1),
        f"cannot read the build state: {message}; fix it, or delete the file to treat every"
        " card as changed") for section, key, message in wrong])


def key_lines(raw: bytes) -> dict[tuple[str, str], int]:
    """The first line of each entry of a state file, by section ("notes", "notetypes")
    and key, found in one pass: a line that opens a section names it, as dump_state
    writes them (a file written otherwise gives fewer lines)."""
    lines: dict[tuple[str, str], int] = {}
    section = ""
    for n, text in enumerate(raw.decode("utf-8").splitlines(), 1):
        if (key := KEY_AT_LINE.match(text)) is None:
            continue
        if key.group(1) in ("notes", "notetypes") and text.rstrip().endswith("{"):
            section = key.group(1)
        else:
            lines.setdefault((section, key.group(1)), n)
    return lines


def too_late(state: State, path: Path, raw: bytes | None) -> None:
    """Raise for the cards and note types whose new time would pass the largest a state
    file may hold (reached only from a time set by hand): the file written would be
    refused by every later build that checks it."""
    from deckgen.state_check import MAX_MTIME

    late = [(f"{what} '{key}'", (section, key))
            for what, section, stamps in (("card", "notes", state.notes),
                                          ("note type", "notetypes", state.notetypes))
            for key, stamp in stamps.items() if stamp.mtime > MAX_MTIME]
    if late:
        lines = key_lines(raw) if raw else {}
        raise SourceErrors([Problem(str(path), lines.get(where, 1), (
            f"{name}: changed, it needs a time after its last, 9999-12-31, the largest"
            " allowed; set the time on this line lower")) for name, where in late])


def dump_state(state: State) -> str:
    """Sorted, one entry a line: small, readable diffs when cards change."""

    def section(stamps: dict) -> str:
        # Keys are slugs; a stamp is a digest, its mtime, then slugs and hex digests:
        # nothing to escape.
        rows = [f'    "{key}": ["{s.digest}", {s.mtime}, "' + '", "'.join(_names(s)) + '"]'
                for key, s in sorted(stamps.items())]
        return "{\n" + ",\n".join(rows) + "\n  }" if rows else "{}"

    return (f'{{\n  "version": {VERSION},\n  "notetypes": {section(state.notetypes)},\n'
            f'  "notes": {section(state.notes)}\n}}\n')


def _names(stamp: NoteStamp | TypeStamp) -> tuple[str, ...]:
    """A stamp's values after its mtime; a note's kind is left out while unknown (a state
    file written before it was kept, not built since)."""
    return stamp[2:4] if isinstance(stamp, NoteStamp) and not stamp.notetype else stamp[2:]


def save_state(path: Path, state: State) -> None:
    save_dumped(path, dump_state(state))


def save_dumped(path: Path, text: str) -> None:
    """Write a state as dump_state gave it, unless the file holds it already."""
    data = text.encode()
    if not path.is_file() or path.read_bytes() != data:
        write_atomically(path, data)
