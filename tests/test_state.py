import json

import pytest

from deckgen import build as building
from deckgen.errors import SourceErrors
from deckgen.record import Record
from deckgen.state import (
    STATE_FILE,
    NoteStamp,
    State,
    TypeStamp,
    dump_state,
    load_state,
    save_state,
    too_late,
    with_mtimes,
)
from deckgen.state_check import MAX_MTIME
from helpers import run


def stamp(digest: str, mtime: int = 0) -> NoteStamp:
    return NoteStamp(digest, mtime, "topic", "text")


def test_unchanged_keeps_mtime_changed_moves_new_gets_now():
    previous = {"same": stamp("d1", 100), "edited": stamp("d2", 100)}
    current = {"same": stamp("d1"), "edited": stamp("d2x"), "new": stamp("d3")}
    stamps = with_mtimes(previous, current, now=500)
    assert stamps == {"same": stamp("d1", 100), "edited": stamp("d2x", 500),
                      "new": stamp("d3", 500)}


def test_change_within_the_same_second_is_still_strictly_newer():
    stamps = with_mtimes({"card": stamp("old", 500)}, {"card": stamp("new")}, now=500)
    assert stamps["card"].mtime == 501


def test_round_trip_is_sorted_and_one_entry_per_line(tmp_path):
    state = State(notes={"b": NoteStamp("x", 2, "t", "tx"), "a": NoteStamp("y", 1, "t", "ty")},
                  notetypes={"basic": TypeStamp("z", 3, "s")})
    path = tmp_path / STATE_FILE
    save_state(path, state)
    assert load_state(path) == state
    text = path.read_text()
    assert text == dump_state(state)
    assert text.index('"a"') < text.index('"b"')
    assert '    "a": ["y", 1, "t", "ty"],' in text.splitlines()


def test_missing_state_means_everything_changed(tmp_path):
    assert load_state(tmp_path / STATE_FILE) == State()


def test_corrupt_state_is_a_clear_error(tmp_path):
    path = tmp_path / STATE_FILE
    path.write_text('{\n  "version": 1,\n<<<<<<< HEAD\n')
    with pytest.raises(SourceErrors) as info:
        load_state(path)
    assert str(info.value).startswith(f"{path}:3: error: cannot read the build state")


def test_a_state_file_that_appears_during_a_first_build_is_checked(cards, tmp_path):
    """With no record yet, a state file the build did not see when it read the cards
    folder (a checkout while a first build renders) is read afresh, and checked."""
    found = building._read_cards_folder(cards)
    assert STATE_FILE not in found[0]
    (cards / STATE_FILE).write_text('{"version": 1, "notetypes": {}, "notes":'
                                    ' {"scaled-dot-product": ["d", "soon", "attention", "t"]}}')
    with pytest.raises(SourceErrors, match="cannot read the build state"):
        building._plan(cards, tmp_path / "build", found, Record(), None, False, frozenset(),
                       None)


def test_a_time_that_would_pass_the_largest_allowed_is_an_error(cards, tmp_path):
    """The state file allows times up to 9999-12-31; a card stamped there and edited
    would get the next second, a state file no fresh clone could read. The build stops
    at the card's line in the state file instead, and writes nothing."""
    out = tmp_path / "build"
    assert run("build", "--cards", cards, "--out", out).exit_code == 0
    path = cards / STATE_FILE
    rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    line = next(n for n, row in enumerate(rows, 1) if '"tex-cloze"' in row)
    mtime = json.loads("".join(rows))["notes"]["tex-cloze"][1]
    rows[line - 1] = rows[line - 1].replace(f", {mtime},", f", {MAX_MTIME},")
    path.write_text("".join(rows), encoding="utf-8")
    assert run("build", "--cards", cards, "--out", out).exit_code == 0  # allowed as it is
    written = path.read_bytes()
    figures = cards / "more" / "figures.yaml"
    figures.write_text(figures.read_text(encoding="utf-8").replace("c1::", "c1::新", 1),
                       encoding="utf-8")
    for command in ("check", "build"):
        result = run(command, "--cards", cards, "--out", out)
        assert result.exit_code == 1 and result.stderr == (
            f"{path}:{line}: error: card 'tex-cloze': changed, it needs a time after its"
            " last, 9999-12-31, the largest allowed; set the time on this line lower\n")
    assert path.read_bytes() == written


def test_a_note_type_time_past_the_largest_allowed_is_an_error_at_its_line(tmp_path):
    state = State({"a": stamp("d", 5)}, {"basic": TypeStamp("t", MAX_MTIME + 1, "s")})
    raw = dump_state(State({"a": stamp("d", 5)},
                           {"basic": TypeStamp("t", MAX_MTIME, "s")})).encode()
    with pytest.raises(SourceErrors) as info:
        too_late(state, tmp_path / STATE_FILE, raw)
    assert str(info.value) == (f"{tmp_path / STATE_FILE}:4: error: note type 'basic': changed,"
                               " it needs a time after its last, 9999-12-31, the largest"
                               " allowed; set the time on this line lower")


def test_a_card_named_like_a_note_type_is_found_at_its_own_line(tmp_path):
    """A card may have the id 'basic', a note type's key too: each at its own section."""
    state = State({"basic": stamp("d", MAX_MTIME + 1)}, {"basic": TypeStamp("t", 5, "s")})
    raw = dump_state(State({"basic": stamp("d", MAX_MTIME)},
                           {"basic": TypeStamp("t", 5, "s")})).encode()
    with pytest.raises(SourceErrors) as info:
        too_late(state, tmp_path / STATE_FILE, raw)
    assert str(info.value).startswith(f"{tmp_path / STATE_FILE}:7: error: card 'basic'")
