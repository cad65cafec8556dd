"""The collection inside a package before its notes: Anki's legacy schema (version 11,
which every Anki imports), its one row of settings, and deckgen's decks and note types
in it, in the form genanki 0.13 writes them (tests/test_collection.py compares the two).
"""

from __future__ import annotations

import json
import re
import sqlite3

from deckgen.notetypes import NoteType

SCHEMA = """
CREATE TABLE col (id integer primary key, crt integer not null, mod integer not null,
  scm integer not null, ver integer not null, dty integer not null, usn integer not null,
  ls integer not null, conf text not null, models text not null, decks text not null,
  dconf text not null, tags text not null);
CREATE TABLE notes (id integer primary key, guid text not null, mid integer not null,
  mod integer not null, usn integer not null, tags text not null, flds text not null,
  sfld integer not null, csum integer not null, flags integer not null,
  data text not null);
CREATE TABLE cards (id integer primary key, nid integer not null, did integer not null,
  ord integer not null, mod integer not null, usn integer not null, type integer not null,
  queue integer not null, due integer not null, ivl integer not null,
  factor integer not null, reps integer not null, lapses integer not null,
  left integer not null, odue integer not null, odid integer not null,
  flags integer not null, data text not null);
CREATE TABLE revlog (id integer primary key, cid integer not null, usn integer not null,
  ease integer not null, ivl integer not null, lastIvl integer not null,
  factor integer not null, time integer not null, type integer not null);
CREATE TABLE graves (usn integer not null, oid integer not null, type integer not null);
CREATE INDEX ix_notes_usn on notes (usn);
CREATE INDEX ix_cards_usn on cards (usn);
CREATE INDEX ix_revlog_usn on revlog (usn);
CREATE INDEX ix_cards_nid on cards (nid);
CREATE INDEX ix_cards_sched on cards (did, queue, due);
CREATE INDEX ix_revlog_cid on revlog (cid);
CREATE INDEX ix_notes_csum on notes (csum);
"""

# The settings row: Anki's defaults of its 2.1 legacy format, with the Default deck and
# its options. Importing a package takes none of it but the decks and note types.
CONF = {"activeDecks": [1], "addToCur": True, "collapseTime": 1200, "curDeck": 1,
        "curModel": "1425279151691", "dueCounts": True, "estTimes": True, "newBury": True,
        "newSpread": 0, "nextPos": 1, "sortBackwards": False, "sortType": "noteFld",
        "timeLim": 0}
DEFAULT_DECK = {"collapsed": False, "conf": 1, "desc": "", "dyn": 0, "extendNew": 10,
                "extendRev": 50, "id": 1, "lrnToday": [0, 0], "mod": 1425279151,
                "name": "Default", "newToday": [0, 0], "revToday": [0, 0],
                "timeToday": [0, 0], "usn": 0}
DECK_OPTIONS = {"autoplay": True, "id": 1, "lapse": {
    "delays": [10], "leechAction": 0, "leechFails": 8, "minInt": 1, "mult": 0},
    "maxTaken": 60, "mod": 0, "name": "Default", "new": {
        "bury": True, "delays": [1, 10], "initialFactor": 2500, "ints": [1, 4, 7],
        "order": 1, "perDay": 20, "separate": True},
    "replayq": True, "rev": {"bury": True, "ease4": 1.3, "fuzz": 0.05, "ivlFct": 1,
                             "maxIvl": 36500, "minSpace": 1, "perDay": 100},
    "timer": 0, "usn": 0}
LATEX_PRE = ("\\documentclass[12pt]{article}\n\\special{papersize=3in,5in}\n"
             "\\usepackage[utf8]{inputenc}\n\\usepackage{amssymb,amsmath}\n"
             "\\pagestyle{empty}\n\\setlength{\\parindent}{0in}\n\\begin{document}\n")
LATEX_POST = "\\end{document}"
MUSTACHE_VARIABLE = re.compile(r"\{\{\s*([^#^/!>{&=][^}]*?)\s*\}\}")


def create(conn: sqlite3.Connection, decks: list[tuple[int, str]],
           notetypes: dict[str, NoteType], mtimes: dict[str, int]) -> None:
    """The tables and settings row of a new collection, with `decks` ((id, name) each,
    at least one) and the note types, each stamped with its mtime."""
    assert decks, "a package holds at least one deck"
    conn.executescript(SCHEMA)
    all_decks = {"1": DEFAULT_DECK, **{str(i): _deck(i, name) for i, name in decks}}
    # Each note type names a deck, as genanki writes them: the last one written.
    models = {str(t.id): _model(t, mtimes[key], decks[-1][0]) for key, t in notetypes.items()}
    conn.execute("INSERT INTO col VALUES (null, 1411124400, 1425279151694, 1425279151690,"
                 " 11, 0, 0, 0, ?, ?, ?, ?, '{}')",
                 (json.dumps(CONF), json.dumps(models), json.dumps(all_decks),
                  json.dumps({"1": DECK_OPTIONS})))


def _deck(deck_id: int, name: str) -> dict:
    return {"collapsed": False, "conf": 1, "desc": "", "dyn": 0, "extendNew": 0,
            "extendRev": 50, "id": deck_id, "lrnToday": [163, 2], "mod": 1425278051,
            "name": name, "newToday": [163, 2], "revToday": [163, 0],
            "timeToday": [163, 23598], "usn": -1}


def _model(notetype: NoteType, mtime: int, deck_id: int) -> dict:
    fields = [{"name": name, "ord": n, "font": "Liberation Sans", "media": [], "rtl": False,
               "size": 20, "sticky": False} for n, name in enumerate(notetype.fields)]
    template = {"name": notetype.card_name, "qfmt": notetype.front, "afmt": notetype.back,
                "ord": 0, "bafmt": "", "bqfmt": "", "bfont": "", "bsize": 0, "did": None}
    return {"css": notetype.css, "did": deck_id, "flds": fields, "id": str(notetype.id),
            "latexPost": LATEX_POST, "latexPre": LATEX_PRE, "latexsvg": False, "mod": mtime,
            "name": notetype.name, "req": [_required(notetype)], "sortf": 0, "tags": [],
            "tmpls": [template], "type": 1 if notetype.is_cloze else 0, "usn": -1,
            "vers": []}


def _required(notetype: NoteType) -> list:
    """Which fields the card's front needs to show anything (the legacy `req`; today's
    Anki works it out itself), as genanki reckons it for a front made of plain field
    references: the field if it shows one, any of them if several, and all fields if it
    shows none (a cloze front). Sections ({{#Field}}) are not understood: the note types'
    fronts have none, and tests/test_collection.py would see one."""
    shown = set(MUSTACHE_VARIABLE.findall(notetype.front))
    ords = [n for n, name in enumerate(notetype.fields) if name in shown]
    if len(ords) > 1:
        return [0, "any", ords]
    return [0, "all", ords or list(range(len(notetype.fields)))]
