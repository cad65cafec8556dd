"""Lints: what builds but would break in Anki, run foreign code, or study badly.

Errors stop `check` and `build`; warnings are printed and let them go on. A card
silences one lint with `allow: [name]`; the names are the keys of LINTS.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from deckgen import cloze
from deckgen.errors import Problem
from deckgen.model import TAG, Card, Note, Text

if TYPE_CHECKING:
    from deckgen.record import TopicRecord

LINTS = {
    "tex-braces": "error",  # MathJax shows an error instead of the formula
    "tex-left-right": "error",
    "tex-open": "error",  # a math delimiter left open: raw TeX on the card
    "unsafe-html": "error",  # markup the sanitizer removes (deckgen.sanitize): never shipped
    "cloze-gap": "warning",
    "long-back": "warning",
    "duplicate-front": "warning",
    "unused-image": "warning",
}
LONG_BACK = 150
MAX_SIDES_TEXT = 20_000_000  # characters of all sides of a cloze's cards, read for TeX
READING_UNIT = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[A-Za-z0-9]+")
MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
CODE = re.compile(r"<pre\b.*?</pre>|<code>.*?</code>", re.S)
OPEN_MATH = re.compile(r"\$(?=[\\A-Za-z{(])|\\\(|\\\[")
LEFT, RIGHT = re.compile(r"\\left(?![A-Za-z])"), re.compile(r"\\right(?![A-Za-z])")
# MathJax commands that open links, restyle the card or load from the network, each with
# why it is refused whatever its arguments (\bbox and \unicode take CSS; MathJax passes a
# colour it does not know to \fcolorbox as CSS). So are the commands that make commands:
# handed a lone backslash (one before a line break), a macro spells any command.
LINK = "only http and https links may open from a card"
RESTYLES = "it restyles the card"
LOADS = "which can load from the network"
MACRO = "it defines commands, and a macro can spell any command, \\href included"
TEX_COMMANDS = {
    "href": LINK, "url": LINK,
    "style": RESTYLES, "class": RESTYLES, "cssId": RESTYLES, "data": RESTYLES,
    "mmlToken": "it sets HTML attributes (links, styles, ids)",
    "bbox": f"its options take CSS, {LOADS}",
    "unicode": f"its font option is CSS, {LOADS}",
    "fcolorbox": f"a colour it does not know is CSS, {LOADS}",
    "definecolor": f"a colour it defines can be CSS, {LOADS}",
    "require": "it loads MathJax extensions, with commands of their own",
    **dict.fromkeys(["def", "gdef", "edef", "xdef", "let", "futurelet", "newcommand",
                     "renewcommand", "providecommand", "newenvironment", "renewenvironment",
                     "csname", "expandafter"], MACRO),
}
TEX_HTML = re.compile(rf"\\({'|'.join(TEX_COMMANDS)})(?![A-Za-z])")
WEB_URL = re.compile(r"\s*https?://", re.I)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}


def reading_length(text: str) -> int:
    """Han characters plus Latin words and numbers (TeX included): a rough reading time
    that treats Chinese and English alike."""
    return len(READING_UNIT.findall(text))


def card_problems(card: Card, note: Note) -> list[Problem]:
    """What one card shows by itself."""
    return [p for p in _card_problems(card, note) if p.code not in card.allow]


def bank_problems(cards_dir: Path, files: Iterable[str],
                  topics: list[TopicRecord]) -> list[Problem]:
    """What only shows across cards: repeated questions, images no card uses. `files` are
    the paths of every file in the cards folder, relative to it."""
    problems = []
    fronts: dict[str, tuple[str, str, int]] = {}  # question -> (card id, path, line)
    for topic in topics:
        path = str(cards_dir / topic.source)
        for note in topic.notes:
            if not note.question_key or "duplicate-front" in note.allow:
                continue
            first = fronts.setdefault(note.question_key, (note.card_id, path, note.line))
            if first[0] != note.card_id:
                problems.append(Problem(path, note.line, f"card '{note.card_id}': same question"
                                        f" as card '{first[0]}' ({first[1]}:{first[2]})",
                                        LINTS["duplicate-front"], "duplicate-front"))
    used = {rel for topic in topics for rel in topic.images}
    return problems + [Problem(str(cards_dir / rel), 1, "image is not used by any card;"
                               " delete it or link it", LINTS["unused-image"], "unused-image")
                       for rel in sorted(files)
                       if Path(rel).suffix.lower() in IMAGE_SUFFIXES and rel not in used]


def _problem(text: Text | Card, code: str, message: str, offset: int = 0) -> Problem:
    where = text.where.at(offset)
    return Problem(where.path, where.line, message, LINTS[code], code)


def _card_problems(card: Card, note: Note) -> Iterable[Problem]:
    texts = [card.cloze, card.extra] if card.is_cloze else [card.front, card.back, card.extra]
    for text, html_field in zip(texts, note.fields):
        if text is not None:
            yield from _field_problems(card, text, html_field)
    if card.back and reading_length(card.back.source) > LONG_BACK:
        yield _problem(card, "long-back",
                       f"card '{card.id}': answer is {reading_length(card.back.source)} long"
                       f" (limit {LONG_BACK}); shorten it, move detail to 'extra', or add"
                       " allow: [long-back]")
    if card.cloze:
        numbers = sorted({d.number for d in cloze.find_deletions(card.cloze.source)})
        missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers)) if numbers else []
        if missing:
            names = ", ".join(f"c{n}" for n in missing)
            yield _problem(card.cloze, "cloze-gap", f"card '{card.id}': cloze numbers skip"
                                                    f" {names}; Anki makes no card for them")


def _field_problems(card: Card, text: Text, field: str) -> Iterable[Problem]:
    for _, delimited in MATH.findall(field):
        tex = html.unescape(delimited)[2:-2].strip()  # without \( \) or \[ \]
        line = _line_of(text, tex)
        plain = tex.replace(r"\{", "").replace(r"\}", "")
        if plain.count("{") != plain.count("}"):
            yield _problem(text, "tex-braces", f"card '{card.id}': unbalanced braces in"
                                               f" {_short(tex)}", line)
        if len(LEFT.findall(tex)) != len(RIGHT.findall(tex)):
            yield _problem(text, "tex-left-right", f"card '{card.id}': \\left and \\right"
                                                   f" do not pair up in {_short(tex)}", line)
    prose = html.unescape(TAG.sub("", CODE.sub("", MATH.sub("", field))))
    if (match := OPEN_MATH.search(prose)) and _unescaped_in(text.source, prose[match.start():]):
        rest = prose[match.start():]
        yield _problem(text, "tex-open", f"card '{card.id}': math left open at"
                                         f" '{_short(rest)}'; close it, or escape a literal"
                                         " dollar as \\$", _line_of(text, rest[:8]))
    sides = _sides(card, text, field)
    if sides is None:
        yield Problem(text.where.path, text.where.line, f"card '{card.id}': too many cloze"
                      " numbers in too long a text to check each card's sides; split it")
        return
    found = [p for side in sides
             for p in _tex_html(card, text, html.unescape(TAG.sub("", side)))]
    yield from dict.fromkeys(found)  # once, if in several sides


def _sides(card: Card, text: Text, field: str) -> list[str] | None:
    """The field as written and, for a cloze, as each side of each card shows it: a TeX
    command split by a deletion, or given options by a hint, is whole there. None if
    that is more text than a card should be (hundreds of numbers in a long text)."""
    if text is not card.cloze:
        return [field]
    if len(cloze.numbers(field)) * len(field) > MAX_SIDES_TEXT:
        return None
    return [field, *cloze.sides(field)]


def _tex_html(card: Card, text: Text, shown: str) -> Iterable[Problem]:
    """The TEX_HTML commands: \\href and \\url open links (only http(s) is safe to open),
    the others restyle the card, load from the network or make such commands. Checked
    in all the text Anki shows, as MathJax typesets any \\( \\) there, raw HTML
    included. Plain errors: TeX is not sanitized, so silencing them would ship them."""
    for match in TEX_HTML.finditer(shown):
        command = match.group(1)
        if command in ("href", "url") and _web_link(shown, match.end()):
            continue
        where = text.where.at(_line_of(text, match.group(0)))
        yield Problem(where.path, where.line, f"card '{card.id}': \\{command} in TeX is not"
                                              f" allowed: {TEX_COMMANDS[command]}")


def _web_link(text: str, pos: int) -> bool:
    """Whether the argument of a TeX command ending at `pos` is a braced group that starts
    with http:// or https://. Only its start is read: a '}' before the '://' ends the
    group, so this is the group's own start, and an unclosed brace costs no scan."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return text.startswith("{", pos) and WEB_URL.match(text, pos + 1) is not None


def _unescaped_in(source: str, rest: str) -> bool:
    """Whether the source has this delimiter unescaped (`\\$x` is a literal dollar)."""
    return re.search(r"(?<!\\)" + re.escape(rest[:8]), source) is not None


def _line_of(text: Text, needle: str) -> int:
    offset = text.source.find(needle[:30])
    return text.source.count("\n", 0, offset) if offset > 0 else 0


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."
