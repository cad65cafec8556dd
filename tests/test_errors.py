"""Every user mistake ends in exit code 1 with `path:line: message`, never a traceback,
and a failed build leaves earlier outputs exactly as they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import build, run

GOOD = """\
deck: Good
cards:
  - id: fine
    front: Q
    back: A
"""

CASES = {
    "malformed-yaml": (
        {"t.yaml": "deck: Good\ncards:\n  - id: a\n    front: [unclosed\n"},
        ["t.yaml:4: error: invalid YAML: did not find expected ',' or ']' (while parsing a flow"
         " sequence that starts at line 4)"],  # at the end of the file: its last line
    ),
    "unclosed-quote-at-the-end": (
        {"t.yaml": "deck: Good\ncards:\n  - id: a\n    front: \"unclosed"},
        ["t.yaml:4: error: invalid YAML: found unexpected end of stream (while scanning a"
         " quoted scalar that starts at line 4)"],
    ),
    "bad-indentation": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    front: Q\n   back: A\n"},
        ["t.yaml:5: error: invalid YAML: did not find expected '-' indicator (while parsing a block"
         " collection that starts at line 3)"],
    ),
    "missing-deck": (
        {"t.yaml": "cards:\n  - id: a\n    front: Q\n    back: A\n"},
        ["t.yaml:1: error: missing key 'deck'"],
    ),
    "missing-card-id": (
        {"t.yaml": "deck: D\ncards:\n  - front: Q\n    back: A\n"},
        ["t.yaml:3: error: card #1: missing key 'id'"],
    ),
    "missing-front-and-back": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    extra: E\n"},
        ["t.yaml:3: error: card 'a': missing key 'back' (or use 'cloze')",
         "t.yaml:3: error: card 'a': missing key 'front' (or use 'cloze')"],
    ),
    "empty-fields": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    front: ''\n    back:\n"},
        ["t.yaml:4: error: card 'a': 'front' is empty",
         "t.yaml:5: error: card 'a': 'back' is empty"],
    ),
    "empty-deck": (
        {"t.yaml": "deck: '  '\ncards: []\n"},
        ["t.yaml:1: error: deck is empty"],
    ),
    "default-deck": (
        {"t.yaml": "deck: ' default '\ncards: []\n"},
        ["t.yaml:1: error: deck name ' default ' is Anki's own first deck, 'Default': Anki"
         " would import into a deck 'Default_' instead; choose another name"],
    ),
    "unknown-key": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    front: Q\n    bakc: A\n"},
        ["t.yaml:3: error: card 'a': missing key 'back' (or use 'cloze')",
         "t.yaml:5: error: unknown key 'bakc' in card #1 (did you mean 'back'?)"],
    ),
    "unknown-topic-key": (
        {"t.yaml": "deck: D\ncard: []\n"},
        ["t.yaml:1: error: missing key 'cards'",
         "t.yaml:2: error: unknown key 'card' in topic (did you mean 'cards'?)"],
    ),
    "repeated-key": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    front: Q\n    back: A\n    back: B\n"},
        ["t.yaml:6: error: key 'back' appears twice in card #1"],
    ),
    "duplicate-id-across-files": (
        {"a.yaml": GOOD, "sub/b.yaml": "deck: Other\ncards:\n  - id: x\n    front: Q\n"
                                       "    back: A\n  - id: fine\n    front: Q\n    back: A\n"},
        ["sub/b.yaml:6: error: duplicate card id 'fine' (first defined at cards/a.yaml:3)"],
    ),
    "bad-card-id": (
        {"t.yaml": "deck: D\ncards:\n  - id: Bad_Id\n    front: Q\n    back: A\n"},
        ["t.yaml:3: error: card id 'Bad_Id' must be a lowercase slug (a-z, 0-9 and '-',"
         " starting with a letter or digit)"],
    ),
    "long-card-id": (
        {"t.yaml": "deck: D\ncards:\n  - id: " + "a" * 101 + "\n    front: Q\n    back: A\n"},
        ["t.yaml:3: error: card id 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is 101 characters"
         " long; ids may have at most 100"],
    ),
    "long-file-name": (
        {"a" * 101 + ".yaml": "deck: D\ncards:\n  - id: a\n    front: Q\n    back: A\n"},
        [f"{'a' * 101}.yaml:1: error: file name '{'a' * 101}.yaml' is not a valid topic id;"
         " add an 'id' key (lowercase letters, digits and hyphens, at most 100 characters)"],
    ),
    "not-utf8": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    front: caf\xe9\n    back: A\n"
                   .encode("latin-1")},
        ["t.yaml:4: error: file is not valid UTF-8 (byte 0xe9); save it as UTF-8"],
    ),
    "missing-image": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    front: Q\n    back: |\n      text\n"
                   "      ![x](img/nope.png)\n"},
        ["t.yaml:7: error: image 'img/nope.png' not found"],
    ),
    "image-outside-cards": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    front: '![x](../secret.png)'\n    back: A\n",
         "../secret.png": b"\x89PNG"},
        ["t.yaml:4: error: image '../secret.png' is outside cards/; keep images inside the cards"
         " folder"],
    ),
    "not-an-image": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    front: '![x](notes.txt)'\n    back: A\n",
         "notes.txt": "some text"},
        ["t.yaml:4: error: image 'notes.txt' is not an image (PNG, JPEG, GIF, WebP, AVIF, BMP"
         " or SVG); link an image file"],
    ),
    "cloze-and-front": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    cloze: '{{c1::x}}'\n    front: Q\n"},
        ["t.yaml:3: error: card 'a': a cloze card cannot also have 'front'"],
    ),
    "cloze-without-deletion": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    cloze: no deletion here\n"},
        ["t.yaml:3: error: card 'a': cloze has no deletion like {{c1::...}}"],
    ),
    "cloze-unclosed": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    cloze: |\n      one\n      {{c1::two }\n"},
        ["t.yaml:6: error: card 'a': cloze deletion is never closed with '}}'"],
    ),
    "tag-with-space": (
        {"t.yaml": "deck: D\ntags: [ok, not ok]\ncards:\n  - id: a\n    front: Q\n    back: A\n"},
        ["t.yaml:2: error: tag 'not ok' contains whitespace; Anki tags cannot"],
    ),
    "tags-not-a-list": (
        {"t.yaml": "deck: D\ncards:\n  - id: a\n    front: Q\n    back: A\n    tags: x\n"},
        ["t.yaml:6: error: tags must be a list, like [a, b]"],
    ),
    "empty-file": (
        {"t.yaml": ""},
        ["t.yaml:1: error: file is empty; a topic needs 'deck' and 'cards'"],
    ),
    "reserved-topic-id": (
        {"all.yaml": GOOD},
        ["all.yaml:1: error: topic id 'all' is reserved for the combined package"],
    ),
    "same-deck-twice": (
        {"a.yaml": GOOD, "b.yaml": GOOD.replace("fine", "other")},
        ["b.yaml:1: error: deck 'Good' is also used by topic 'a' (cards/a.yaml)"],
    ),
}


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    cards = root / "cards"
    for name, content in files.items():
        path = cards / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return cards


@pytest.mark.parametrize("command", ["check", "build"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_mistake_is_reported_with_path_and_line(tmp_path, monkeypatch, case, command):
    files, expected = CASES[case]
    write_tree(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    result = run(command)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"cards/{line}" for line in expected]
    assert result.stdout == ""
    assert not (tmp_path / "build").exists()


def test_all_problems_in_all_files_are_reported_at_once(tmp_path, monkeypatch):
    files = {name: content for case in ("missing-deck", "unknown-key", "not-utf8")
             for name, content in [(f"{case}.yaml", CASES[case][0]["t.yaml"])]}
    write_tree(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    result = run("check")
    assert result.exit_code == 1
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == [
        "cards/missing-deck.yaml", "cards/not-utf8.yaml", "cards/unknown-key.yaml",
        "cards/unknown-key.yaml"]


def test_missing_cards_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("check")
    assert result.exit_code == 1
    assert result.stderr == "cards: no such folder (pass --cards DIR)\n"


def snapshot(*folders: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for folder in folders for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix != ".yaml"}


def test_failed_build_leaves_earlier_outputs_byte_identical(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    before = snapshot(out, cards)
    (cards / "attention.yaml").write_text(
        (cards / "attention.yaml").read_text(encoding="utf-8").replace("back:", "bakc:", 1),
        encoding="utf-8")
    result = run("build", "--cards", cards, "--out", out)
    assert result.exit_code == 1
    assert "unknown key 'bakc'" in result.stderr
    assert snapshot(out, cards) == before


def test_interrupted_build_leaves_no_partial_package(cards, tmp_path, monkeypatch):
    from deckgen import build as build_module
    from deckgen import package

    out = tmp_path / "build"
    build(cards, out)
    before = snapshot(out, cards)
    (cards / "attention.yaml").write_text(
        (cards / "attention.yaml").read_text(encoding="utf-8").replace("梯度", "导数"),
        encoding="utf-8")
    def failing_write(*args):
        raise OSError("disk full")  # after the topic's package was written

    monkeypatch.setattr(package, "write_combined", failing_write)
    with pytest.raises(OSError, match="disk full"):
        build_module.build(cards, out)
    assert snapshot(out, cards) == before
    assert sorted(p.name for p in out.iterdir()) == [
        ".deckgen-cache", "all.apkg", "attention.apkg", "figures.apkg"]


@pytest.mark.parametrize("out", ["a-file", "a-file/build"])
def test_an_output_folder_that_is_a_file_is_named(cards, tmp_path, out):
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    result = run("build", "--cards", cards, "--out", tmp_path / out)
    assert result.exit_code == 1
    assert result.stderr == (f"{tmp_path / out}: a file is in the way of a folder; fix it and"
                             " run it again\n")


@pytest.mark.parametrize("deck, what", [
    ('"A::x\\nnl"', "a line break or tab"), ('"A\\tB"', "a line break or tab"),
    ('"A\\rB"', "a line break or tab"), ('"A\\x0bB"', "a control or text-direction"),
    ('"A\\x1bB"', "a control or text-direction"), ('"A\\x85B"', "a control or text-direction"),
    ('"A\\u202eB"', "a control or text-direction"),
])
def test_a_deck_name_with_a_control_character_is_an_error(tmp_path, monkeypatch, deck, what):
    """Anki drops them from the name on import, so the deck would not be the one named."""
    write_tree(tmp_path, {"t.yaml": f"deck: {deck}\ncards:\n  - id: a\n    front: Q\n"
                                    "    back: A\n"})
    monkeypatch.chdir(tmp_path)
    result = run("check")
    assert result.exit_code == 1
    assert result.stderr.startswith("cards/t.yaml:1: error: deck name ")
    assert f"has {what}" in result.stderr
