"""The two note types deckgen ships: templates and CSS are files in this package.

Their ids, names and field lists are constants. Changing a field list makes Anki
add a copy of the note type and skip updating every existing note, so fields are
chosen once: the text fields, plus CardId and Source so a card in Anki leads back
to its YAML (and old notes can be found by id with `CardId:some-id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pygments.formatters.html import HtmlFormatter  # not pygments.formatters: no plugin scan

from deckgen import resources
from deckgen.ids import NOTETYPE_IDS
from deckgen.model import digest

# Chosen for contrast: every token colour is >= 4.5:1 on the code background of its mode.
DAY_STYLE, NIGHT_STYLE = "xcode", "lightbulb"
NIGHT_SCOPES = (".nightMode", ".night_mode")


@dataclass(frozen=True)
class NoteType:
    key: str  # "basic" or "cloze"
    id: int
    name: str
    fields: tuple[str, ...]
    front: str
    back: str
    css: str
    card_name: str = "Card 1"

    @property
    def is_cloze(self) -> bool:
        return self.key == "cloze"

    @property
    def digest(self) -> str:
        return digest([self.name, self.fields, self.card_name, self.front, self.back, self.css])

    @property
    def schema(self) -> str:
        """What Anki cannot update in place: changing it makes Anki add a copy of the
        note type on import and leave every existing note as it was."""
        return digest([self.fields, [self.card_name]])


def _template(name: str) -> str:
    return resources.TEMPLATES.joinpath(name).read_text(encoding="utf-8")


def highlight_css() -> str:
    """Pygments colours for code blocks, one palette for day and one for night."""
    # Token colours only: backgrounds come from card.css so they follow the theme.
    day = HtmlFormatter(style=DAY_STYLE).get_token_style_defs(".highlight")
    night = HtmlFormatter(style=NIGHT_STYLE).get_token_style_defs(
        [f"{scope} .highlight" for scope in NIGHT_SCOPES])
    return "\n".join([*day, *night, ""])


@cache
def note_types() -> dict[str, NoteType]:
    css = _template("card.css") + highlight_css()
    return {
        "basic": NoteType("basic", NOTETYPE_IDS["basic"], "deckgen Basic",
                          ("Front", "Back", "Extra", "CardId", "Source"),
                          _template("basic_front.html"), _template("basic_back.html"), css),
        "cloze": NoteType("cloze", NOTETYPE_IDS["cloze"], "deckgen Cloze",
                          ("Text", "Extra", "CardId", "Source"),
                          _template("cloze_front.html"), _template("cloze_back.html"), css),
    }
