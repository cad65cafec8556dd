"""A static page showing every card, front and back, as Anki renders it.

The cards are imported into a scratch collection with the real Anki library and
rendered by it, so templates, cloze deletions and media behave exactly as in Anki.
MathJax is copied from a local package: the page works offline.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path

from deckgen import resources
from deckgen.atomic import write_atomically

MATHJAX = ("static", "mathjax", "es5", "tex-svg-full.js")
STYLE = re.compile(r"^\s*<style>.*?</style>", re.S)


@dataclass(frozen=True)
class RenderedCard:
    deck: str
    card_id: str
    question: str
    answer: str


def render_cards(package: Path, media_out: Path) -> tuple[list[RenderedCard], str]:
    """Every card of `package` as Anki renders it, and the note types' CSS.

    Media files are copied to `media_out`, where the card HTML expects them."""
    from anki.collection import Collection, ImportAnkiPackageRequest

    with tempfile.TemporaryDirectory() as scratch:
        col = Collection(str(Path(scratch) / "collection.anki2"))
        try:
            options = col._backend.get_import_anki_package_presets()
            col.import_anki_package(ImportAnkiPackageRequest(package_path=str(package),
                                                             options=options))
            anki_cards = [col.get_card(cid) for cid in sorted(col.find_cards(""))]
            cards = [_render(col, card) for card in anki_cards]
            css = "\n".join(dict.fromkeys(card.note_type()["css"] for card in anki_cards))
            for media in Path(col.media.dir()).iterdir():
                shutil.copyfile(media, media_out / media.name)  # not Anki's 0600
        finally:
            col.close()
    return cards, css


def _render(col, card) -> RenderedCard:
    note = card.note()
    card_id = note["CardId"] if "CardId" in note else str(note.id)
    if card.ord:
        card_id += f" (c{card.ord + 1})"
    return RenderedCard(col.decks.name(card.did), card_id,
                        STYLE.sub("", card.question()), STYLE.sub("", card.answer()))


def write_preview(package: Path, out_dir: Path) -> Path:
    """Write `out_dir/index.html` (plus MathJax and media); return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "mathjax").mkdir(exist_ok=True)
    with as_file(files("mathjax").joinpath(*MATHJAX)) as script:
        shutil.copy2(script, out_dir / "mathjax" / script.name)
    cards, css = render_cards(package, out_dir)
    template = resources.TEMPLATES.joinpath("preview.html").read_text(encoding="utf-8")
    page = (template.replace("/*NOTE-TYPE-CSS*/", css)
            .replace("<!--CARDS-->", _topics_html(cards)))
    index = out_dir / "index.html"
    write_atomically(index, page.encode())
    return index


def _topics_html(cards: list[RenderedCard]) -> str:
    decks: dict[str, list[RenderedCard]] = {}
    for card in cards:
        decks.setdefault(card.deck, []).append(card)
    return "\n".join(
        f'<section class="topic"><h2>{html.escape(deck)}</h2>\n'
        + "\n".join(map(_entry_html, entries)) + "\n</section>"
        for deck, entries in sorted(decks.items()))


def _entry_html(card: RenderedCard) -> str:
    return (f'<article class="entry" data-id="{html.escape(card.card_id)}">'
            f'<div class="meta">{html.escape(card.card_id)}</div><div class="sides">'
            f'<div class="phone"><div class="card">{card.question}</div></div>'
            f'<div class="phone"><div class="card">{card.answer}</div></div>'
            "</div></article>")
