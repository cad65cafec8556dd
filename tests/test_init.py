"""`deckgen init`: a new bank that builds at once and imports into Anki, written without
ever overwriting a file."""

from __future__ import annotations

import re

from helpers import build, import_package, run


def test_a_new_bank_builds_at_once_and_imports_into_anki(tmp_path, collection):
    bank = tmp_path / "bank"
    result = run("init", bank)
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(bank).as_posix() for p in bank.rglob("*") if p.is_file()) == [
        ".gitignore", "README.md", "cards/example.yaml", "cards/img/triangle.png",
        "deckgen.schema.json"]
    assert "/build/" in (bank / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert result.output.endswith(f"next: cd {bank} && deckgen build, then import"
                                  " build/all.apkg into Anki\n")

    checked = run("check", "--cards", bank / "cards", "--strict")
    assert checked.exit_code == 0, checked.output  # the example itself is free of warnings
    build(bank / "cards", bank / "build")
    import_package(collection, bank / "build" / "all.apkg")

    notes = {collection.get_note(nid)["CardId"]: collection.get_note(nid)
             for nid in collection.find_notes("")}
    assert sorted(notes) == ["capital-of-france", "list-reversed", "quadratic-formula",
                             "right-triangle", "what-build-writes"]
    assert collection.card_count() == 6  # four basic cards and a cloze with two deletions
    assert collection.decks.by_name("Example::Getting started") is not None
    assert notes["capital-of-france"].note_type()["name"] == "deckgen Cloze"
    assert "{{c2::Seine::river}}" in notes["capital-of-france"]["Text"]
    assert r"\(ax^2 + bx + c = 0\)" in notes["quadratic-formula"]["Front"]
    assert r"\[x = \frac{-b \pm \sqrt{b^2 - 4ac}}{2a}\]" in notes["quadratic-formula"]["Back"]
    assert '<span class="nb">print</span>' in notes["list-reversed"]["Front"]  # highlighted
    (image,) = re.findall(r'<img[^>]* src="([^"]+)"', notes["right-triangle"]["Front"])
    assert image.startswith("triangle-") and image.endswith(".png")
    assert collection.media.have(image)


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path):
    bank = tmp_path / "bank"
    (bank / "cards").mkdir(parents=True)
    (bank / "README.md").write_text("mine", encoding="utf-8")
    result = run("init", bank)
    assert result.exit_code == 1
    assert result.output == (f"would overwrite {bank}/README.md; nothing written"
                             " (init a new or empty folder)\n")
    assert (bank / "README.md").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in bank.rglob("*")) == ["README.md", "cards"]


def test_init_into_a_file_fails_with_one_line(tmp_path):
    (tmp_path / "taken").write_text("", encoding="utf-8")
    result = run("init", tmp_path / "taken")
    assert result.exit_code == 1
    assert result.output == f"{tmp_path / 'taken'}: not a folder; init a new or empty folder\n"


def test_init_defaults_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cards" / "example.yaml").is_file()
    assert result.output.endswith("next: deckgen build, then import build/all.apkg into Anki\n")


def test_the_next_step_can_be_pasted_into_a_shell(tmp_path):
    bank = tmp_path / "my bank" / "题库"
    result = run("init", bank)
    assert result.output.endswith(f"next: cd '{bank}' && deckgen build, then import"
                                  " build/all.apkg into Anki\n")
