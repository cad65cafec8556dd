"""The incremental engine keeps the promise: every edit reaches Anki, nothing else moves.

Each test reproduces a way a cached build once served a stale result."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import closing, suppress
from pathlib import Path

import pytest

from deckgen import collect, deflate, environment, package, record
from deckgen.build import build, check, plan
from deckgen.errors import DeckgenError
from deckgen.notetypes import note_types
from deckgen.state import STATE_FILE
from helpers import import_package, run

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
from synthetic import write_bank

from test_cache import edit, notes_in, package_contents


def note_text(col, card_id: str) -> str:
    (nid,) = col.find_notes(f"CardId:{card_id}")
    return col.get_note(nid).fields[1]


def test_an_edit_saved_while_a_build_runs_reaches_the_next_build(cards, tmp_path, monkeypatch):
    out = tmp_path / "build"
    attention = cards / "attention.yaml"
    render = collect.render_chunk

    def render_then_save_an_edit(*args):
        edit(attention, "梯度不消失", "梯度不会消失")  # the author saves mid-build
        return render(*args)

    monkeypatch.setattr(collect, "render_chunk", render_then_save_an_edit)
    build(cards, out)
    monkeypatch.undo()
    report = build(cards, out)
    assert report.changes.total.updated == ["scaled-dot-product"]
    assert "梯度不会消失" in str(notes_in(out / "attention.apkg", tmp_path))


def test_an_edit_that_keeps_size_and_mtime_is_seen(cards, tmp_path):
    out = tmp_path / "build"
    attention = cards / "attention.yaml"
    build(cards, out)
    before = attention.stat()
    edit(attention, "梯度不消失", "梯度不减小")  # same number of bytes
    os.utime(attention, ns=(before.st_atime_ns, before.st_mtime_ns))  # as cp -p, rsync -t
    assert attention.stat().st_size == before.st_size
    report = build(cards, out)
    assert report.changes.total.updated == ["scaled-dot-product"]
    assert "梯度不减小" in str(notes_in(out / "attention.apkg", tmp_path))


def test_an_image_that_keeps_size_and_mtime_is_seen(cards, tmp_path):
    out = tmp_path / "build"
    figure = cards / "img" / "a" / "figure.png"
    build(cards, out)
    before = figure.stat()
    data = bytearray(figure.read_bytes())
    data[-1] ^= 1
    figure.write_bytes(bytes(data))
    os.utime(figure, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert build(cards, out).rendered_now == 1


def test_c0_is_an_error_not_an_unimportable_package(cards, tmp_path):
    edit(cards / "attention.yaml", "{{c1::$", "{{c0::$")
    result = run("build", "--cards", cards, "--out", tmp_path / "build")
    assert result.exit_code == 1
    assert f"{cards / 'attention.yaml'}:19: error: card 'attention-formula': cloze number" \
           " c0 is outside c1..c500, the cards Anki makes" in result.output
    assert not (tmp_path / "build").exists()


def test_the_packager_refuses_what_anki_would_refuse(cards, tmp_path):
    (topic, notes), *_ = check(cards).rendered
    content = package.DeckContent(package.Deck(topic.id, topic.deck), tuple(notes))
    types = note_types()
    mtimes = dict.fromkeys(types, 1)
    note_mtimes = {n.card_id: 1 for n in notes}
    broken = notes[0].__class__(notes[0].guid, notes[0].card_id, "basic",
                                notes[0].fields[:-1], ())
    with pytest.raises(ValueError, match="fields"):
        package.write_topic(tmp_path / "x.apkg", package.DeckContent(
            content.deck, (broken,)), types, mtimes, note_mtimes)
    cloze = notes[1]
    c0 = cloze.__class__(cloze.guid, cloze.card_id, "cloze",
                         ("{{c0::x}}", *cloze.fields[1:]), ())
    with pytest.raises(ValueError, match="ordinal"):
        package.write_topic(tmp_path / "y.apkg", package.DeckContent(
            content.deck, (c0,)), types, mtimes, note_mtimes)
    assert list(tmp_path.glob("*.apkg")) == list(tmp_path.glob(".*tmp")) == []


def test_the_cards_folder_may_be_named_or_given_any_way(cards, tmp_path, monkeypatch):
    build(cards, tmp_path / "build")
    expected = package_contents(tmp_path / "build", tmp_path)
    monkeypatch.chdir(cards)
    report = build(Path("."), tmp_path / "from-inside")
    assert report.changes.total.updated == [] and report.changes.total.added == []
    renamed = tmp_path / "renamed-bank"
    shutil.copytree(cards, renamed)
    report = build(renamed, tmp_path / "renamed")
    assert report.changes.total.updated == [] and report.changes.total.added == []
    for out in ("from-inside", "renamed"):
        assert package_contents(tmp_path / out, tmp_path) == expected


def test_a_reverted_edit_reaches_a_real_collection(cards, tmp_path, collection):
    out = tmp_path / "build"
    attention = cards / "attention.yaml"
    build(cards, out, now=1_000_000)
    import_package(collection, out / "all.apkg")
    original = {p: p.read_bytes() for p in (attention, cards / STATE_FILE)}
    edit(attention, "梯度不消失", "梯度不会消失")
    build(cards, out, now=1_000_100)
    import_package(collection, out / "all.apkg")
    assert "梯度不会消失" in note_text(collection, "scaled-dot-product")

    for path, data in original.items():  # git revert: the source and its stamp go back
        path.write_bytes(data)
    report = build(cards, out, now=1_000_200)
    assert report.changes.total.updated == ["scaled-dot-product"]
    import_package(collection, out / "all.apkg")
    assert "梯度不消失" in note_text(collection, "scaled-dot-product")
    stamps = json.loads((cards / STATE_FILE).read_text())["notes"]
    assert stamps["scaled-dot-product"][1] == 1_000_200


def test_restamp_gives_a_card_a_newer_mtime(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out, now=1_000_000)
    report = build(cards, out, now=1_000_050, restamp=["attention-code"])
    assert report.changes.total.updated == ["attention-code"]
    stamps = json.loads((cards / STATE_FILE).read_text())["notes"]
    assert stamps["attention-code"][1] == 1_000_050
    assert stamps["scaled-dot-product"][1] == 1_000_000
    with pytest.raises(DeckgenError, match="no card with id nope"):
        build(cards, out, restamp=["nope"])


def test_check_and_diff_read_the_cache_and_write_nothing(cards, tmp_path, monkeypatch):
    out = tmp_path / "build"
    build(cards, out)
    files = {p: p.read_bytes() for p in [*out.rglob("*"), *cards.rglob("*")] if p.is_file()}
    parsed = []
    monkeypatch.setattr(collect, "read_topic", lambda *a: parsed.append(a))
    monkeypatch.setattr(collect, "read_topic_by_card", lambda *a: parsed.append(a))
    monkeypatch.setattr(collect, "render_chunk", lambda *a: parsed.append(a))
    assert check(cards, out).card_count == 5
    assert plan(cards, out).changes.changed_ids == []
    for command in ("check", "diff"):
        result = run(command, "--cards", cards, "--out", out)
        assert result.exit_code == 0, result.output
    assert parsed == []  # nothing parsed or rendered
    monkeypatch.undo()
    edit(cards / "attention.yaml", "梯度不消失", "梯度不会消失")
    result = run("diff", "--cards", cards, "--out", out)
    assert result.output == f"{cards / 'attention.yaml'}:5: updated: scaled-dot-product\n"
    edit(cards / "attention.yaml", "梯度不会消失", "梯度不消失")
    assert {p: p.read_bytes() for p in files} == files
    assert {p for p in [*out.rglob("*"), *cards.rglob("*")] if p.is_file()} == set(files)


@pytest.mark.parametrize("damage", [
    lambda out: (out / ".deckgen-cache" / "record.json").write_text(
        f'{{"version": {record.VERSION}}}'),
    lambda out: (out / ".deckgen-cache" / "record.json").write_text(
        f'{{"version": {record.VERSION}, "environment": 5, "inputs": [], "outputs":'
        ' {"all.apkg": 3}, "warnings": [7], "cards": [[1]]}\n{"topics": [[1]], "shipped": []}'),
    lambda out: (out / ".deckgen-cache" / "record.json").write_bytes(
        (out / ".deckgen-cache" / "record.json").read_bytes().split(b"\n")[0]
        + b'\n{"topics": [["attention.yaml", 5]], "shipped": {"a": 1}}'),
    lambda out: (out / ".deckgen-cache" / "record.json").write_bytes(b"\x00\xff"),
    lambda out: [p.write_bytes(p.read_bytes()[:40]) for p in out.rglob("*.cards")],
    lambda out: [p.write_bytes(b'["deckgen cache", 1]\ncos\nsystem\n(S"exit 3"\ntR.')
                 for p in out.rglob("*.cards")],
    lambda out: (out / "figures.apkg").write_bytes(b"PK\x03\x04 not a zip"),
    lambda out: [p.write_bytes(p.read_bytes().split(b"\n", 1)[0] + b"\n"
                               + pickle.dumps({"key": "not a card"}))
                 for p in out.rglob("*.cards")],
    lambda out: _topic_line(out, lambda row: [[row[0]], *row[1:]]),
    lambda out: _topic_line(out, lambda row: dict(zip("abcdef", row))),
    lambda out: _topic_line(out, lambda row: row[:5]),
    lambda out: [_replace_with_folder(p) for p in out.rglob("*.anki2")],
    lambda out: _replace_with_folder(out / ".deckgen-cache" / "collections").touch(),
    lambda out: _each(out, "*.known", lambda p: p.write_bytes(p.read_bytes()[:60])),
    lambda out: _each(out, "*.known", lambda p: p.write_bytes(
        b'["deckgen cache", 1]\ncos\nsystem\n(S"exit 3"\ntR.')),
    lambda out: _each(out, "*.known", _forge_known_cards),
], ids=["record-shape", "record-types", "record-body", "record-bytes", "shard-cut",
        "shard-header", "package", "shard-values", "record-line-source", "record-line-dict",
        "record-line-short", "copies-folders", "collections-file", "known-cut",
        "known-header", "known-values"])
def test_a_damaged_cache_heals_silently(cards, tmp_path, damage):
    out = tmp_path / "build"
    build(cards, out)
    damage(out)
    edit(cards / "attention.yaml", "梯度不消失", "梯度不会消失")
    (out / "figures.apkg").unlink(missing_ok=True)
    build(cards, out)
    build(cards, tmp_path / "afresh")
    assert package_contents(out, tmp_path) == package_contents(tmp_path / "afresh", tmp_path)
    assert build(cards, out).changes.changed_ids == []


def _topic_line(out: Path, change) -> None:
    """Rewrite the record's first topic outline (its third line) with `change`."""
    path = out / ".deckgen-cache" / "record.json"
    lines = path.read_bytes().split(b"\n")
    lines[2] = json.dumps(change(json.loads(lines[2]))).encode()
    path.write_bytes(b"\n".join(lines))


def _each(out: Path, pattern: str, damage) -> None:
    found = list(out.rglob(pattern))
    assert found, f"no {pattern} to damage"
    for path in found:
        damage(path)


def _forge_known_cards(path: Path) -> None:
    """Keep the header, give every known card text values of the wrong shape."""
    header, body = path.read_bytes().split(b"\n", 1)
    forged = dict.fromkeys(pickle.loads(body), (1, ("a", 1, None, None, None, None, (), ())))
    path.write_bytes(header + b"\n" + pickle.dumps(forged))


def _replace_with_folder(path: Path) -> Path:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    path.mkdir()
    return path / "x"


@pytest.mark.parametrize("kind", ["folder", "fifo", "endless", "elsewhere"])
def test_a_kept_collection_that_is_not_a_plain_file_is_passed_over(cards, tmp_path, kind):
    """A kept copy is read only if it is a regular file of the size the package records:
    never a pipe that blocks, nor a device that never ends."""
    out = tmp_path / "build"
    build(cards, out)
    copy = out / ".deckgen-cache" / "collections" / "figures.anki2"
    copy.unlink()
    if kind == "folder":
        copy.mkdir()
    elif kind == "fifo":
        os.mkfifo(copy)
    elif kind == "endless":
        copy.symlink_to("/dev/zero")
    else:  # a symlink to the very bytes: read or passed over, the package is the same
        (tmp_path / "elsewhere.anki2").write_bytes(
            zipfile.ZipFile(out / "figures.apkg").read("collection.anki2"))
        copy.symlink_to(tmp_path / "elsewhere.anki2")
    edit(cards / "attention.yaml", "梯度不消失", "梯度不会消失")
    result = subprocess.run([sys.executable, "-m", "deckgen", "build", "--cards", cards,
                             "--out", out], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    build(cards, tmp_path / "afresh")
    assert package_contents(out, tmp_path) == package_contents(tmp_path / "afresh", tmp_path)


def test_kept_collections_on_another_file_system_are_only_a_loss_of_speed(cards, tmp_path):
    """The cache folder may be a link to another file system, where the scratch
    collections cannot be moved: the build still succeeds, and its record is written."""
    elsewhere = Path("/dev/shm")
    if not elsewhere.is_dir() or os.stat(elsewhere).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system to put the cache on")
    out = tmp_path / "build"
    out.mkdir()
    cache = Path(tempfile.mkdtemp(dir=elsewhere))
    try:
        (out / ".deckgen-cache").symlink_to(cache)
        build(cards, out)
        assert (cache / "record.json").exists()
        assert sorted(p.name for p in out.iterdir()) == [
            ".deckgen-cache", "all.apkg", "attention.apkg", "figures.apkg"]
        edit(cards / "attention.yaml", "梯度不消失", "梯度不会消失")
        assert build(cards, out).changes.changed_ids == ["scaled-dot-product"]
    finally:
        shutil.rmtree(cache)


def test_temporary_files_of_a_dead_build_are_removed(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    left = [out / f".all.apkg.{dead}.x1y2.deckgen-tmp",
            out / ".deckgen-cache" / f".record.json.{dead}.ab_c.deckgen-tmp"]
    mine = out / f".all.apkg.{os.getpid()}.zz.deckgen-tmp"  # a build still running
    for path in [*left, mine]:
        path.write_bytes(b"half")
    edit(cards / "attention.yaml", "梯度不消失", "梯度不会消失")
    build(cards, out)
    assert [p.exists() for p in left] == [False, False] and mine.exists()


def test_parallel_render_matches_serial_and_dies_with_the_build(tmp_path, monkeypatch):
    """A cold build of 400+ cards renders in worker processes: the same notes as one
    process; and when the build is killed, its workers end with it."""
    cards = write_bank(tmp_path / "bank", 450)
    build(cards, tmp_path / "parallel", now=1_000)
    monkeypatch.setattr(collect, "PARALLEL_FROM", 10**9)
    shutil.rmtree(tmp_path / "parallel" / ".deckgen-cache")
    (cards / STATE_FILE).unlink()
    build(cards, tmp_path / "serial", now=1_000)
    assert package_contents(tmp_path / "parallel", tmp_path) == package_contents(
        tmp_path / "serial", tmp_path)

    # Large enough that the build is still rendering when it is killed: most of these
    # cards take the quick Markdown path, so 450 of them render in a blink.
    big = write_bank(tmp_path / "big", 4_000)
    process = subprocess.Popen([sys.executable, "-m", "deckgen", "build", "--cards", big,
                                "--out", tmp_path / "killed"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    workers = _wait_for_children(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def test_ctrl_c_ends_a_parallel_build_with_one_message(tmp_path):
    """Ctrl+C reaches the whole process group: the build reports it, with the exit code
    shells give an interrupted command (128 + SIGINT), and its workers, some waiting for
    work while files are parsed, end without tracebacks of their own."""
    big = write_bank(tmp_path / "big", 4_000)
    process = subprocess.Popen([sys.executable, "-m", "deckgen", "build", "--cards", big,
                                "--out", tmp_path / "out"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers = _wait_for_children(process.pid)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err == "interrupted\n"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def _wait_for_children(pid: int) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        found = [int(c) for c in children.read_text().split()] if children.exists() else []
        if len(found) >= 2:
            return found
        time.sleep(0.05)
    raise AssertionError("the build started no render workers")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_new_cards_have_one_order_across_topics(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    database = tmp_path / "all.anki2"
    with zipfile.ZipFile(out / "all.apkg") as zf:
        database.write_bytes(zf.read("collection.anki2"))
    with closing(sqlite3.connect(database)) as conn:
        dues = [due for (due,) in conn.execute("SELECT due FROM cards ORDER BY id")]
    assert dues == [0, 1, 1, 2, 3, 4]  # a note's cards share its position; the cloze has 2


def test_packages_are_deflated_by_isal(tmp_path):
    # Should zipfile's private attribute change, packages fall back to zlib: this fails.
    assert deflate.isal_in_use(tmp_path)


def test_environment_changes_rebuild_everything(cards, tmp_path, monkeypatch):
    out = tmp_path / "build"
    build(cards, out)
    monkeypatch.setattr(environment, "RENDER_VERSION", environment.RENDER_VERSION + 1)
    assert build(cards, out).rendered_now == 5


def test_an_edited_image_is_seen_beside_an_identical_one(cards, tmp_path):
    out = tmp_path / "build"
    twin = cards / "img" / "c" / "figure.png"  # the same name and bytes as img/a/figure.png
    twin.parent.mkdir()
    twin.write_bytes((cards / "img" / "a" / "figure.png").read_bytes())
    (cards / "img" / "b" / "figure.png").unlink()
    edit(cards / "more" / "figures.yaml", "../img/b/figure.png", "../img/c/figure.png")
    assert build(cards, out).warnings == []  # both are used
    twin.write_bytes(twin.read_bytes() + b"\0")
    assert build(cards, out).changes.changed_ids != []


def test_a_moved_cards_folder_builds_from_its_cache(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    moved = tmp_path / "bank"
    cards.rename(moved)
    edit(moved / "attention.yaml", "梯度不消失", "梯度不会消失")
    (out / "figures.apkg").unlink()  # written again from the cache, images and all
    build(moved, out)
    build(moved, tmp_path / "afresh")
    assert package_contents(out, tmp_path) == package_contents(tmp_path / "afresh", tmp_path)


def test_a_state_that_cannot_be_saved_publishes_no_package(cards, tmp_path, monkeypatch):
    import errno

    from deckgen import state

    out = tmp_path / "build"
    build(cards, out)
    before = {p: p.read_bytes() for p in [*out.glob("*.apkg"), cards / STATE_FILE]}

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(state, "write_atomically", full)
    edit(cards / "attention.yaml", "梯度不消失", "梯度不会消失")
    with pytest.raises(OSError):
        build(cards, out)
    assert {p: p.read_bytes() for p in before} == before
    assert list(out.glob(".*tmp")) == []


def test_images_from_before_1980_are_packaged(cards, tmp_path):
    os.utime(cards / "img" / "a" / "figure.png", (86400, 86400))
    build(cards, tmp_path / "build")


def test_a_dry_run_removes_nothing(cards, tmp_path):
    out = tmp_path / "build"
    build(cards, out)
    left = out / ".all.apkg.999999999.x.deckgen-tmp"
    left.write_bytes(b"half")
    edit(cards / "attention.yaml", "梯度不消失", "梯度不会消失")
    build(cards, out, dry_run=True)
    assert left.exists()


def test_a_new_deckgen_writes_the_packages_again(cards, tmp_path, monkeypatch):
    out = tmp_path / "build"
    build(cards, out)
    monkeypatch.setattr(environment, "RENDER_VERSION", environment.RENDER_VERSION + 1)
    assert all(p.written for p in build(cards, out).packages)


KILLED_WITH_ITS_WORKERS = """
import multiprocessing, os, signal, sys
if __name__ == "__main__":  # spawned and fork-server workers import the main module
    multiprocessing.set_start_method(sys.argv[1])
    from deckgen import collect
    pool = collect._start_workers()
    futures = [pool.submit(os.getpid) for _ in range(4)]
    print(*{f.result() for f in futures}, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


ON_LINUX = pytest.mark.skipif(not Path("/proc/self/task").is_dir(),
                              reason="reads processes from /proc")


@ON_LINUX
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_render_workers_end_with_the_build_however_started(method):
    """Python 3.14 starts workers from a fork server on Linux (and spawns them on macOS):
    the workers must run, and end when the build is killed, whatever their parent is."""
    process = subprocess.run([sys.executable, "-c", KILLED_WITH_ITS_WORKERS, method],
                             capture_output=True, text=True, timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr
    workers = [int(pid) for pid in process.stdout.split()]
    assert workers
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


@ON_LINUX
@pytest.mark.skipif(len(getattr(os, "sched_getaffinity", lambda _: ())(0)) < 2,
                    reason="needs two CPUs, to allow one")
def test_no_render_workers_on_one_allowed_cpu(tmp_path):
    """CPUs the build may not run on (taskset, a container's cpuset) are not counted."""
    # Without the affinity, such a build has workers (see the kill -9 test above).
    big = write_bank(tmp_path / "big", 4_000)
    script = ("import os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
              "from deckgen.cli import main; main()")
    process = subprocess.Popen([sys.executable, "-c", script, "build", "--cards", big,
                                "--out", tmp_path / "out"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    seen, looks = set(), 0
    while process.poll() is None:
        with suppress(OSError):
            seen.update(children.read_text().split())
            looks += 1
        time.sleep(0.02)
    assert process.returncode == 0 and looks > 10 and not seen  # looked, while it ran
