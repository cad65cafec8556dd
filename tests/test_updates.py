"""Safe updates: the change report, removed and renamed cards, and note-type changes,
each proven against a real Anki collection."""

from __future__ import annotations

import dataclasses
import time

from deckgen import environment, notetypes
from deckgen.build import build as build_at
from deckgen.state import STATE_FILE
from helpers import build, import_package, run


def remove_card(path, card_id: str) -> str:
    """Cut the card out of its YAML file; return its text."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"  - id: {card_id}\n")
    end = text.find("\n  - id: ", start + 1)
    end = len(text) if end < 0 else end + 1
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    return text[start:end]


def into_cloze(path, card_id: str) -> tuple[str, int]:
    """Turn a front/back card into a cloze under the same id, in place; return the file's
    text before and the card's line."""
    text = path.read_text(encoding="utf-8")
    card = remove_card(path, card_id)
    start = text.index(card)
    cloze = f"  - id: {card_id}\n    cloze: 写出 {{{{c1::缩放点积注意力}}}}。\n"
    path.write_text(text[:start] + cloze + text[start + len(card):], encoding="utf-8")
    return text, text[:start].count("\n") + 1


def edit_after_import(cards, out, collection, old: str, new: str) -> None:
    """Build and import, then replace `old` by `new` in attention.yaml."""
    build(cards, out)
    import_package(collection, out / "all.apkg")
    attention = cards / "attention.yaml"
    attention.write_text(attention.read_text(encoding="utf-8").replace(old, new),
                         encoding="utf-8")


def note_mods(col) -> dict[str, int]:
    return {col.get_note(nid)["CardId"]: col.get_note(nid).mod for nid in col.find_notes("")}


def test_report_counts_every_kind_of_change(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    attention = cards / "attention.yaml"
    remove_card(attention, "attention-code")
    moved = remove_card(attention, "attention-formula").replace("attention-formula", "formula")
    attention.write_text(attention.read_text(encoding="utf-8").replace("梯度", "导数") + moved,
                         encoding="utf-8")
    result = build(cards, out)
    assert result.stdout.splitlines()[:5] == [
        "attention: 1 updated, 0 unchanged, 1 removed, 1 renamed",
        "figures:   2 unchanged",
        "total:     1 updated, 2 unchanged, 1 removed, 1 renamed",
        f"{attention}:17: renamed: 'attention-formula' is now 'formula' with the same text."
        " Anki will add it as a new card and keep the old note, losing its review history; to"
        " keep it, change the id back to 'attention-formula'",
        "removed: 'attention-code'. Anki keeps its note; to delete it, search for"
        " CardId:attention-code in Anki's browser",
    ]
    assert result.stdout.splitlines()[5] == (
        f"wrote: {out / 'attention.apkg'}, {out / 'all.apkg'} (1 unchanged packages left as"
        " they are)")


def test_removed_card_search_finds_exactly_its_old_note(cards, tmp_path, collection):
    out = tmp_path / "build"
    build(cards, out)
    import_package(collection, out / "all.apkg")
    (old,) = [nid for nid in collection.find_notes("")
              if collection.get_note(nid)["CardId"] == "attention-code"]

    remove_card(cards / "attention.yaml", "attention-code")
    result = build(cards, out)
    search = result.stdout.split("search for ")[1].split(" in Anki")[0]
    assert search == "CardId:attention-code"
    log = import_package(collection, out / "all.apkg")
    assert not log.new and not log.updated
    assert collection.find_notes(search) == [old]
    assert len(collection.find_notes("CardId:attention*")) == 2  # the search is not a prefix


def test_unchanged_packages_are_not_rewritten_and_dry_run_writes_nothing(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    stat = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.apkg")}
    state = (cards / STATE_FILE).read_bytes()
    attention = cards / "attention.yaml"
    attention.write_text(attention.read_text(encoding="utf-8").replace("梯度", "导数"),
                         encoding="utf-8")

    dry = run("build", "--cards", cards, "--out", out, "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout.splitlines()[-1].startswith(f"would write: {out / 'attention.apkg'}")
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.apkg")} == stat
    assert (cards / STATE_FILE).read_bytes() == state

    build(cards, out)
    assert (out / "figures.apkg").stat().st_mtime_ns == stat["figures.apkg"][0]
    assert (out / "attention.apkg").read_bytes() != stat["attention.apkg"][1]
    assert (out / "all.apkg").read_bytes() != stat["all.apkg"][1]


def test_diff_lists_changed_cards_with_file_and_line(cards, tmp_path):
    build(cards, tmp_path / "build")
    assert run("diff", "--cards", cards).stdout == "no changes since the last build\n"
    attention = cards / "attention.yaml"
    attention.write_text(attention.read_text(encoding="utf-8").replace("梯度", "导数"),
                         encoding="utf-8")
    remove_card(cards / "more/figures.yaml", "tex-cloze")
    assert run("diff", "--cards", cards).stdout.splitlines() == [
        f"{attention}:5: updated: scaled-dot-product",
        "removed: 'tex-cloze'. Anki keeps its note; to delete it, search for CardId:tex-cloze"
        " in Anki's browser",
    ]


def append(path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_css_and_template_changes_reach_the_collection_and_leave_notes_alone(
        cards, tmp_path, collection, templates):
    out = tmp_path / "build"
    build(cards, out)
    import_package(collection, out / "all.apkg")
    before = note_mods(collection)

    append(templates / "card.css", "\n.dg-new { color: red; }")
    for back in ("basic_back.html", "cloze_back.html"):
        append(templates / back, "\n<!-- v2 -->")
    notetypes.note_types.cache_clear()
    result = build(cards, out)
    assert "wrote: " in result.stdout and "nothing" not in result.stdout
    log = import_package(collection, out / "all.apkg")

    assert not log.updated and not log.new
    assert note_mods(collection) == before
    collection.models._clear_cache()  # the import ran in Anki's backend, behind this cache
    for name in ("deckgen Basic", "deckgen Cloze"):
        model = collection.models.by_name(name)
        assert ".dg-new { color: red; }" in model["css"]
        assert model["tmpls"][0]["afmt"].endswith("<!-- v2 -->")
    names = [m.name for m in collection.models.all_names_and_ids()]
    assert sorted(n for n in names if n.startswith("deckgen")) == ["deckgen Basic", "deckgen Cloze"]


def test_field_change_is_refused_unless_accepted(cards, tmp_path, collection, monkeypatch):
    out = tmp_path / "build"
    build(cards, out)
    import_package(collection, out / "all.apkg")

    # A deckgen upgrade that renames a field: new note types, new environment.
    changed = {key: dataclasses.replace(t, fields=(*t.fields[:-1], "File"))
               for key, t in notetypes.note_types().items()}
    monkeypatch.setattr(notetypes, "note_types", lambda: changed)
    monkeypatch.setattr(environment, "digest", lambda: "upgraded")
    refused = run("build", "--cards", cards, "--out", out)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        f"{cards / STATE_FILE}:1: error: the fields or card templates of note type"
        " 'deckgen Basic', 'deckgen Cloze' differ from what earlier builds shipped.")
    assert "--accept-notetype-change" in refused.stderr

    # What the guard protects against, shown in Anki itself: a copy of the note type
    # appears and an edited note is not updated.
    attention = cards / "attention.yaml"
    attention.write_text(attention.read_text(encoding="utf-8").replace("梯度", "导数"),
                         encoding="utf-8")
    accepted = run("build", "--cards", cards, "--out", out, "--accept-notetype-change")
    assert accepted.exit_code == 0, accepted.stderr
    import_package(collection, out / "all.apkg")
    collection.models._clear_cache()
    names = [m.name for m in collection.models.all_names_and_ids()]
    assert len([n for n in names if n.startswith("deckgen Basic")]) == 2
    (nid,) = collection.find_notes("CardId:scaled-dot-product")
    assert "梯度" in collection.get_note(nid)["Back"]


def test_a_card_that_changes_kind_is_refused_unless_accepted(cards, tmp_path, collection):
    """Anki keeps a note's type on import: a front/back card turned into a cloze under the
    same id would be skipped as a conflict, and its learners would keep the old card."""
    out = tmp_path / "build"
    build(cards, out)
    import_package(collection, out / "all.apkg")
    attention = cards / "attention.yaml"
    _, line = into_cloze(attention, "attention-code")
    for command in ("build", "check", "diff"):  # diff lists what build would do: nothing
        refused = run(command, "--cards", cards, "--out", out)
        assert refused.exit_code == 1
        assert refused.stderr.startswith(
            f"{attention}:{line}: error: card 'attention-code' was a front/back card when it"
            " was last built and is now a cloze")
        assert "new id" in refused.stderr and "--accept-notetype-change" in refused.stderr

    # What the guard protects against, shown in Anki itself.
    accepted = run("build", "--cards", cards, "--out", out, "--accept-notetype-change")
    assert accepted.exit_code == 0, accepted.stderr
    log = import_package(collection, out / "all.apkg")
    assert not log.updated and len(log.conflicting) == 1


def test_a_card_back_with_the_content_it_was_shipped_with_is_not_updated(cards, tmp_path,
                                                                         collection):
    """Renamed, then named back as the build's message advises: the note in Anki already
    holds exactly this, so the import leaves it, and the learner's tags, alone."""
    out = tmp_path / "build"
    now = int(time.time())
    build_at(cards, out, now=now - 1000)
    import_package(collection, out / "all.apkg")
    (nid,) = collection.find_notes("CardId:attention-code")
    note = collection.get_note(nid)
    note.add_tag("marked")
    collection.update_note(note)
    attention = cards / "attention.yaml"
    text = attention.read_text(encoding="utf-8")
    attention.write_text(text.replace("- id: attention-code\n", "- id: attention-snippet\n"),
                         encoding="utf-8")
    build_at(cards, out, now=now + 100)  # each build later than the learner's edit
    attention.write_text(text, encoding="utf-8")
    report = build_at(cards, out, now=now + 200)
    assert report.changes.renames == []  # Anki has it, as it is: no new card
    assert report.changes.total.added == ["attention-code"]
    log = import_package(collection, out / "all.apkg")
    assert not log.updated and not log.new
    assert "marked" in collection.get_note(nid).tags


def test_a_renamed_deck_is_reported_with_what_an_import_does(cards, tmp_path, collection):
    out = tmp_path / "build"
    edit_after_import(cards, out, collection, 'deck: "测试::Transformer 与注意力"',
                      'deck: "测试::注意力"')
    moved = ("moved: 3 cards from deck '测试::Transformer 与注意力' to '测试::注意力'. An import"
             " leaves the cards learners already have in '测试::Transformer 与注意力'")
    assert moved in run("diff", "--cards", cards, "--out", out).output
    assert moved in build(cards, out).output
    assert "moved:" not in build(cards, out).output  # said once, by the build that moved them
    import_package(collection, out / "all.apkg")
    decks = {collection.decks.name(collection.get_card(c).did)
             for c in collection.find_cards("CardId:attention-*")}
    assert decks == {"测试::Transformer 与注意力"}  # what the report warns of


def test_a_card_removed_and_back_as_another_kind_is_refused(cards, tmp_path):
    """The state file forgets a removed card; this machine still knows what it shipped."""
    out = tmp_path / "build"
    build(cards, out)
    attention = cards / "attention.yaml"
    card = remove_card(attention, "attention-code")
    build(cards, out)
    attention.write_text(attention.read_text(encoding="utf-8") + "  - id: attention-code\n"
                         "    cloze: 写出 {{c1::缩放点积注意力}}。\n", encoding="utf-8")
    refused = run("build", "--cards", cards, "--out", out)
    assert refused.exit_code == 1
    assert "card 'attention-code' was a front/back card when it was last built" in (
        refused.stderr)
    assert "front:" in card  # it was a front/back card


def test_check_refuses_what_build_would(cards, tmp_path):
    """CI runs check: a card kind change and an unreadable state file fail it, as they
    would fail the build."""
    out = tmp_path / "build"
    build(cards, out)
    attention = cards / "attention.yaml"
    text, _ = into_cloze(attention, "attention-code")
    refused = run("check", "--cards", cards, "--out", out)
    assert refused.exit_code == 1
    assert "card 'attention-code' was a front/back card" in refused.stderr
    attention.write_text(text, encoding="utf-8")
    (cards / STATE_FILE).write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    refused = run("check", "--cards", cards, "--out", out)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"{cards / STATE_FILE}:1: error: cannot read the build")


def test_the_moved_search_finds_only_the_old_deck(cards, tmp_path, collection):
    """Anki's search reads `_` and `*` as wildcards: the search printed for a deck move,
    pasted into the browser, must not also select the cards of a deck that matches them."""
    out = tmp_path / "build"
    attention = cards / "attention.yaml"
    text = attention.read_text(encoding="utf-8")
    attention.write_text(text.replace('deck: "测试::Transformer 与注意力"',
                                      'deck: "测试::a_b*"'), encoding="utf-8")
    build(cards, out)
    import_package(collection, out / "all.apkg")
    other = collection.decks.id("测试::axbc")  # a learner's own deck the wildcards match
    note = collection.new_note(collection.models.by_name("Basic"))
    note["Front"], note["Back"] = "mine", "mine"
    collection.add_note(note, other)
    attention.write_text(text, encoding="utf-8")
    (line,) = [line for line in build(cards, out).output.splitlines() if "moved:" in line]
    search = line.split("(search ", 1)[1].removesuffix(")")
    found = [dict(collection.get_card(c).note().items()) for c in collection.find_cards(search)]
    moved = {fields.get("CardId", fields.get("Front")) for fields in found}
    assert moved == {"scaled-dot-product", "attention-formula", "attention-code"}


def test_a_deck_respelled_only_in_case_is_reported_as_anki_keeps_it(cards, tmp_path,
                                                                    collection):
    """Anki finds decks by name without case: an import puts nothing elsewhere and keeps
    the old spelling. No move to make, then, but a rename to make in Anki."""
    out = tmp_path / "build"
    edit_after_import(cards, out, collection, "Transformer 与注意力", "TRANSFORMER 与注意力")
    output = build(cards, out).output
    assert "moved:" not in output
    assert ("renamed deck: '测试::Transformer 与注意力' is now '测试::TRANSFORMER 与注意力', the"
            " same deck to Anki (which ignores case, Unicode normalization and spaces around"
            " '::'): Anki keeps the name it has; rename the deck in Anki to match\n"
            ) in output
    import_package(collection, out / "all.apkg")
    names = {collection.decks.name(collection.get_card(c).did)
             for c in collection.find_cards("CardId:attention-*")}
    assert names == {"测试::Transformer 与注意力"}  # what the report says


def test_a_tag_respelled_only_in_case_is_reported_as_anki_keeps_it(cards, tmp_path,
                                                                   collection):
    out = tmp_path / "build"
    edit_after_import(cards, out, collection, "tags: [transformer]", "tags: [Transformer]")
    output = build(cards, out).output
    assert ("renamed tag: 'transformer' is now 'Transformer', the same tag to Anki (which"
            " ignores case): Anki keeps the spelling it has; rename the tag in Anki's browser"
            " to match\n") in output
    import_package(collection, out / "all.apkg")
    assert "Transformer" not in collection.tags.all()  # what the report says


def test_a_cloze_number_removed_is_reported_as_anki_keeps_its_card(cards, tmp_path,
                                                                  collection):
    """Anki keeps the card of a cloze number no longer in the note, empty ("No cloze 2
    found on card") until the learner runs Tools > Empty Cards: the build says so."""
    out = tmp_path / "build"
    edit_after_import(cards, out, collection, "{{c2::$d_k=d_{model}/h$::公式}}",
                      "$d_k=d_{model}/h$")
    for output in (run("diff", "--cards", cards, "--out", out).output,
                   build(cards, out).output):
        assert ("emptied: 'attention-formula' has no c2 any more; Anki keeps that card, empty,"
                " until learners run Tools > Empty Cards\n") in output
    import_package(collection, out / "all.apkg")
    (nid,) = collection.find_notes("CardId:attention-formula")
    assert len(collection.get_note(nid).cards()) == 2  # what the report says
