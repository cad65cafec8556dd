"""End to end: build with the CLI, import into a real Anki collection, edit, rebuild,
re-import with Anki's default options, and check that only the edited notes changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from anki.collection import Collection

from helpers import build, import_package

EASY = 4


def note_by_id(col: Collection, card_id: str):
    (nid,) = col.find_notes(f"CardId:{card_id}")
    return col.get_note(nid)


def card_ids(col: Collection, log_notes) -> list[str]:
    return sorted(col.get_note(n.id.nid)["CardId"] for n in log_notes)


def schedule(col: Collection, card_id: str) -> tuple:
    card = col.get_card(note_by_id(col, card_id).card_ids()[0])
    return card.type, card.queue, card.ivl, card.due, card.reps, card.factor


def revlog(col: Collection) -> list:
    return col.db.all("select id, cid, ease, ivl, lastIvl, type from revlog order by id")


def answer(col: Collection, card_id: str) -> None:
    card = col.get_card(note_by_id(col, card_id).card_ids()[0])
    col.decks.select(card.did)
    queued = col.sched.getCard()
    assert queued.id == card.id
    col.sched.answerCard(queued, EASY)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_first_import_creates_decks_notes_cards_and_media(cards, tmp_path, collection):
    build(cards, tmp_path / "build")
    log = import_package(collection, tmp_path / "build" / "all.apkg")

    assert len(log.new) == 5 and not log.updated and not log.duplicate
    names = {d.name for d in collection.decks.all_names_and_ids()}
    assert {"测试", "测试::Transformer 与注意力", "测试::图片"} <= names
    assert collection.note_count() == 5
    assert collection.card_count() == 6  # attention-formula has two deletions
    note = note_by_id(collection, "scaled-dot-product")
    assert note.note_type()["name"] == "deckgen Basic"
    assert note["Front"] == (r'<p>为什么注意力分数要除以 <span class="arithmatex">'
                             r"\(\sqrt{d_k}\)</span>？</p>")
    assert note["Source"] == "attention.yaml"  # relative to the cards folder
    assert sorted(note.tags) == ["attention", "level::basic", "transformer"]
    cloze = note_by_id(collection, "attention-formula")
    assert cloze.note_type()["name"] == "deckgen Cloze"
    assert len(cloze.card_ids()) == 2
    media = sorted(Path(collection.media.dir()).iterdir())
    assert [p.name for p in media] == ["figure-e26158d226.png", "figure-ff63f9455e.png"]
    assert media[0].read_bytes() == (cards / "img/a/figure.png").read_bytes()


def test_cloze_with_tex_braces_renders_in_anki(cards, tmp_path, collection):
    build(cards, tmp_path / "build")
    import_package(collection, tmp_path / "build" / "figures.apkg")
    card = collection.get_card(note_by_id(collection, "tex-cloze").card_ids()[0])
    assert r"\mathrm{softmax}([...])V" in card.question()
    assert r"\frac{QK^T}{\sqrt{d_k} } )V" in card.answer()
    assert "}}" not in card.answer().split("</style>")[1]


def test_edit_rebuild_reimport_updates_only_edited_notes(cards, tmp_path, collection):
    out = tmp_path / "build"
    build(cards, out)
    import_package(collection, out / "all.apkg")
    answer(collection, "scaled-dot-product")
    before = schedule(collection, "scaled-dot-product")
    assert before[2] > 0  # graduated to review with an interval
    history = revlog(collection)
    untouched = note_by_id(collection, "attention-code")

    edit(cards / "attention.yaml", "梯度不消失", "梯度不会消失")
    edit(cards / "more/figures.yaml", "See the", "Read the")
    build(cards, out)  # at once: usually within the same second as the first build
    log = import_package(collection, out / "all.apkg")

    assert card_ids(collection, log.updated) == ["scaled-dot-product", "two-figures"]
    assert not log.new and not log.conflicting
    assert collection.note_count() == 5 and collection.card_count() == 6
    assert "梯度不会消失" in note_by_id(collection, "scaled-dot-product")["Back"]
    assert "Read the" in note_by_id(collection, "two-figures")["Back"]
    assert schedule(collection, "scaled-dot-product") == before
    assert revlog(collection) == history
    assert note_by_id(collection, "attention-code").mod == untouched.mod


def test_unchanged_rebuild_updates_nothing(cards, tmp_path, collection):
    out = tmp_path / "build"
    build(cards, out)
    import_package(collection, out / "all.apkg")
    build(cards, out)
    log = import_package(collection, out / "attention.apkg")
    assert not log.updated and not log.new
    assert len(log.duplicate) == 3


def test_reorder_and_move_between_files_keep_notes(cards, tmp_path, collection):
    out = tmp_path / "build"
    build(cards, out)
    import_package(collection, out / "all.apkg")
    nids = {card_id: note_by_id(collection, card_id).id
            for card_id in ("attention-code", "tex-cloze")}

    # Move tex-cloze into attention.yaml, ahead of every other card.
    figures = cards / "more/figures.yaml"
    text = figures.read_text(encoding="utf-8")
    head, moved = text.split("  - id: tex-cloze\n")
    figures.write_text(head, encoding="utf-8")
    edit(cards / "attention.yaml", "cards:\n", "cards:\n  - id: tex-cloze\n" + moved)
    build(cards, out)
    log = import_package(collection, out / "all.apkg")

    assert not log.new
    assert card_ids(collection, log.updated) == ["tex-cloze"]  # its Source field changed
    assert collection.note_count() == 5
    assert {k: note_by_id(collection, k).id for k in nids} == nids
    assert note_by_id(collection, "tex-cloze")["Source"] == "attention.yaml"


def test_fresh_clone_with_state_file_builds_the_same_mtimes(cards, tmp_path, collection):
    build(cards, tmp_path / "first")
    clone = tmp_path / "clone" / "cards"
    shutil.copytree(cards, clone)
    build(clone, tmp_path / "second")
    import_package(collection, tmp_path / "first" / "all.apkg")
    log = import_package(collection, tmp_path / "second" / "all.apkg")
    assert not log.updated and not log.new
    state = "deckgen-state.json"
    assert (clone / state).read_bytes() == (cards / state).read_bytes()


@pytest.mark.parametrize("package", ["attention.apkg", "figures.apkg"])
def test_topic_packages_hold_only_their_deck(cards, tmp_path, collection, package):
    build(cards, tmp_path / "build")
    log = import_package(collection, tmp_path / "build" / package)
    sources = {collection.get_note(n.id.nid)["Source"] for n in log.new}
    assert sources == {{"attention.apkg": "attention.yaml",
                                   "figures.apkg": "more/figures.yaml"}[package]}
