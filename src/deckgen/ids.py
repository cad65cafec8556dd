"""Stable identities: Anki matches notes, decks and note types by these on import.

They depend only on ids the author chose, never on text, so editing, reordering
or moving cards between files keeps every note's identity and review history.
"""

from __future__ import annotations

import hashlib

# The alphabet of Anki's base-91 GUIDs, in its order.
BASE91 = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
          "!#$%&()*+,-./:;<=>?@[]^_`{|}~")
# Note type ids are constants: changing one makes Anki treat every note as new.
NOTETYPE_IDS = {"basic": 1607392319, "cloze": 1607392320}


def note_guid(card_id: str) -> str:
    """The first 8 bytes of SHA-256 of "deckgen__<id>" in base 91, as genanki's
    guid_for("deckgen", card_id) makes it: the GUIDs of every deck shipped so far."""
    number = int.from_bytes(hashlib.sha256(f"deckgen__{card_id}".encode()).digest()[:8], "big")
    digits = []
    while number:
        number, digit = divmod(number, len(BASE91))
        digits.append(BASE91[digit])
    return "".join(reversed(digits))


def deck_id(topic_id: str) -> int:
    digest = hashlib.sha256(f"deckgen deck {topic_id}".encode()).digest()
    # Positive, below 2**52 so JavaScript in Anki's UI holds it exactly.
    return (1 << 40) + int.from_bytes(digest[:8], "big") % (1 << 51)
