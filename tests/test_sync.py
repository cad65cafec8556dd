"""`deckgen sync` against real collections: what it changes, and everything it must not."""

from __future__ import annotations

import hashlib
import pickle
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from anki._backend import RustBackend
from anki.collection import Collection
from anki.scheduler.v3 import CardAnswer

from deckgen import ids
from deckgen.state import STATE_FILE, load_state
from helpers import import_package, run
from test_updates import remove_card

SCHEDULING = "id, due, ivl, factor, queue, type, reps, lapses, left, odue, odid, flags, data"


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    """A profile folder as Anki lays it out, with a new, closed collection."""
    folder = tmp_path / "Anki2" / "User 1"
    folder.mkdir(parents=True)
    Collection(str(folder / "collection.anki2")).close()
    return folder


def sync(cards: Path, profile: Path, *args: str):
    return run("sync", "--cards", cards, "--out", cards.parent / "build",
               "--collection", profile / "collection.anki2", *args)


def synced(cards: Path, profile: Path, *args: str) -> list[str]:
    result = sync(cards, profile, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def notes_by_card(col: Collection) -> dict[str, object]:
    """Every note by its CardId field; "" for notes without one."""
    notes = map(col.get_note, col.find_notes(""))
    return {dict(note.items()).get("CardId", ""): note for note in notes}


def study(col: Collection, count: int) -> None:
    """Answer `count` new cards Good, as a learner would in the reviewer."""
    col.decks.select(col.decks.id_for_name("测试"))
    for queued in col.sched.get_queued_cards(fetch_limit=count).cards:
        card = col.get_card(queued.card.id)
        card.start_timer()
        col.sched.answer_card(col.sched.build_answer(card=card, states=queued.states,
                                                     rating=CardAnswer.GOOD))


def edit_card(cards: Path) -> None:
    """Edit the back of 'scaled-dot-product'."""
    attention = cards / "attention.yaml"
    attention.write_text(attention.read_text(encoding="utf-8").replace("梯度", "导数"),
                         encoding="utf-8")


def restore(backup: Path, folder: Path) -> Collection:
    """Open a backup as Anki's Restore from Backup does."""
    folder.mkdir()
    RustBackend().import_collection_package(
        col_path=str(folder / "collection.anki2"), backup_path=str(backup),
        media_folder=str(folder / "collection.media"), media_db=str(folder / "media.db"))
    return Collection(str(folder / "collection.anki2"))


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.iterdir() if p.is_file()}


def test_sync_keeps_tags_moves_prunes_and_leaves_scheduling_alone(cards, profile):
    synced(cards, profile)
    path = str(profile / "collection.anki2")
    col = Collection(path)
    study(col, 4)
    edited = notes_by_card(col)["scaled-dot-product"]
    edited.tags += ["marked", "我的"]
    col.update_note(edited)
    # As if tagged before the edit below was built: a test runs within one second, and
    # the import updates a note only if the package's copy is strictly newer.
    col.db.execute("UPDATE notes SET mod = mod - 5 WHERE id = ?", edited.id)
    foreign = col.new_note(col.models.get(ids.NOTETYPE_IDS["basic"]))
    foreign["Front"], foreign["CardId"] = "another bank's card", "other-bank"
    col.add_note(foreign, col.decks.id_for_name("测试::图片"))
    basic = col.new_note(col.models.by_name("Basic"))
    basic["Front"] = "a learner's own note"
    col.add_note(basic, 1)
    deleted = notes_by_card(col)["attention-code"]
    removed_cards = deleted.card_ids()
    scheduling = {row[0]: row for row in col.db.all(f"SELECT {SCHEDULING} FROM cards")}
    revlog = col.db.all("SELECT * FROM revlog ORDER BY id")
    assert len(revlog) == 4
    col.close()

    attention = cards / "attention.yaml"
    remove_card(attention, "attention-code")
    moved = remove_card(attention, "attention-formula")
    figures = cards / "more" / "figures.yaml"
    figures.write_text(figures.read_text(encoding="utf-8") + moved, encoding="utf-8")
    edit_card(cards)
    refused = sync(cards, profile, "--prune", "--move-cards")  # not on a terminal
    assert refused.exit_code == 1
    assert refused.stderr == (
        "--prune would delete the notes of 1 card no longer in the sources"
        " (attention-code); pass --yes to delete them without asking; nothing was changed\n")
    lines = synced(cards, profile, "--prune", "--move-cards", "--yes")

    backup = profile / "backups" / lines[-2].split("/")[-1]
    assert lines == [
        "updated: 'scaled-dot-product' (kept tags: marked 我的)",
        "updated: 'attention-formula'",  # its Source field names its new file
        "moved: 'attention-formula' from \"测试::Transformer 与注意力\" to \"测试::图片\"",
        "deleted: 'attention-code'",
        f"backup: {backup}",
        f"synced {path}: 0 added, 2 updated, 2 unchanged, 1 deleted, 1 moved, tags kept on 1",
    ]
    restored = restore(backup, profile.parent / "restored")
    assert "attention-code" in notes_by_card(restored)  # as it was before this sync
    assert "marked" in notes_by_card(restored)["scaled-dot-product"].tags
    restored.close()
    col = Collection(path)
    try:
        notes = notes_by_card(col)
        assert set(notes) == {"scaled-dot-product", "attention-formula", "two-figures",
                              "tex-cloze", "other-bank", ""}
        note = notes["scaled-dot-product"]
        assert "导数" in note["Back"] and "梯度" not in note["Back"]
        assert sorted(note.tags) == ["attention", "level::basic", "marked", "transformer", "我的"]
        stamps = load_state(cards / STATE_FILE).notes
        assert note.mod == stamps["scaled-dot-product"].mtime  # as an import leaves it
        figures_deck = col.decks.id_for_name("测试::图片")
        moved_cards = notes["attention-formula"].card_ids()
        assert len(moved_cards) == 2
        assert {col.get_card(cid).did for cid in moved_cards} == {figures_deck}
        after = {row[0]: row for row in col.db.all(f"SELECT {SCHEDULING} FROM cards")}
        assert set(after) == set(scheduling) - set(removed_cards)
        assert {cid: after[cid] for cid in after} == {cid: scheduling[cid] for cid in after}
        assert col.db.all("SELECT * FROM revlog ORDER BY id") == revlog
        # Pending for the next AnkiWeb sync, as if done in Anki.
        assert col.db.scalar("SELECT usn FROM notes WHERE id = ?", note.id) == -1
        assert {col.db.scalar("SELECT usn FROM cards WHERE id = ?", c) for c in moved_cards} \
            == {-1}
        graves = set(map(tuple, col.db.all("SELECT oid, type FROM graves WHERE usn = -1")))
        assert graves == {(deleted.id, 1), *((cid, 0) for cid in removed_cards)}
    finally:
        col.close()


def test_sync_and_a_manual_import_leave_identical_notes(cards, profile, tmp_path):
    manual = tmp_path / "manual" / "collection.anki2"
    manual.parent.mkdir()
    Collection(str(manual)).close()

    def rows(path) -> list:
        col = Collection(str(path))
        try:
            return col.db.all(
                "SELECT n.guid, n.mid, n.mod, n.usn, n.tags, n.flds,"
                " (SELECT name FROM decks WHERE id = c.did), c.ord, c.type,"
                " c.queue, c.due, c.ivl FROM notes n JOIN cards c ON c.nid = n.id"
                " ORDER BY n.guid, c.ord")
        finally:
            col.close()

    for edit in (False, True):  # adds, then an update
        if edit:
            edit_card(cards)
        synced(cards, profile)
        col = Collection(str(manual))
        import_package(col, cards.parent / "build" / "all.apkg")
        col.close()
        assert rows(profile / "collection.anki2") == rows(manual)


def test_a_collection_in_use_is_refused_and_left_unchanged(cards, profile):
    synced(cards, profile)
    edit_card(cards)
    anki = Collection(str(profile / "collection.anki2"))  # Anki desktop, say
    try:
        before = file_hashes(profile)
        assert "collection.anki2-wal" in before
        for args in ((), ("--dry-run",)):
            result = sync(cards, profile, *args)
            assert result.exit_code == 1
            assert result.stderr.startswith(f"{profile / 'collection.anki2'}: the"
                                            " collection is in use (")
            assert result.stderr.endswith(
                f"). Close Anki and run deckgen sync again, or import"
                f" {cards.parent / 'build' / 'all.apkg'} with File > Import; nothing was"
                " changed\n")
            assert file_hashes(profile) == before
        assert len(list((profile / "backups").iterdir())) == 1  # the first sync's
    finally:
        anki.close()


def test_dry_run_reports_everything_and_changes_no_byte(cards, profile):
    synced(cards, profile)
    remove_card(cards / "attention.yaml", "attention-code")
    edit_card(cards)
    before = file_hashes(profile)
    lines = synced(cards, profile, "--dry-run", "--prune")
    assert file_hashes(profile) == before
    assert lines == [
        "would update: 'scaled-dot-product'",
        "would delete: 'attention-code'",
        "backup: none (nothing was changed)",
        (f"dry run, would sync {profile / 'collection.anki2'}: 0 added, 1 updated,"
         " 3 unchanged, 1 deleted, 0 moved, tags kept on 0"),
    ]
    real = synced(cards, profile, "--prune", "--yes")
    assert real[-1].split(": ")[1] == lines[-1].split(": ")[1]


def test_deletions_are_confirmed_on_a_terminal(cards, profile, monkeypatch):
    synced(cards, profile)
    remove_card(cards / "attention.yaml", "attention-code")
    monkeypatch.setattr("deckgen.cli.on_terminal", lambda: True)
    before = file_hashes(profile)
    declined = run("sync", "--cards", cards, "--out", cards.parent / "build", "--collection",
                   profile / "collection.anki2", "--prune", input="n\n")
    assert declined.exit_code == 1
    assert declined.stdout == ("delete the notes of 1 card no longer in the sources"
                               " (attention-code), with their review history? [y/N]: n\n")
    assert declined.stderr == "nothing was changed\n"
    assert file_hashes(profile) == before
    # Ctrl+C or Ctrl+D at the question: interrupted, as anywhere else.
    interrupted = run("sync", "--cards", cards, "--out", cards.parent / "build",
                      "--collection", profile / "collection.anki2", "--prune", input="")
    assert (interrupted.exit_code, interrupted.stderr) == (130, "interrupted\n")
    assert file_hashes(profile) == before
    confirmed = run("sync", "--cards", cards, "--out", cards.parent / "build", "--collection",
                    profile / "collection.anki2", "--prune", input="y\n")
    assert "deleted: 'attention-code'" in confirmed.stdout.splitlines()


def anki_base(tmp_path: Path, last: str | None, global_data: bytes | None = None) -> Path:
    """Anki's base folder: profiles First and Second, and prefs21.db as Anki writes it."""
    base = tmp_path / "Anki2"
    for name in ("First", "Second"):
        (base / name).mkdir(parents=True)
        Collection(str(base / name / "collection.anki2")).close()
    meta = {"ver": 0, "created": 1, "last_loaded_profile_name": last, "defaultLang": "zh_CN"}
    db = sqlite3.connect(base / "prefs21.db")
    db.execute("CREATE TABLE profiles (name TEXT PRIMARY KEY COLLATE NOCASE, data BLOB NOT NULL)")
    db.executemany("INSERT INTO profiles VALUES (?, ?)", [
        ("_global", global_data or pickle.dumps(meta, protocol=4)),
        ("First", pickle.dumps({"mainWindowState": b"\x00"}, protocol=4)),
        ("Second", pickle.dumps({}, protocol=4))])
    db.commit()
    db.close()
    return base


def test_profile_is_found_in_ankis_base_folder(cards, tmp_path, monkeypatch):
    base = anki_base(tmp_path, last="Second")
    monkeypatch.setenv("ANKI_BASE", str(base))
    out = ("--cards", cards, "--out", tmp_path / "build")
    result = run("sync", *out, "--profile", "first")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith(f"synced {base / 'First'}/collection.anki2")
    result = run("sync", *out)  # the one Anki opened last
    assert result.stdout.splitlines()[-1].startswith(f"synced {base / 'Second'}/")
    assert len(list((base / "Second" / "backups").iterdir())) == 1
    result = run("sync", *out, "--profile", "Third")
    assert result.exit_code == 1
    assert result.stderr == (f"{base}: no profile named 'Third'; profiles found:"
                             " 'First', 'Second'\n")


def test_preferences_are_read_as_data_only(cards, tmp_path, monkeypatch):
    """A pickle that would run a command runs nothing; with no profile known as opened
    last, there is no default among several."""
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (__import__("os").system, (f"touch {marker}",))

    base = anki_base(tmp_path, last=None, global_data=pickle.dumps(
        {"last_loaded_profile_name": Exploit()}, protocol=4))
    monkeypatch.setenv("ANKI_BASE", str(base))
    result = run("sync", "--cards", cards, "--out", tmp_path / "build")
    assert not marker.exists()
    assert result.exit_code == 1
    assert result.stderr == (f"{base}: several profiles and none known as opened last:"
                             " 'First', 'Second'; choose one with --profile NAME\n")


def test_without_the_anki_library_sync_says_what_to_install(cards, profile, monkeypatch):
    monkeypatch.setitem(sys.modules, "anki", None)  # as if not installed
    result = sync(cards, profile)
    assert result.exit_code == 1
    assert result.stderr == "deckgen sync needs the Anki library: pip install 'deckgen[anki]'\n"


def test_a_moved_bank_is_known_by_its_cards(cards, profile):
    """The record of what was shipped is kept per cards folder, found again by the cards
    in it when the folder was renamed or moved: a tag removed in the YAML is removed."""
    synced(cards, profile)
    moved = cards.rename(cards.parent / "questions")
    attention = moved / "attention.yaml"
    attention.write_text(attention.read_text(encoding="utf-8").replace(
        "tags: [attention, level::basic]", "tags: [attention]"), encoding="utf-8")
    synced(moved, profile)
    col = Collection(str(profile / "collection.anki2"))
    try:
        assert "level::basic" not in notes_by_card(col)["scaled-dot-product"].tags
        keys = [k for k in col.all_config() if k.startswith("deckgen:")]
        assert len(keys) == 1  # the old folder's record moved, not copied
    finally:
        col.close()


def test_a_file_that_is_not_a_collection_is_named_as_such(cards, tmp_path):
    not_one = cards / "attention.yaml"
    before = not_one.read_bytes()
    result = run("sync", "--cards", cards, "--out", tmp_path / "build", "--collection", not_one)
    assert result.exit_code == 1
    assert result.stderr == (f"{not_one}: not an Anki collection (pass the collection.anki2"
                             " of an Anki profile); nothing was changed\n")
    assert not_one.read_bytes() == before


def test_another_bank_never_takes_over_a_record(cards, profile, tmp_path):
    """A second bank sharing card ids with a first one still on disk (a copy, a fork)
    starts its own record: its first --prune deletes nothing of the first bank's."""
    synced(cards, profile)
    other = tmp_path / "other" / "cards"
    other.mkdir(parents=True)
    attention = (cards / "attention.yaml").read_text(encoding="utf-8")
    (other / "attention.yaml").write_text(attention.replace("测试::Transformer", "其他::T"),
                                          encoding="utf-8")
    output = "\n".join(synced(other, profile, "--prune", "--dry-run"))
    assert "two-figures" not in output and "tex-cloze" not in output, output


def test_a_moved_bank_keeps_what_it_may_prune(cards, profile):
    """Cards removed before the move, their notes kept (no --prune), stay known to the
    bank's record, so a --prune after the move still finds them."""
    synced(cards, profile)
    remove_card(cards / "more" / "figures.yaml", "tex-cloze")
    synced(cards, profile)  # the state file forgets it; the collection's record does not
    moved = cards.rename(cards.parent / "questions")
    assert "would delete: 'tex-cloze'" in synced(moved, profile, "--prune", "--dry-run")


def test_a_gone_bank_is_not_taken_over_by_one_that_shares_a_card(cards, profile, tmp_path):
    synced(cards, profile)
    shutil.rmtree(cards)
    other = tmp_path / "other" / "cards"
    other.mkdir(parents=True)
    (other / "t.yaml").write_text("deck: 其他\ncards:\n  - id: two-figures\n    front: Q\n"
                                  "    back: A\n", encoding="utf-8")
    output = "\n".join(synced(other, profile, "--prune", "--dry-run"))
    assert "would delete" not in output, output


def test_a_move_not_made_is_made_by_a_later_sync_with_move_cards(cards, profile):
    """sync reports a move it did not make and advises --move-cards: the next sync, with
    it, must still know where the card is."""
    synced(cards, profile)
    attention = cards / "attention.yaml"
    attention.write_text(attention.read_text(encoding="utf-8").replace(
        'deck: "测试::Transformer 与注意力"', 'deck: "测试::注意力"'), encoding="utf-8")
    assert any(line.startswith("not moved: 'attention-code'")
               for line in synced(cards, profile))
    lines = synced(cards, profile, "--move-cards")
    assert ("moved: 'attention-code' from \"测试::Transformer 与注意力\" to \"测试::注意力\""
            in lines)
    col = Collection(str(profile / "collection.anki2"))
    try:
        note = notes_by_card(col)["attention-code"]
        assert {col.decks.name(card.did) for card in note.cards()} == {"测试::注意力"}
    finally:
        col.close()


def test_prune_names_a_renamed_card_before_deleting_its_history(cards, profile):
    """A card renamed with the same text: the build advises changing the id back to keep
    its review history. sync, which can delete that history, says so too."""
    synced(cards, profile)
    attention = cards / "attention.yaml"
    attention.write_text(attention.read_text(encoding="utf-8").replace(
        "- id: attention-code\n", "- id: attention-snippet\n"), encoding="utf-8")
    refused = sync(cards, profile, "--prune")
    assert refused.exit_code == 1 and refused.stderr == (
        "--prune would delete the notes of 1 card no longer in the sources (attention-code,"
        " renamed to attention-snippet); pass --yes to delete them without asking; nothing"
        " was changed\n")
    lines = synced(cards, profile, "--prune", "--yes")
    assert lines[1:3] == [
        "deleted: 'attention-code'",
        "renamed: 'attention-code' is now 'attention-snippet' with the same text, a new card"
        " without its review history; to keep it, change the id back to 'attention-code' and"
        " restore the backup"]


def test_a_state_file_naming_another_banks_card_prunes_nothing(cards, profile, tmp_path):
    """A bank's committed state file is shared with the bank, so it may name any card:
    --prune deletes only notes this bank shipped, from this folder or into this
    collection, never one the state file merely names."""
    synced(cards, profile)
    other = tmp_path / "other" / "cards"
    other.mkdir(parents=True)
    (other / "t.yaml").write_text("deck: 其他\ncards:\n  - id: butter\n    front: Q\n"
                                  "    back: A\n", encoding="utf-8")
    synced(other, profile)
    state = other / STATE_FILE
    text = state.read_text(encoding="utf-8")
    state.write_text(text.replace('  "notes": {\n', '  "notes": {\n    "two-figures": ['
                                  '"0000000000000000", 1796293206, "t", "0000000000000000",'
                                  ' "basic"],\n'), encoding="utf-8")
    lines = synced(other, profile, "--prune", "--yes")
    assert not any("two-figures" in line for line in lines), lines
    col = Collection(str(profile / "collection.anki2"))
    try:
        assert "two-figures" in notes_by_card(col)
    finally:
        col.close()


def test_a_card_removed_and_built_before_the_first_sync_is_pruned(cards, profile):
    """A collection filled with File > Import, then synced: the build that dropped the
    card from the state file ran before, yet this output folder shipped it."""
    out = cards.parent / "build"
    assert run("build", "--cards", cards, "--out", out).exit_code == 0
    col = Collection(str(profile / "collection.anki2"))
    import_package(col, out / "all.apkg")
    col.close()
    remove_card(cards / "more" / "figures.yaml", "tex-cloze")
    assert run("build", "--cards", cards, "--out", out).exit_code == 0
    assert "deleted: 'tex-cloze'" in synced(cards, profile, "--prune", "--yes")


def test_sync_says_what_it_leaves_to_the_learner(cards, profile):
    """A cloze number removed: its card stays, empty, after a sync as after an import."""
    synced(cards, profile)
    attention = cards / "attention.yaml"
    attention.write_text(attention.read_text(encoding="utf-8").replace(
        "{{c2::$d_k=d_{model}/h$::公式}}", "$d_k=d_{model}/h$"), encoding="utf-8")
    assert synced(cards, profile)[0] == (
        "emptied: 'attention-formula' has no c2 any more; Anki keeps that card, empty, until"
        " learners run Tools > Empty Cards")


def test_a_removed_card_with_the_text_of_one_learners_have_is_no_rename(cards, profile):
    """Only a card new to the collection can be the removed one renamed."""
    attention = cards / "attention.yaml"
    card = remove_card(attention, "attention-code")
    attention.write_text(attention.read_text(encoding="utf-8") + card
                         + card.replace("id: attention-code", "id: attention-copy"),
                         encoding="utf-8")
    synced(cards, profile)
    remove_card(attention, "attention-code")
    lines = synced(cards, profile, "--prune", "--yes")
    assert "deleted: 'attention-code'" in lines
    assert not any("renamed" in line for line in lines), lines
