"""The obvious pipeline a competent user would write, as a baseline: PyYAML (libyaml) ->
one Python-Markdown converter with arithmatex and Pygments, reset() between fields ->
genanki, one package per topic plus a combined one. Usage: python obvious.py CARDS OUT"""

from __future__ import annotations

import sys
from pathlib import Path

import genanki
import markdown
import yaml

EXTENSIONS = ["tables", "pymdownx.arithmatex", "pymdownx.superfences", "pymdownx.highlight"]
CONFIGS = {"pymdownx.arithmatex": {"generic": True}}
MODEL = genanki.Model(1607392319, "Basic", fields=[{"name": "Front"}, {"name": "Back"},
                                                     {"name": "Extra"}],
                      templates=[{"name": "Card 1", "qfmt": "{{Front}}",
                                  "afmt": "{{FrontSide}}<hr id=answer>{{Back}}{{Extra}}"}])


CONVERTER = markdown.Markdown(extensions=EXTENSIONS, extension_configs=CONFIGS)


def render(text: str) -> str:
    return CONVERTER.reset().convert(text)


def main(cards_dir: Path, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    decks = []
    for n, path in enumerate(sorted(cards_dir.glob("*.yaml"))):
        topic = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        deck = genanki.Deck(2059400110 + n, topic["deck"])
        for card in topic["cards"]:
            fields = [render(card[key]) for key in ("front", "back", "extra")]
            deck.add_note(genanki.Note(model=MODEL, fields=fields, tags=card["tags"],
                                       guid=genanki.guid_for(card["id"])))
        genanki.Package(deck).write_to_file(out_dir / f"{path.stem}.apkg")
        decks.append(deck)
    genanki.Package(decks).write_to_file(out_dir / "all.apkg")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
