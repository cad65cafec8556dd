"""Rebuild on every save under the cards folder, and keep the preview current."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

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
    change."""
    from watchfiles import watch as watch_changes

    cards, out = cards_dir.resolve(), output_inside(cards_dir, out_dir)

    def authors(change: object, path: str) -> bool:
        inside_out = out is not None and Path(path).is_relative_to(out)
        return is_authors_file(change, path) and not inside_out

    rebuild()
    for changes in watch_changes(cards_dir, watch_filter=authors, stop_event=stop_event):
        for _, path in sorted(changes, key=lambda c: c[1]):
            report(f"changed: {Path(path).relative_to(cards)}")
        rebuild()
