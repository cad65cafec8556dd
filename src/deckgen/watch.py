"""Rebuild on every save under the cards folder, and keep the preview current."""

from __future__ import annotations

import re
import stat
import time
from collections.abc import Callable
from pathlib import Path

from deckgen.errors import showable
from deckgen.sources import output_inside
from deckgen.state import STATE_FILE

# Files editors and tools write beside the one being saved, then rename or delete:
# `sed -i`'s sedXXXXXX, vim's .swp/.swx/... and its 4913 write test, emacs's #x# and
# .#x, JetBrains' x___jb_tmp___ and x___jb_old___, kate's x.kate-swp, and the usual
# backup and temporary suffixes. Hidden files (.#x, .x.swp, .goutputstream-...) are
# all skipped too.
EDITOR_TEMP = re.compile(
    r"sed[A-Za-z0-9]{6}|4913|#.*#"
    r"|.*(~|\.sw[a-px]|___jb_(tmp|old|bak)___|\.kate-swp|\.tmp|\.temp|\.bak|\.orig|\.part)",
    re.I)
CHECK_MS = 1000  # how often a watch looks whether the cards folder is still the same


def is_editor_temp(name: str) -> bool:
    """Whether a file name is an editor's or tool's temporary or swap file."""
    return name.startswith(".") or EDITOR_TEMP.fullmatch(name) is not None


def is_authors_file(change: object, path: str) -> bool:
    """Only the author's files: not the state file each build writes, nor temp files."""
    name = Path(path).name
    return name != STATE_FILE and not is_editor_temp(name)


def watch(cards_dir: Path, rebuild: Callable[[], None], report: Callable[[str], None],
          stop_event=None, out_dir: Path | None = None) -> None:
    """Call `rebuild` now and after every batch of changes, until `stop_event` is set.
    What the build writes into `out_dir`, should it be inside the cards folder, is not a
    change. A cards folder deleted or replaced (a checkout, an unpacked copy) is watched
    again once a folder is back in its place: a watch follows the folder it started on."""
    cards, out = cards_dir.resolve(), output_inside(cards_dir, out_dir)

    def authors(change: object, path: str) -> bool:
        inside_out = out is not None and Path(path).is_relative_to(out)
        return is_authors_file(change, path) and not inside_out

    def changed(path: str) -> bool:
        """Report a change; True if it is to the cards folder itself (deleted, replaced)."""
        rel = Path(path).relative_to(cards)
        report(f"changed: {showable(rel.as_posix()) if rel.parts else cards_dir}")
        return not rel.parts

    rebuild()
    folder, rebuild_first = _identity(cards_dir), False
    while True:
        if folder is None:
            if (folder := _back(cards_dir, stop_event)) is None:
                return  # stopped while waiting
            report(f"changed: {cards_dir} is back")
        if not _watch_folder(cards_dir, folder, authors, changed, rebuild, stop_event,
                             rebuild_first):
            return  # stopped
        folder, rebuild_first = _identity(cards_dir), True


def _watch_folder(cards_dir: Path, folder: tuple[int, int], authors,
                  changed: Callable[[str], bool], rebuild, stop_event,
                  rebuild_first: bool) -> bool:
    """Rebuild on each batch of changes to the folder, until it is stopped (False) or
    the folder itself changes (True): deleted or replaced, the watch on it is deaf, even
    when a new folder gets the old one's inode. With `rebuild_first`, rebuild as soon as
    the watch is on: files written before it started are read then."""
    from watchfiles import watch as watch_changes

    try:
        # Woken each second even with nothing changed, to notice the folder replaced.
        for changes in watch_changes(cards_dir, watch_filter=authors, stop_event=stop_event,
                                     rust_timeout=CHECK_MS, yield_on_timeout=True):
            # Every change reported, in order (a generator in any() would stop at the first).
            itself = [changed(path) for _, path in sorted(changes, key=lambda c: c[1])]
            now = _identity(cards_dir)
            if now != folder or any(itself):
                if now is None:
                    rebuild()  # says the folder is gone
                return True  # a watch on the folder there now rebuilds first
            if changes or rebuild_first:
                rebuild()
                rebuild_first = False
    except FileNotFoundError:  # gone before the watch started
        return True
    return False


def _back(cards_dir: Path, stop_event) -> tuple[int, int] | None:
    """The folder's identity once one is there again; None if stopped first."""
    while (folder := _identity(cards_dir)) is None:
        if stop_event is not None and stop_event.is_set():
            return None
        time.sleep(CHECK_MS / 1000)
    return folder


def _identity(folder: Path) -> tuple[int, int] | None:
    """Which folder is at this path (device and inode), or None if no folder is."""
    try:
        st = folder.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None
