"""Markdown + TeX sources to the HTML fields of Anki notes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import markdown
from markdown.extensions.sane_lists import SaneListExtension
from markdown.extensions.tables import TableExtension
from pymdownx.arithmatex import ArithmatexExtension
from pymdownx.highlight import HighlightExtension
from pymdownx.superfences import SuperFencesCodeExtension

from deckgen import cloze, ids
from deckgen.errors import Problem
from deckgen.markdown_ext import DeckgenExtension
from deckgen.model import Card, Media, Note, Text, Topic


def _extensions() -> list[markdown.Extension]:
    # Instances, not names: names make Markdown scan every installed package's entry points.
    return [
        TableExtension(),
        SaneListExtension(),
        # generic: math goes out as \(..\) and \[..\], the delimiters Anki's MathJax reads.
        ArithmatexExtension(generic=True),
        SuperFencesCodeExtension(),
        # Pygments classes, coloured by the note type's CSS for day and night mode.
        HighlightExtension(css_class="highlight", guess_lang=False),
    ]


class MarkdownRenderer:
    """One converter reused for every field; collects media and problems as it goes."""

    def __init__(self, cards_dir: Path):
        self.cards_root = cards_dir.resolve()
        self.media: dict[str, Media] = {}
        self.problems: list[Problem] = []
        self._text: Text | None = None
        self._base: Path = self.cards_root
        self._used: list[Media] = []
        self._md = markdown.Markdown(
            extensions=[*_extensions(), DeckgenExtension(self._resolve_image)])

    def html(self, text: Text, base: Path) -> tuple[str, list[Media]]:
        """Render one field; `base` is the folder its relative image paths start from."""
        self._text, self._base, self._used = text, base, []
        return self._md.reset().convert(text.source), self._used

    def _resolve_image(self, src: str) -> str:
        path = (self._base / src).resolve()
        if not path.is_relative_to(self.cards_root):
            self._problem(src, f"image '{src}' is outside {self.cards_root.name}/;"
                               " keep images inside the cards folder")
            return src
        if not path.is_file():
            self._problem(src, f"image '{src}' not found")
            return src
        media = self._media_for(path)
        self._used.append(media)
        return media.name

    def _media_for(self, path: Path) -> Media:
        # Content-addressed names: two "figure.png" in different folders never collide,
        # and an edited image gets a new name, so the note changes and updates in Anki.
        digest = hashlib.sha1(path.read_bytes()).hexdigest()[:10]
        name = f"{path.stem}-{digest}{path.suffix.lower()}"
        source = path.relative_to(self.cards_root).as_posix()
        return self.media.setdefault(name, Media(name, path, source))

    def _problem(self, needle: str, message: str) -> None:
        assert self._text is not None
        offset = self._text.source.find(needle)
        line = self._text.source.count("\n", 0, max(offset, 0))
        self.problems.append(Problem(self._text.where.path, self._text.where.line + line, message))


def render_checked(card: Card, topic: Topic, renderer: MarkdownRenderer,
                   ) -> tuple[Note, list[Problem]]:
    """The note, and the problems rendering found in this card."""
    before = len(renderer.problems)
    note = render_card(card, topic, renderer)
    return note, renderer.problems[before:]


def render_card(card: Card, topic: Topic, renderer: MarkdownRenderer) -> Note:
    base = topic.source.parent
    media: list[Media] = []

    def field(text: Text | None) -> str:
        if text is None:
            return ""
        html, used = renderer.html(text, base)
        media.extend(used)
        return html

    if card.is_cloze:
        body = _cloze_text(card, renderer)
        fields = (field(body), field(card.extra), card.id, topic.label)
        notetype = "cloze"
    else:
        fields = (field(card.front), field(card.back), field(card.extra), card.id, topic.label)
        notetype = "basic"
    tags = tuple(dict.fromkeys((*topic.tags, *card.tags)))
    return Note(ids.note_guid(card.id), card.id, notetype, fields, tags,
                tuple(dict.fromkeys(media)))


def _cloze_text(card: Card, renderer: MarkdownRenderer) -> Text | None:
    text = card.cloze
    assert text is not None
    try:
        deletions = cloze.find_deletions(text.source)
    except cloze.UnclosedDeletion as e:
        line = text.source.count("\n", 0, e.offset)
        renderer.problems.append(Problem(text.where.path, text.where.line + line,
                                         f"card '{card.id}': {e}"))
        return None
    if not deletions:
        renderer.problems.append(Problem(card.where.path, card.where.line,
                                         f"card '{card.id}': cloze has no deletion like"
                                         " {{c1::...}}"))
        return None
    if 0 in cloze.numbers(text.source):  # Anki refuses the whole package for one c0
        offset = text.source.find("{{c0::")
        line = text.source.count("\n", 0, max(offset, 0))
        renderer.problems.append(Problem(text.where.path, text.where.line + line,
                                         f"card '{card.id}': cloze numbers start at 1;"
                                         " {{c0::...}} makes no card in Anki"))
        return None
    return Text(cloze.pad_deletions(text.source), text.where)
