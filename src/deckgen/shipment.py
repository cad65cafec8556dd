"""What a package ships, read back from the package itself: per card id, the note's
GUID, modification time, tags, fields and deck. `sync` compares this with a collection."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

CARD_ID_FIELD = "CardId"


@dataclass(frozen=True)
class Shipped:
    card_id: str
    guid: str
    mtime: int
    tags: tuple[str, ...]
    fields: tuple[str, ...]
    deck_id: int


@dataclass(frozen=True)
class Shipment:
    notes: dict[str, Shipped]  # by card id
    decks: dict[int, str]  # deck names by id


def read_package(package: Path) -> Shipment:
    with tempfile.TemporaryDirectory() as scratch:
        with zipfile.ZipFile(package) as zf:
            database = Path(zf.extract("collection.anki2", scratch))
        conn = sqlite3.connect(database)
        try:
            return _read(conn)
        finally:
            conn.close()


def _read(conn: sqlite3.Connection) -> Shipment:
    models_json, decks_json = conn.execute("SELECT models, decks FROM col").fetchone()
    card_id_at = {int(mid): [f["name"] for f in model["flds"]].index(CARD_ID_FIELD)
                  for mid, model in json.loads(models_json).items()}
    names = {int(did): deck["name"] for did, deck in json.loads(decks_json).items()}
    rows = conn.execute("SELECT guid, mid, mod, tags, flds, (SELECT did FROM cards"
                        " WHERE nid = notes.id LIMIT 1) FROM notes").fetchall()
    notes = {}
    for guid, mid, mtime, tags, flds, deck_id in rows:
        fields = tuple(flds.split("\x1f"))
        card_id = fields[card_id_at[mid]]
        notes[card_id] = Shipped(card_id, guid, mtime, tuple(tags.split()), fields, deck_id)
    used = {shipped.deck_id for shipped in notes.values()}  # not Anki's "Default"
    return Shipment(notes, {did: name for did, name in names.items() if did in used})
