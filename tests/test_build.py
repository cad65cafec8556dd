import json
import sqlite3
import zipfile
from contextlib import closing

import pytest

from deckgen import record
from deckgen.build import build
from deckgen.state import STATE_FILE, load_state
from helpers import run


def test_same_second_rebuild_moves_only_edited_notes(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out, now=1000)
    path = cards / "attention.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("梯度", "导数"), encoding="utf-8")
    report = build(cards, out, now=1000)
    state = load_state(cards / STATE_FILE)
    assert report.changes.changed_ids == ["scaled-dot-product"]
    assert state.notes["scaled-dot-product"].mtime == 1001
    assert {k: s.mtime for k, s in state.notes.items() if k != "scaled-dot-product"} == {
        "attention-code": 1000, "attention-formula": 1000, "tex-cloze": 1000,
        "two-figures": 1000}
    assert {s.mtime for s in state.notetypes.values()} == {1000}


def test_packages_are_compressed_and_carry_media(cards, tmp_path):
    build(cards, tmp_path / "build", now=1000)
    with zipfile.ZipFile(tmp_path / "build" / "figures.apkg") as package:
        infos = {i.filename: i for i in package.infolist()}
        assert infos["collection.anki2"].compress_type == zipfile.ZIP_DEFLATED
        assert sorted(infos) == ["0", "1", "collection.anki2", "media"]


def test_the_combined_collection_has_large_pages_and_topics_small_ones(cards, tmp_path):
    # Large pages copy the topics into all.apkg faster and leave less of each page
    # unused; a small topic's collection would only grow with them.
    out = tmp_path / "build"
    build(cards, out)
    sizes = {}
    for package in ("all.apkg", "figures.apkg"):
        with zipfile.ZipFile(out / package) as zf, closing(sqlite3.connect(":memory:")) as db:
            data = zf.read("collection.anki2")
            sizes[package] = int.from_bytes(data[16:18], "big")  # SQLite's file header
            db.deserialize(data)
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sizes == {"all.apkg": 16384, "figures.apkg": 4096}


def test_check_writes_nothing(cards, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("check", "--cards", cards)
    assert result.exit_code == 0
    assert result.stdout == f"{cards}: 5 cards in 2 topics, no problems\n"
    assert not (cards / STATE_FILE).exists() and not (tmp_path / "build").exists()


def test_build_reports_what_it_wrote(cards, tmp_path):
    result = run("build", "--cards", cards, "--out", tmp_path / "out")
    assert result.exit_code == 0
    out = tmp_path / "out"
    assert result.stdout.splitlines() == [
        "attention: 3 added, 0 unchanged",
        "figures:   2 added, 0 unchanged",
        "total:     5 added, 0 unchanged",
        f"wrote: {out / 'attention.apkg'}, {out / 'figures.apkg'}, {out / 'all.apkg'}",
    ]


def test_a_gone_topic_takes_its_package_along(cards, tmp_path):
    out = tmp_path / "out"
    run("build", "--cards", cards, "--out", out)
    (cards / "more" / "figures.yaml").unlink()
    result = run("build", "--cards", cards, "--out", out)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == (
        f"deleted: {out / 'figures.apkg'} (no topic has that id any more)")
    assert sorted(p.name for p in out.glob("*.apkg")) == ["all.apkg", "attention.apkg"]
    assert not (out / ".deckgen-cache" / "databases" / "figures.anki2").exists()


def test_a_package_changed_by_hand_is_never_deleted(cards, tmp_path):
    out = tmp_path / "out"
    run("build", "--cards", cards, "--out", out)
    (out / "figures.apkg").write_bytes(b"mine now")
    (cards / "more" / "figures.yaml").unlink()
    output = run("build", "--cards", cards, "--out", out).stdout
    assert "deleted" not in output
    assert (f"kept: {out / 'figures.apkg'} (no topic has that id any more, but deckgen did not"
            " write what is there now; delete it if unwanted)") in output
    assert (out / "figures.apkg").read_bytes() == b"mine now"
    assert "kept:" not in run("build", "--cards", cards, "--out", out).stdout  # said once


def test_console_entry_point_reports_errors_without_traceback(tmp_path):
    import subprocess
    import sys

    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "t.yaml").write_text("deck: D\ncards:\n  - id: a\n    front: Q\n")
    result = subprocess.run([sys.executable, "-m", "deckgen", "build"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == "cards/t.yaml:3: error: card 'a': missing key 'back' (or use 'cloze')\n"
    assert not (tmp_path / "build").exists()


def test_long_answer_warns_unless_allowed(tmp_path):
    long_back = "长" * 151
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "t.yaml").write_text(
        f"deck: D\ncards:\n  - id: a\n    front: Q1\n    back: {long_back}\n"
        f"  - id: b\n    front: Q2\n    back: {long_back}\n    allow: [long-back]\n",
        encoding="utf-8")
    result = run("check", "--cards", cards)
    assert result.exit_code == 0
    assert result.stderr == (f"{cards}/t.yaml:3: warning: card 'a': answer is 151 long (limit"
                             " 150); shorten it, move detail to 'extra', or add allow:"
                             " [long-back]\n")
    assert result.stdout.endswith("2 cards in 1 topic, 1 warning\n")


def test_an_output_folder_inside_the_cards_folder_is_not_read_as_sources(cards):
    """`cd cards && deckgen build --cards .` writes into cards/build: its packages are
    not the bank's files, and a second build has nothing to do."""
    out = cards / "build"
    run("build", "--cards", cards, "--out", out)
    assert "wrote: nothing" in run("build", "--cards", cards, "--out", out).output
    assert not [rel for rel in record.load(out).inputs if rel.startswith("build/")]


def test_the_cards_folder_itself_as_the_output_folder_still_builds(cards):
    result = run("build", "--cards", cards, "--out", cards)
    assert result.exit_code == 0, result.stderr
    assert (cards / "all.apkg").is_file()


def test_an_output_folder_holding_topic_files_is_an_error(cards, tmp_path):
    """`--out cards/more` would leave out the topics in cards/more: their cards reported
    removed, their package deleted, their notes pruned by sync. Nothing is written."""
    out = tmp_path / "build"
    run("build", "--cards", cards, "--out", out)
    state = (cards / STATE_FILE).read_bytes()
    result = run("build", "--cards", cards, "--out", cards / "more")
    assert result.exit_code == 1
    assert result.stderr == (f"{cards / 'more'}:1: error: this output folder holds topic files"
                             " (figures.yaml), which a build into it would leave out; give"
                             " --out a folder of its own\n")
    assert (cards / STATE_FILE).read_bytes() == state
    assert not (cards / "more" / "all.apkg").exists()


def test_an_image_replaced_while_the_build_runs_is_not_shipped_under_its_old_name(
        cards, tmp_path, monkeypatch):
    """An image's name in the package is made from the bytes the build read: replaced
    before it is packed, other bytes would ship under that name, and Anki never takes a
    new file for a name it has. The build stops instead, and writes nothing."""
    from deckgen import package
    from deckgen.errors import SourceErrors

    image = cards / "img" / "a" / "figure.png"
    write_topic = package.write_topic

    def replaced_first(*args, **kwargs):
        image.write_bytes(image.read_bytes() + b"another picture")
        return write_topic(*args, **kwargs)

    monkeypatch.setattr(package, "write_topic", replaced_first)
    out = tmp_path / "build"
    with pytest.raises(SourceErrors) as info:
        build(cards, out)
    assert str(info.value) == (f"{image}:1: error: changed while the build read it; run the"
                               " build again")
    assert not (out / "all.apkg").exists() and not (cards / STATE_FILE).exists()


def test_deck_names_are_written_as_anki_stores_them(tmp_path):
    """Anki trims spaces and colons around each '::' part: the package, and the report,
    name the deck as the learner will see it."""
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "t.yaml").write_text('deck: "X :: Y:::Z "\ncards:\n  - id: a\n    front: Q\n'
                                  "    back: A\n", encoding="utf-8")
    out = tmp_path / "build"
    build(cards, out)
    with zipfile.ZipFile(out / "t.apkg") as zf, closing(sqlite3.connect(
            zf.extract("collection.anki2", tmp_path))) as conn:
        decks = json.loads(conn.execute("SELECT decks FROM col").fetchone()[0])
    assert sorted(deck["name"] for deck in decks.values()) == ["Default", "X::Y::Z"]


def test_an_image_in_the_output_folder_is_an_error_not_a_traceback(tmp_path):
    cards = tmp_path / "cards"
    (cards / "build").mkdir(parents=True)
    (cards / "build" / "a.png").write_bytes(b"\x89PNG")
    (cards / "t.yaml").write_text("deck: D\ncards:\n  - id: a\n    front: '![x](build/a.png)'\n"
                                  "    back: A\n", encoding="utf-8")
    for command in ("check", "build"):
        result = run(command, "--cards", cards, "--out", cards / "build")
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.stderr == (f"{cards / 't.yaml'}:3: error: card 'a': image 'build/a.png'"
                                 " is in the output folder, whose files builds do not read"
                                 " (they would not see it change); move it\n")
