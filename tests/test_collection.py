"""The collection deckgen writes before its notes is the one genanki 0.13 writes for the
same decks and note types (as deckgen wrote packages with genanki before): the same
tables, columns and indexes, and the same settings, decks and note types once parsed."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA
from hypothesis import given, settings
from hypothesis import strategies as st

from deckgen import collection, ids
from deckgen.notetypes import note_types

DECKS = [("basics", "LLM::Basics"), ("transformer", "LLM::Transformer 架构")]
MTIMES = {"basic": 1_700_000_000, "cloze": 1_700_000_123}


class StampedModel(genanki.Model):
    """A note type with its own mtime, as deckgen wrote them through genanki."""

    def __init__(self, key: str):
        notetype = note_types()[key]
        super().__init__(
            notetype.id, notetype.name, fields=[{"name": f} for f in notetype.fields],
            templates=[{"name": notetype.card_name, "qfmt": notetype.front,
                        "afmt": notetype.back}],
            css=notetype.css,
            model_type=genanki.Model.CLOZE if notetype.is_cloze else genanki.Model.FRONT_BACK)
        self.mtime = MTIMES[key]

    def to_json(self, timestamp: float, deck_id: int) -> dict:
        return super().to_json(self.mtime, deck_id)


def by_genanki(conn: sqlite3.Connection) -> None:
    conn.executescript(APKG_SCHEMA)
    conn.executescript(APKG_COL)
    models = [StampedModel(key) for key in note_types()]
    for topic, name in DECKS:
        deck = genanki.Deck(ids.deck_id(topic), name)
        for model in models:
            deck.add_model(model)
        deck.write_to_db(conn.cursor(), 0, None)


def by_deckgen(conn: sqlite3.Connection) -> None:
    collection.create(conn, [(ids.deck_id(t), name) for t, name in DECKS], note_types(), MTIMES)


def contents(write, tmp_path, name: str) -> dict:
    with closing(sqlite3.connect(tmp_path / name)) as conn:
        write(conn)
        conn.commit()
        tables = {row[0]: [tuple(c) for c in conn.execute(f"PRAGMA table_info({row[0]})")]
                  for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        indexes = sorted(" ".join(row[0].split()).lower() for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type='index'"))
        (row,) = conn.execute("SELECT * FROM col").fetchall()
    values = [json.loads(v) if isinstance(v, str) else v for v in row]
    return {"tables": tables, "indexes": indexes, "col": values}


def test_the_collection_is_genankis(tmp_path):
    ours, theirs = (contents(by_deckgen, tmp_path, "ours.anki2"),
                    contents(by_genanki, tmp_path, "theirs.anki2"))
    assert ours["tables"] == theirs["tables"]
    assert ours["indexes"] == theirs["indexes"]
    assert ours["col"] == theirs["col"]


def test_note_types_name_their_fields_and_required_fields():
    models = contents_of_models()
    basic, cloze = models[str(ids.NOTETYPE_IDS["basic"])], models[str(ids.NOTETYPE_IDS["cloze"])]
    assert [f["name"] for f in basic["flds"]] == ["Front", "Back", "Extra", "CardId", "Source"]
    assert basic["req"] == [[0, "all", [0]]] and basic["type"] == 0
    assert cloze["req"] == [[0, "all", [0, 1, 2, 3]]] and cloze["type"] == 1
    assert basic["mod"] == MTIMES["basic"] and basic["did"] == ids.deck_id("transformer")


def contents_of_models() -> dict:
    with closing(sqlite3.connect(":memory:")) as conn:
        by_deckgen(conn)
        return json.loads(conn.execute("SELECT models FROM col").fetchone()[0])


@settings(max_examples=500, derandomize=True, database=None)
@given(st.text())
def test_guids_are_genankis(card_id):
    assert ids.note_guid(card_id) == genanki.guid_for("deckgen", card_id)
