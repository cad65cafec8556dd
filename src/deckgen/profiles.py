"""Anki's profiles: its base folder, the profile it opens, and that profile's collection.

Anki desktop keeps one folder per profile in its base folder (qt/aqt/profiles.py), and
in `prefs21.db` a `profiles` table of pickled dicts: the `_global` row remembers the
profile opened last (`last_loaded_profile_name`). Profile names match without case.
"""

from __future__ import annotations

import io
import os
import pickle
import sqlite3
import sys
from pathlib import Path

from deckgen.errors import DeckgenError

COLLECTION = "collection.anki2"


def base_folder(env: dict | None = None, platform: str = sys.platform) -> Path:
    """Where Anki keeps its profiles on this platform, or ANKI_BASE, as Anki decides."""
    env = os.environ if env is None else env
    if env.get("ANKI_BASE"):
        return Path(env["ANKI_BASE"])
    if platform == "win32":
        return Path(env.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "Anki2"
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Anki2"
    return Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "Anki2"


def find_collection(collection: Path | None, profile: str | None,
                    base: Path | None = None) -> Path:
    """The collection to sync: `collection` itself, or that of `profile` (default: the
    one Anki opened last, else the only one) in Anki's base folder."""
    if collection is None:
        base = base_folder() if base is None else base
        collection = base / choose_profile(base, profile) / COLLECTION
    if not collection.is_file():
        raise DeckgenError(f"{collection}: no Anki collection there (open the profile in Anki"
                           " once, or pass --collection PATH to a collection.anki2)")
    return collection


def choose_profile(base: Path, wanted: str | None) -> str:
    names, last = read_profiles(base)
    listed = ", ".join(f"'{name}'" for name in names)
    if not names:
        raise DeckgenError(f"{base}: no Anki profiles found (pass --collection PATH, or set"
                           " ANKI_BASE to Anki's base folder)")
    if wanted is not None:
        for name in names:
            if name.casefold() == wanted.casefold():
                return name
        raise DeckgenError(f"{base}: no profile named '{wanted}'; profiles found: {listed}")
    if last in names:
        return last
    if len(names) == 1:
        return names[0]
    raise DeckgenError(f"{base}: several profiles and none known as opened last: {listed};"
                       " choose one with --profile NAME")


def read_profiles(base: Path) -> tuple[list[str], str | None]:
    """The profile names and the one opened last, from prefs21.db; without a readable
    prefs21.db, the folders holding a collection, and no last one."""
    prefs = (base / "prefs21.db").resolve()
    try:
        database = sqlite3.connect(f"{prefs.as_uri()}?mode=ro", uri=True)
    except (sqlite3.Error, ValueError):
        database = None
    if database is not None:
        try:
            rows = database.execute("SELECT name, data FROM profiles").fetchall()
        except sqlite3.Error:
            rows = []
        finally:
            database.close()
        names = sorted(name for name, _ in rows if name != "_global")
        if names:
            meta = next((_unpickle(data) for name, data in rows if name == "_global"), {})
            last = meta.get("last_loaded_profile_name") if isinstance(meta, dict) else None
            return names, last if isinstance(last, str) else None
    folders = base.glob(f"*/{COLLECTION}") if base.is_dir() else []
    return sorted(path.parent.name for path in folders), None


class _Opaque:
    """Stands in for any object a pickle names (Qt's byte arrays, say): nothing of the
    pickle's choosing is imported or run."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


class _DataOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return _Opaque


def _unpickle(data) -> object:
    """Anki's own pickled preferences, read as plain data."""
    try:
        return _DataOnly(io.BytesIO(bytes(data))).load()
    except Exception:
        return None
