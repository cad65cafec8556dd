"""The combined package is updated in place: the kept collection gets the changed topics'
rows, and only the changed segments of it are deflated again. Every build must still
write what a build afresh writes, and ship no removed text."""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3
import sys
import zipfile
from contextlib import ExitStack, closing
from pathlib import Path

import pytest

from deckgen import deflate
from deckgen.build import build
from helpers import import_package
from test_cache import collection_bytes, edit, package_contents

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
from synthetic import write_bank

KEPT = Path(".deckgen-cache", "collections")


def text(rng: random.Random, size: int) -> bytes:
    """Bytes that deflate well, as a collection's do."""
    words = [bytes(rng.choice(b"abcdefghij") for _ in range(rng.randint(2, 8)))
             for _ in range(400)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


def write_zip(path: Path, data: bytes, earlier: Path | None = None,
              segments: deflate.Segments | None = None) -> deflate.Segments | None:
    """Write `data` to the zip `path`, taking what it can from the zip `earlier`, whose
    entry was deflated in `segments`."""
    with ExitStack() as files:
        entry = None
        if earlier is not None:
            package = files.enter_context(open(earlier, "rb"))
            with zipfile.ZipFile(package) as zf:
                info = zf.getinfo("c")
            entry = deflate.Earlier(io.BytesIO(zf_bytes(earlier)), package,
                                    deflate.stream_offset(package, info), segments)
        with zipfile.ZipFile(path, "w") as zf:
            return deflate.add_segmented(zf, "c", io.BytesIO(data), entry)


def zf_bytes(package: Path) -> bytes:
    with zipfile.ZipFile(package) as zf:
        return zf.read("c")


def test_unchanged_segments_are_taken_from_the_earlier_package(tmp_path, monkeypatch):
    """The earlier package is deflated at level 0, the new one at level 2: a segment of
    the new package with the earlier length was taken from it, the rest deflated again."""
    rng = random.Random(7)
    size = deflate.SEGMENT
    old = text(rng, 20 * size + 123)
    new = bytearray(old)
    new[3 * size + 10:3 * size + 20] = b"0123456789"  # same length, other bytes
    new[11 * size:11 * size + 5] = b""  # shorter: every later segment moves
    new = bytes(new) + text(rng, size // 2)
    monkeypatch.setattr(deflate, "LEVEL", 0)
    before = write_zip(tmp_path / "old.zip", old)
    assert before is not None  # None: zipfile's private attribute is gone, ISA-L unused
    monkeypatch.setattr(deflate, "LEVEL", 2)
    after = write_zip(tmp_path / "new.zip", new, tmp_path / "old.zip", before)
    with zipfile.ZipFile(tmp_path / "new.zip") as zf:
        assert zf.testzip() is None and zf.read("c") == new
    reused = [n for n, (a, b) in enumerate(zip(after.deflated, before.deflated)) if a == b]
    assert reused == [0, 1, 2, *range(4, 11)]


@pytest.mark.parametrize("damage", ["crc", "swap", "short"])
def test_an_earlier_segment_that_is_not_what_was_recorded_is_deflated_again(tmp_path,
                                                                             monkeypatch, damage):
    rng = random.Random(8)
    old = text(rng, 6 * deflate.SEGMENT)
    monkeypatch.setattr(deflate, "LEVEL", 0)
    before = write_zip(tmp_path / "old.zip", old)
    monkeypatch.setattr(deflate, "LEVEL", 2)
    segments = list(before.deflated)
    if damage == "crc":
        segments[2] = (segments[2][0], segments[2][1] ^ 1)
    elif damage == "swap":
        segments[1], segments[2] = segments[2], segments[1]
    else:
        segments[4] = (segments[4][0] + 10**6, segments[4][1])
    forged = deflate.Segments(before.size, before.crc, tuple(segments))
    after = write_zip(tmp_path / "new.zip", old, tmp_path / "old.zip", forged)
    with zipfile.ZipFile(tmp_path / "new.zip") as zf:
        assert zf.testzip() is None and zf.read("c") == old
    assert after.deflated[0] == before.deflated[0]  # the rest of the earlier one is used
    assert after.deflated != before.deflated


def kept_segments(out: Path) -> list:
    return json.loads((out / KEPT / "all.json").read_text())["deflated"]


def note_ids(package: Path, tmp_path: Path) -> dict[str, int]:
    database = tmp_path / "ids.anki2"
    database.write_bytes(collection_bytes(package))
    with closing(sqlite3.connect(database)) as conn:
        return dict(conn.execute("SELECT guid, id FROM notes"))


def test_an_edit_updates_the_kept_combined_collection(tmp_path, monkeypatch):
    cards = write_bank(tmp_path / "bank", 300)
    out = tmp_path / "build"
    monkeypatch.setattr(deflate, "LEVEL", 0)  # the first build's segments are told apart
    build(cards, out)
    first, ids = kept_segments(out), note_ids(out / "all.apkg", tmp_path)
    monkeypatch.setattr(deflate, "LEVEL", 2)
    edit(cards / "topic-7.yaml", "    front: |\n", "    front: |\n      改动\n")
    build(cards, out)
    second = kept_segments(out)
    assert any(s in first for s in second)  # taken from the first package, not deflated
    after = note_ids(out / "all.apkg", tmp_path)
    assert len([g for g in ids if after.get(g) == ids[g]]) > 200  # rows kept in place
    afresh = tmp_path / "afresh"
    build(cards, afresh)
    assert package_contents(out, tmp_path) == package_contents(afresh, tmp_path)
    with zipfile.ZipFile(out / "all.apkg") as zf:
        assert zf.testzip() is None


@pytest.mark.parametrize("change", ["add", "remove"])
def test_new_cards_keep_one_order_when_a_topic_changes_size(tmp_path, change):
    """A card added to or removed from one topic moves every later topic's new cards."""
    cards = write_bank(tmp_path / "bank", 300)
    out, afresh = tmp_path / "build", tmp_path / "afresh"
    build(cards, out)
    topic = cards / "topic-2.yaml"
    if change == "add":
        topic.write_text(topic.read_text(encoding="utf-8") + "  - id: added\n"
                         "    front: 新问题？\n    back: 新答案。\n", encoding="utf-8")
    else:
        head = topic.read_text(encoding="utf-8").rpartition("  - id:")[0]
        topic.write_text(head, encoding="utf-8")
    build(cards, out)
    build(cards, afresh)
    assert package_contents(out, tmp_path) == package_contents(afresh, tmp_path)


def test_removed_and_edited_text_does_not_ship(tmp_path):
    """Rows deleted from the kept collection leave nothing behind in its free pages."""
    cards = write_bank(tmp_path / "bank", 300)
    out = tmp_path / "build"
    topic = cards / "topic-3.yaml"
    original = topic.read_text(encoding="utf-8")
    secret = "旧文本甲乙丙" * 3000  # over several pages
    topic.write_text(original + f"  - id: secret\n    front: 问？\n    back: 答。\n"
                     f"    extra: {secret}\n", encoding="utf-8")
    edit(cards / "topic-5.yaml", "    front: |\n", "    front: |\n      旧文本丁戊\n")
    build(cards, out)
    ids = note_ids(out / "all.apkg", tmp_path)
    assert ("旧文本甲乙丙" * 20).encode() in collection_bytes(out / "all.apkg")
    topic.write_text(original, encoding="utf-8")
    edit(cards / "topic-5.yaml", "      旧文本丁戊\n", "")
    build(cards, out)
    after = note_ids(out / "all.apkg", tmp_path)
    assert len([g for g in after if after[g] == ids[g]]) > 200  # updated in place
    for data in collection_bytes(out / "all.apkg"), (out / KEPT / "all.anki2").read_bytes():
        assert "旧文本".encode() not in data


def test_a_topic_removed_from_a_bank_leaves_no_free_space_behind(tmp_path):
    cards = write_bank(tmp_path / "bank", 300)
    out = tmp_path / "build"
    build(cards, out)
    for n in range(6):
        (cards / f"topic-{n}.yaml").unlink()
    build(cards, out)
    database = tmp_path / "all.anki2"
    database.write_bytes(collection_bytes(out / "all.apkg"))
    with closing(sqlite3.connect(database)) as conn:
        (free,), (pages,) = (conn.execute(f"PRAGMA {n}").fetchone()
                             for n in ("freelist_count", "page_count"))
    assert free * 4 < pages
    afresh = tmp_path / "afresh"
    build(cards, afresh)
    assert package_contents(out, tmp_path) == package_contents(afresh, tmp_path)


def damage_json(out: Path, change) -> None:
    path = out / KEPT / "all.json"
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


DAMAGE = {
    "segments file garbage": lambda out: (out / KEPT / "all.json").write_bytes(b"\x00{"),
    "segments file of another shape": lambda out: (out / KEPT / "all.json").write_text("[1]"),
    "segments file gone": lambda out: (out / KEPT / "all.json").unlink(),
    "another segment size": lambda out: damage_json(out, lambda v: v.update(segment=4096)),
    "a wrong crc": lambda out: damage_json(out, lambda v: v.update(crc=v["crc"] ^ 1)),
    "segments swapped": lambda out: damage_json(
        out, lambda v: v["deflated"].insert(0, v["deflated"].pop(1))),
    "kept collection changed": lambda out: (out / KEPT / "all.anki2").write_bytes(
        (out / KEPT / "all.anki2").read_bytes().replace(b"SQLite", b"SQLitf", 1)),
    "an earlier build's kept collection": lambda out: (out / KEPT / "all.anki2").write_bytes(
        (out.parent / "first.anki2").read_bytes()),
    "kept collection a folder": lambda out: ((out / KEPT / "all.anki2").unlink(),
                                             (out / KEPT / "all.anki2").mkdir()),
    "kept collection a pipe": lambda out: ((out / KEPT / "all.anki2").unlink(),
                                           os.mkfifo(out / KEPT / "all.anki2")),
    "kept collection a link": lambda out: ((out / KEPT / "all.anki2").unlink(),
                                           (out / KEPT / "all.anki2").symlink_to(
                                               out / KEPT / "topic-0.anki2")),
}


@pytest.mark.parametrize("what", list(DAMAGE))
def test_a_damaged_kept_combined_collection_is_passed_over(tmp_path, what):
    cards = write_bank(tmp_path / "bank", 300)
    out = tmp_path / "build"
    build(cards, out)
    (tmp_path / "first.anki2").write_bytes((out / KEPT / "all.anki2").read_bytes())
    edit(cards / "topic-5.yaml", "    front: |\n", "    front: |\n      改动\n")
    build(cards, out)  # the first build's collection no longer holds topic-5 as it is
    DAMAGE[what](out)
    edit(cards / "topic-2.yaml", "    front: |\n", "    front: |\n      改动\n")
    build(cards, out)
    with zipfile.ZipFile(out / "all.apkg") as zf:
        assert zf.testzip() is None
    afresh = tmp_path / "afresh"
    build(cards, afresh)
    assert package_contents(out, tmp_path) == package_contents(afresh, tmp_path)
    edit(cards / "topic-2.yaml", "      改动\n", "")  # and the next build is sound too
    build(cards, out)
    build(cards, afresh)
    assert package_contents(out, tmp_path) == package_contents(afresh, tmp_path)


def test_updates_in_place_reach_a_real_collection(cards, tmp_path, collection):
    """Three builds that each change one topic, each package imported after it."""
    out = tmp_path / "build"
    attention = cards / "attention.yaml"
    build(cards, out)
    import_package(collection, out / "all.apkg")
    edit(attention, "梯度不消失", "梯度不会消失")
    build(cards, out)
    log = import_package(collection, out / "all.apkg")
    assert len(log.updated) == 1 and not log.new and not log.conflicting
    edit(attention, "梯度不会消失", "梯度仍不消失")
    build(cards, out)
    log = import_package(collection, out / "all.apkg")
    assert len(log.updated) == 1 and not log.new
    with attention.open("a", encoding="utf-8") as f:
        f.write("  - id: added-card\n    front: 新问题？\n    back: 新答案。\n")
    build(cards, out)
    log = import_package(collection, out / "all.apkg")
    assert len(log.new) == 1 and not log.updated and not log.conflicting
    assert collection.note_count() == 6
    assert any("梯度仍不消失" in collection.get_note(n)["Back"]
               for n in collection.find_notes(""))
