"""`deckgen init`: a new bank that builds at once, from the starter files in the package."""

from __future__ import annotations

from pathlib import Path

from deckgen import resources
from deckgen.errors import DeckgenError

SCHEMA_FILE = "deckgen.schema.json"  # beside cards/: the example topic's first line names it
HIDDEN = {"gitignore": ".gitignore"}  # shipped without the dot, which packaging tools skip


def starter_files() -> dict[str, Path]:
    """Path in the new bank -> the packaged file it is a copy of."""
    files = {SCHEMA_FILE: resources.SCHEMA}
    for source in sorted(resources.STARTER.rglob("*")):
        if source.is_file():
            name = source.relative_to(resources.STARTER).as_posix()
            files[HIDDEN.get(name, name)] = source
    return files


def init(bank: Path) -> list[Path]:
    """Write the starter bank into `bank` and return the files written. Nothing is
    written if any of them exists already."""
    if bank.exists() and not bank.is_dir():
        raise DeckgenError(f"{bank}: not a folder; init a new or empty folder")
    files = {bank / name: source for name, source in starter_files().items()}
    existing = [str(path) for path in files if path.exists() or path.is_symlink()]
    if existing:
        raise DeckgenError(f"would overwrite {', '.join(existing)}; nothing written"
                           " (init a new or empty folder)")
    for path, source in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as target:  # "x": never overwrite, even a file made just now
                target.write(source.read_bytes())
        except OSError as e:
            raise DeckgenError(f"{path}: cannot write it ({e.strerror})") from e
    return list(files)
