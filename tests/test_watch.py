"""`deckgen watch`: rebuild on save, report errors without stopping, ignore its own writes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from deckgen.cli import rebuilder
from deckgen.watch import is_authors_file, is_editor_temp, watch
from helpers import run

EDITOR_TEMP = ["sedB4EAs3", "sed0aZ9xy",  # sed -i
               ".t.yaml.swp", "t.yaml.swx", "t.yaml.swo", "4913", "t.yaml~",  # vim
               "#t.yaml#", ".#t.yaml",  # emacs
               "t.yaml___jb_tmp___", "t.yaml___jb_old___",  # JetBrains
               "t.yaml.kate-swp", ".goutputstream-6YDKG3", "t.yaml.tmp", "t.yaml.TMP",
               "t.yaml.bak", "t.yaml.orig", ".DS_Store"]
AUTHORS = ["t.yaml", "t.yml", "figure.png", "img.SVG", "sediment.yaml", "sed.yaml",
           "seda", "4913.png", "temp.yaml", "tmp.png", "swp.yaml", "a#b.yaml"]


@pytest.mark.parametrize("name", EDITOR_TEMP)
def test_editor_temporary_and_swap_files_are_ignored(name):
    assert is_editor_temp(name)
    assert not is_authors_file(None, f"/bank/cards/sub/{name}")


@pytest.mark.parametrize("name", AUTHORS)
def test_the_authors_files_are_watched(name):
    assert not is_editor_temp(name)
    assert is_authors_file(None, f"/bank/cards/sub/{name}")


def test_the_state_file_each_build_writes_is_ignored():
    assert not is_authors_file(None, "/bank/cards/deckgen-state.json")


def wait_until(condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@contextmanager
def watching(cards: Path, out: Path, capsys, stream: str, with_preview: bool = True):
    """watch() on a thread: the output of each build (from `stream`), and what it reported
    as changed; stopped, and its thread ended, when the block ends."""
    rebuild = rebuilder(cards, out, with_preview)
    builds: list[str] = []
    reports: list[str] = []

    def counted_rebuild() -> None:
        rebuild()
        builds.append(getattr(capsys.readouterr(), stream))

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(cards, counted_rebuild, reports.append, stop,
                                                   out))
    watcher.start()
    try:
        assert wait_until(lambda: len(builds) == 1)
        time.sleep(0.5)  # let the watcher settle before editing
        yield builds, reports
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive()


def test_watch_rebuilds_on_save_and_survives_errors(cards, tmp_path, capsys):
    out = tmp_path / "build"
    with watching(cards, out, capsys, "err") as (builds, reports):
        assert (out / "preview" / "index.html").is_file()
        source = cards / "attention.yaml"
        source.write_text(source.read_text(encoding="utf-8").replace("back:", "bakc:", 1),
                          encoding="utf-8")
        assert wait_until(lambda: len(builds) == 2)
        assert "unknown key 'bakc'" in builds[1]
        assert reports == ["changed: attention.yaml"]

        source.write_text(source.read_text(encoding="utf-8").replace("bakc:", "back:", 1),
                          encoding="utf-8")
        assert wait_until(lambda: len(builds) == 3)
        assert builds[2] == ""
        # The build rewrote its state file and packages: that must not trigger another build.
        time.sleep(3)
        assert len(builds) == 3


def test_an_output_folder_inside_the_cards_folder_is_not_watched(cards, capsys):
    """`cd cards && deckgen watch --cards .`: the default output folder is inside the cards
    folder, and what a build writes there must not start another."""
    with watching(cards, cards / "build", capsys, "out", with_preview=False) as (builds,
                                                                                 reports):
        source = cards / "attention.yaml"
        source.write_text(source.read_text(encoding="utf-8").replace("梯度", "导数"),
                          encoding="utf-8")
        assert wait_until(lambda: len(builds) == 2)
        time.sleep(3)
        assert len(builds) == 2 and reports == ["changed: attention.yaml"]


def test_watching_a_missing_folder_is_one_error(tmp_path):
    result = run("watch", "--cards", tmp_path / "nope", "--out", tmp_path / "build")
    assert result.exit_code == 1
    assert result.stdout == "" and result.stderr == (
        f"{tmp_path / 'nope'}: no such folder (pass --cards DIR)\n")


def test_ctrl_c_stops_watching_as_documented(cards, tmp_path):
    """Ctrl+C is how watch is stopped: exit code 0, no 'Aborted!'."""
    process = subprocess.Popen([sys.executable, "-m", "deckgen", "watch", "--cards", cards,
                                "--out", tmp_path / "build"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:
            if line.startswith("watching for changes"):
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Aborted" not in err and "Traceback" not in err
    assert out.endswith("stopped watching\n")


def test_the_cards_folder_as_the_output_folder_is_still_watched(cards, capsys):
    with watching(cards, cards, capsys, "out", with_preview=False) as (builds, reports):
        source = cards / "attention.yaml"
        source.write_text(source.read_text(encoding="utf-8").replace("梯度", "导数"),
                          encoding="utf-8")
        assert wait_until(lambda: len(builds) >= 2)
        assert "changed: attention.yaml" in reports


@pytest.mark.parametrize("how", ["deleted", "replaced", "recreated"])
def test_a_cards_folder_deleted_or_replaced_is_watched_again(cards, tmp_path, capsys, how):
    """`git checkout` of a branch without it, an unpacked copy, a sync tool: the folder
    watched is gone, and the one in its place is watched from when it appears."""
    copy = tmp_path / "copy"
    shutil.copytree(cards, copy)
    with watching(cards, tmp_path / "build", capsys, "err", with_preview=False) as (builds, _):
        if how == "deleted":
            shutil.rmtree(cards)
            assert wait_until(lambda: any("no such folder" in b for b in builds))
            shutil.copytree(copy, cards)
        elif how == "recreated":  # at once: the new folder may get the old one's inode
            shutil.rmtree(cards)
            shutil.copytree(copy, cards)
        else:
            os.rename(copy, tmp_path / "new")
            shutil.rmtree(cards)
            os.rename(tmp_path / "new", cards)
        assert wait_until(lambda: builds[-1] == "" and len(builds) >= 2)
        count = len(builds)
        source = cards / "attention.yaml"
        source.write_text(source.read_text(encoding="utf-8").replace("back:", "bakc:", 1),
                          encoding="utf-8")
        assert wait_until(lambda: any("unknown key 'bakc'" in b for b in builds[count:]))


def test_a_change_to_the_cards_folder_itself_rebuilds_once(cards, tmp_path, capsys):
    """Touched or chmod-ed, the folder is watched again (it may have been replaced), with
    one build, not one for the change and one for the new watch."""
    with watching(cards, tmp_path / "build", capsys, "err", with_preview=False) as (builds, _):
        os.utime(cards)
        os.chmod(cards, 0o755)
        assert wait_until(lambda: len(builds) == 2)
        time.sleep(3)
        assert len(builds) == 2
