"""Rebuild on every save under the cards folder, and keep the preview current."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deckgen.state import STATE_FILE


def is_source(change: object, path: str) -> bool:
    """Only the author's files: not the state file each build writes, nor temp files."""
    name = Path(path).name
    return name != STATE_FILE and not name.startswith(".") and not name.endswith("~")


def watch(cards_dir: Path, rebuild: Callable[[], None], report: Callable[[str], None],
          stop_event=None) -> None:
    """Call `rebuild` now and after every batch of changes, until `stop_event` is set."""
    from watchfiles import watch as watch_changes

    rebuild()
    for changes in watch_changes(cards_dir, watch_filter=is_source, stop_event=stop_event):
        for _, path in sorted(changes, key=lambda c: c[1]):
            report(f"changed: {Path(path).relative_to(cards_dir.resolve())}")
        rebuild()
