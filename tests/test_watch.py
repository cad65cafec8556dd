"""`deckgen watch`: rebuild on save, report errors without stopping, ignore its own writes."""

from __future__ import annotations

import threading
import time

from deckgen.cli import rebuilder
from deckgen.watch import watch


def wait_until(condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_watch_rebuilds_on_save_and_survives_errors(cards, tmp_path, capsys):
    out = tmp_path / "build"
    rebuild = rebuilder(cards, out)
    builds: list[str] = []
    reports: list[str] = []

    def counted_rebuild() -> None:
        rebuild()
        builds.append(capsys.readouterr().err)

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(cards, counted_rebuild, reports.append, stop))
    watcher.start()
    try:
        assert wait_until(lambda: len(builds) == 1)
        assert (out / "preview" / "index.html").is_file()
        time.sleep(0.5)  # let the watcher settle before editing

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
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive()
