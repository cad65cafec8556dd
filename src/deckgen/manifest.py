"""What the last build saw and wrote, so a build with nothing to do returns at once.

A rebuild with no change must not parse YAML or import Markdown, Pygments or
genanki: the manifest records the size and mtime of every file under the cards
folder and of every package written, the environment, and the report to repeat.
"""

from __future__ import annotations

import json
from pathlib import Path

from deckgen import environment
from deckgen.environment import CACHE_DIR

MANIFEST = "manifest.json"


def snapshot(cards_dir: Path, out_dir: Path, packages: list[Path]) -> dict:
    files = {str(p): stat_of(p) for p in sorted(cards_dir.rglob("*")) if p.is_file()}
    return {"environment": environment.digest(), "cards": str(cards_dir), "out": str(out_dir),
            "files": files, "packages": {str(p): stat_of(p) for p in packages}}


def unchanged(cards_dir: Path, out_dir: Path) -> dict | None:
    """The last build's report if nothing it depends on has changed since, else None."""
    try:
        saved = json.loads((out_dir / CACHE_DIR / MANIFEST).read_text(encoding="utf-8"))
        packages = [Path(p) for p in saved["snapshot"]["packages"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return saved["report"] if saved["snapshot"] == snapshot(cards_dir, out_dir, packages) else None


def written_packages(out_dir: Path) -> dict[str, list[int]]:
    """Size and mtime of each package as the last build left it."""
    try:
        saved = json.loads((out_dir / CACHE_DIR / MANIFEST).read_text(encoding="utf-8"))
        return saved["snapshot"]["packages"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def is_as_written(path: Path, written: dict[str, list[int]]) -> bool:
    """Whether `path` is still the file the last build wrote (not deleted or replaced)."""
    stat = stat_of(path)
    return stat is not None and written.get(str(path)) == stat


def save(cards_dir: Path, out_dir: Path, packages: list[Path], report: dict) -> None:
    from deckgen.atomic import write_atomically

    data = {"snapshot": snapshot(cards_dir, out_dir, packages), "report": report}
    write_atomically(out_dir / CACHE_DIR / MANIFEST, json.dumps(data, ensure_ascii=False).encode())


def stat_of(path: Path) -> list[int] | None:
    """Size and mtime, or None for a file that is gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]
