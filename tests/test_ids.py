from deckgen import ids
from deckgen.notetypes import note_types


def test_guid_depends_only_on_card_id():
    assert ids.note_guid("attention") == "LM#S{ZbZmB"
    assert ids.note_guid("kv-cache") == "jQ7Fsc:;N&"
    assert ids.note_guid("attention-2") != ids.note_guid("attention")


def test_known_ids_never_change():
    # Users' collections hold these; a change would duplicate every note and deck.
    assert ids.note_guid("scaled-dot-product") == "f|P(;=8fV)"
    assert ids.deck_id("transformer") == 144545228236728
    assert ids.deck_id("basics") == 1591313881246262 < 2**52
    assert ids.NOTETYPE_IDS == {"basic": 1607392319, "cloze": 1607392320}


def test_field_lists_are_frozen():
    # Changing fields makes Anki skip updating every existing note: see notetypes.py.
    types = note_types()
    assert types["basic"].fields == ("Front", "Back", "Extra", "CardId", "Source")
    assert types["cloze"].fields == ("Text", "Extra", "CardId", "Source")
    assert "{{cloze:Text}}" in types["cloze"].front and "{{Front}}" in types["basic"].front
