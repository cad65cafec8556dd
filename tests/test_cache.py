"""The render cache: reused when nothing that shapes a card changed, never stale."""

from __future__ import annotations

import json
import os
import pty
import re
import sqlite3
import subprocess
import sys
import zipfile
from contextlib import closing
from pathlib import Path

from deckgen import environment, notetypes
from deckgen.build import build

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
from synthetic import write_bank


def collection_bytes(package: Path) -> bytes:
    return member(package, "collection.anki2")


def member(package: Path, name: str) -> bytes:
    with zipfile.ZipFile(package) as zf:
        return zf.read(name)


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


def test_only_edited_cards_are_rendered_again(cards, tmp_path):
    out = tmp_path / "build"
    assert build(cards, out).rendered_now == 5
    edit(cards / "attention.yaml", "梯度", "导数")
    report = build(cards, out)
    assert report.rendered_now == 1
    assert [p.path.name for p in report.packages if p.written] == ["attention.apkg", "all.apkg"]


def test_nothing_changed_means_nothing_rendered_or_written(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    report = build(cards, out)
    assert report.rendered_now == 0 and not any(p.written for p in report.packages)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_template_or_css_change_renders_everything_again(cards, tmp_path, templates):
    out = tmp_path / "build"
    build(cards, out)
    (templates / "card.css").write_text("/* new */\n" + (templates / "card.css").read_text())
    notetypes.note_types.cache_clear()
    report = build(cards, out)
    assert report.rendered_now == 5
    assert all(p.written for p in report.packages)


def test_renderer_upgrade_never_serves_stale_html(cards, tmp_path, monkeypatch):
    from deckgen.render import MarkdownRenderer

    # A stand-in library: its file is rewritten on "upgrade", as pip does.
    library = tmp_path / "lib" / "fake_markdown.py"
    library.parent.mkdir()
    library.write_text("VERSION = 1\n")
    monkeypatch.syspath_prepend(str(library.parent))
    monkeypatch.setattr(environment, "LIBRARIES", (*environment.LIBRARIES, "fake_markdown"))
    out = tmp_path / "build"
    build(cards, out)

    original = MarkdownRenderer.html
    monkeypatch.setattr(MarkdownRenderer, "html", lambda self, text, base: (
        original(self, text, base)[0] + "<!-- v2 -->", *original(self, text, base)[1:]))
    library.write_text("VERSION = 2  # upgraded\n")
    report = build(cards, out)
    assert report.rendered_now == 5
    assert b"<!-- v2 -->" in collection_bytes(out / "all.apkg")


def test_edited_image_is_picked_up_though_its_card_is_not(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    old_names = member(out / "figures.apkg", "media")
    (cards / "img" / "a" / "figure.png").write_bytes(
        (cards / "img" / "b" / "figure.png").read_bytes() + b"\0")
    report = build(cards, out)
    assert report.rendered_now == 1
    assert member(out / "figures.apkg", "media") != old_names
    build(cards, tmp_path / "afresh")  # no cache, the same cards and state
    assert notes_in(out / "figures.apkg", tmp_path) == notes_in(
        tmp_path / "afresh" / "figures.apkg", tmp_path)


def test_corrupt_cache_is_ignored(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    for shard in (out / environment.CACHE_DIR / "cards").glob("*.cards"):
        shard.write_bytes(b"not a pickle")
    edit(cards / "attention.yaml", "梯度", "导数")
    (out / "figures.apkg").unlink()  # to write it again, its cards' fields are needed
    assert build(cards, out).rendered_now == 5  # all rendered again, without a word
    build(cards, tmp_path / "afresh")
    assert package_contents(out, tmp_path) == package_contents(tmp_path / "afresh", tmp_path)


def test_progress_bar_on_a_terminal_only(tmp_path):
    cards = write_bank(tmp_path / "bank", 300)
    command = [sys.executable, "-m", "deckgen", "build", "--cards", str(cards), "--out"]
    piped = subprocess.run([*command, str(tmp_path / "piped")], capture_output=True, text=True,
                           check=True)
    assert "rendering" not in piped.stdout + piped.stderr

    leader, follower = pty.openpty()
    process = subprocess.Popen([*command, str(tmp_path / "tty")], stdout=follower,
                               stderr=follower)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert process.wait() == 0
    assert b"rendering 300 cards" in output
    assert re.search(rb"total:\s+300 unchanged", output)  # the piped build stamped them


def test_a_package_replaced_by_hand_is_written_again(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    good = (out / "figures.apkg").read_bytes()
    (out / "figures.apkg").write_bytes(b"not a package")
    edit(cards / "attention.yaml", "梯度", "导数")  # so the build does not return at once
    report = build(cards, out)
    assert [p.path.name for p in report.packages if p.written] == [
        "attention.apkg", "figures.apkg", "all.apkg"]
    (tmp_path / "good.apkg").write_bytes(good)
    assert notes_in(out / "figures.apkg", tmp_path) == notes_in(tmp_path / "good.apkg", tmp_path)


def test_a_package_deleted_by_hand_is_written_again(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    good = notes_in(out / "figures.apkg", tmp_path)
    (out / "figures.apkg").unlink()
    report = build(cards, out)  # nothing else changed
    assert [p.path.name for p in report.packages if p.written] == ["figures.apkg"]
    assert notes_in(out / "figures.apkg", tmp_path) == good


def notes_in(package: Path, tmp_path: Path) -> list:
    database = tmp_path / f"{package.stem}.anki2"
    database.write_bytes(collection_bytes(package))
    with closing(sqlite3.connect(database)) as conn:
        return conn.execute("SELECT guid, mod, flds, tags FROM notes ORDER BY guid").fetchall()


def package_contents(out: Path, tmp_path: Path) -> dict[str, tuple]:
    """Every package's notes, cards, decks and media names: what an import would see."""
    contents = {}
    for package in sorted(out.glob("*.apkg")):
        database = tmp_path / f"{package.stem}-contents.anki2"
        database.write_bytes(collection_bytes(package))
        with closing(sqlite3.connect(database)) as conn:
            notes = conn.execute("SELECT guid, mid, mod, flds, tags FROM notes ORDER BY guid")
            cards = conn.execute("SELECT n.guid, c.did, c.ord, c.mod, c.due FROM cards c"
                                 " JOIN notes n ON n.id = c.nid ORDER BY n.guid, c.ord")
            decks = conn.execute("SELECT decks FROM col").fetchone()[0]
            contents[package.name] = (notes.fetchall(), cards.fetchall(),
                                      sorted(d["name"] for d in json.loads(decks).values()),
                                      member(package, "media"))
    return contents


def move_last_card(source: Path, target: Path) -> None:
    head, sep, card = source.read_text(encoding="utf-8").rpartition("  - id:")
    source.write_text(head, encoding="utf-8")
    target.write_text(target.read_text(encoding="utf-8") + sep + card, encoding="utf-8")


def test_incremental_builds_match_a_build_afresh(cards, tmp_path):
    """After each kind of change, the cached build writes what a build with no cache would."""
    out = tmp_path / "build"
    attention, figures = cards / "attention.yaml", cards / "more" / "figures.yaml"
    changes = [
        lambda: edit(attention, "梯度", "导数"),
        lambda: (cards / "img" / "a" / "figure.png").write_bytes(b"\x89PNG changed"),
        lambda: edit(attention, "tags: [transformer]", "tags: [transformer, nlp]"),
        lambda: edit(figures, '"测试::图片"', '"测试::图"'),
        lambda: edit(attention, "  - id: attention-formula", "  - id: attention-cloze"),
        lambda: move_last_card(attention, figures),
        lambda: edit(attention, "导数", "梯度"),
        lambda: figures.unlink(),
    ]
    build(cards, out)
    for n, change in enumerate(changes):
        change()
        build(cards, out)
        afresh = tmp_path / f"afresh-{n}"
        build(cards, afresh)
        assert package_contents(out, tmp_path) == package_contents(afresh, tmp_path), n

def test_a_build_with_nothing_to_do_imports_no_heavy_library(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    code = ("import sys\nfrom deckgen.cli import main\n"
            "try:\n    main(['build', '--cards', sys.argv[1], '--out', sys.argv[2]])\n"
            "except SystemExit:\n    print(' '.join(sorted(sys.modules)), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code, cards, out], capture_output=True,
                            text=True, check=True)
    assert result.stdout.endswith("wrote: nothing (3 unchanged packages left as they are)\n")
    heavy = {"yaml", "markdown", "pygments", "genanki", "isal", "sqlite3", "pickle",
             "deckgen.loader", "deckgen.render", "deckgen.package", "deckgen.cache",
             "deckgen.collect"}
    assert set(result.stderr.split()) & heavy == set()


def test_a_kept_collection_that_differs_from_its_package_is_not_used(cards, tmp_path):
    """The combined package copies each unchanged topic's collection from the copy the
    last build kept, only while that copy has the bytes inside the topic's package."""
    out = tmp_path / "build"
    build(cards, out)
    copy = out / ".deckgen-cache" / "collections" / "figures.anki2"
    good = copy.read_bytes()
    with closing(sqlite3.connect(tmp_path / "other.anki2")) as conn:  # a valid collection
        conn.execute("CREATE TABLE x (y)")
        conn.commit()
    damaged = {
        "same size, one byte changed": good.replace("图片".encode(), "图像".encode(), 1),
        "another collection": (tmp_path / "other.anki2").read_bytes(),
        "garbage": b"\0" * 100,
    }
    for n, (what, data) in enumerate(damaged.items()):
        assert data != good
        copy.write_bytes(data)
        edit(cards / "attention.yaml", "梯度" if n % 2 == 0 else "导数",
             "导数" if n % 2 == 0 else "梯度")
        build(cards, out)
        afresh = tmp_path / f"afresh-{n}"
        build(cards, afresh)
        assert package_contents(out, tmp_path) == package_contents(afresh, tmp_path), what


def test_the_combined_package_reads_the_kept_collection(cards, tmp_path):
    """With the kept copy intact, the topic's package is not inflated again: here its
    compressed bytes are spoilt behind the build's back (size and mtime kept), and the
    combined package still holds the topic's notes."""
    out = tmp_path / "build"
    build(cards, out)
    package = out / "figures.apkg"
    stat = package.stat()
    with zipfile.ZipFile(package) as zf:
        info = zf.getinfo("collection.anki2")
    data = bytearray(package.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode())  # the compressed data
    data[start:start + 64] = bytes(64)
    package.write_bytes(bytes(data))
    os.utime(package, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    edit(cards / "attention.yaml", "梯度", "导数")
    build(cards, out)
    afresh = tmp_path / "afresh"
    build(cards, afresh)
    combined = tmp_path / "combined"
    combined.mkdir()
    (out / "all.apkg").rename(combined / "all.apkg")  # the spoilt package stays behind
    assert package_contents(combined, tmp_path)["all.apkg"] == package_contents(
        afresh, tmp_path)["all.apkg"]
