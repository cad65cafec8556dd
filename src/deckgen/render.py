"""Markdown + TeX sources to the HTML fields of Anki notes."""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from functools import cached_property
from pathlib import Path

from deckgen import cloze, deadline, ids, quick_markdown
from deckgen.errors import Problem
from deckgen.model import Card, Media, Note, Text, Topic
from deckgen.sanitize import sanitize
from deckgen.sources import is_hidden

# A URL with a scheme (http:, file:, data:...) or a host (//example.com): not a file here.
REMOTE = re.compile(r"[a-z][a-z0-9+.-]*:|//", re.I)
MAX_IMAGE_BYTES = 32 << 20  # read whole, and shipped to phones
IMAGE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1"}  # not mp4, mov
BMP_HEADERS = {12, 40, 52, 56, 64, 108, 124}  # the sizes of BMP's info headers


class MarkdownRenderer:
    """Renders fields through quick_markdown, or one reused converter for the fields it
    declines; collects media and problems as it goes."""

    def __init__(self, cards_dir: Path):
        self.cards_root = cards_dir.resolve()
        self.problems: list[Problem] = []
        self._text: Text | None = None
        self._base: Path = self.cards_root
        self._used: list[Media] = []

    @cached_property
    def _md(self):
        # Imported when a field first needs it: Python-Markdown, pymdown-extensions and
        # Pygments take longer to import than the rest of a one-card rebuild's rendering,
        # and fields that quick_markdown renders need none of them.
        from deckgen.markdown_ext import converter

        return converter(self._resolve_image)

    def html(self, text: Text, base: Path) -> tuple[str, list[Media], tuple[str, ...]]:
        """Render one field; `base` is the folder its relative image paths start from.
        Returns the field as it ships (sanitized), its images, and what the sanitizer
        removed."""
        self._text, self._base, self._used = text, base, []
        try:
            # Most fields are simple enough to render without the converter, identically.
            rendered = quick_markdown.render(text.source)
            if rendered is None:
                md = self._md  # built outside the time limit: the first one imports Markdown
                with deadline.deadline():
                    rendered = md.reset().convert(text.source)
        except RecursionError:  # lists, quotes or emphasis nested hundreds deep
            self._problem("", "text is nested too deeply (lists, quotes or emphasis); flatten it")
            return "", [], ()
        except deadline.TooSlow:
            self._problem("", f"text took over {deadline.LIMIT_S:g} s to render (thousands of"
                              " unclosed '<', '[' or '(' in a row?); simplify it")
            return "", [], ()
        sanitized = sanitize(rendered, self._image)
        return sanitized.html, self._used, sanitized.removed

    def _image(self, src: str) -> str | None:
        """The packaged name for an <img> src, raw HTML or Markdown, or None (reported)."""
        if any(src == media.name for media in self._used):
            return src  # a Markdown image, resolved already
        return self._resolve_image(src)

    def _resolve_image(self, src: str) -> str | None:
        if REMOTE.match(src):
            self._problem(src, f"image '{src}' is not a file in {self.cards_root.name}/; cards"
                               " must render offline: save the image there and link that")
            return None
        try:
            return self._packaged(src, (self._base / src).resolve())
        except (OSError, ValueError, RuntimeError) as e:
            # A symlink loop (RuntimeError before Python 3.13), a name too long, a null
            # byte (ValueError): the system refuses the path itself.
            reason = getattr(e, "strerror", None) or str(e)
            shown = src if len(src) <= 80 else f"{src[:60]}...{src[-10:]}"
            self._problem(src, f"image '{shown}' cannot be read ({reason}); check its path"
                               " and permissions")
            return None

    def _packaged(self, src: str, path: Path) -> str | None:
        if not path.is_relative_to(self.cards_root):
            self._problem(src, f"image '{src}' is outside {self.cards_root.name}/;"
                               " keep images inside the cards folder")
            return None
        if not path.is_file():
            self._problem(src, f"image '{src}' not found")
            return None
        if any(is_hidden(part) for part in path.relative_to(self.cards_root).parts):
            self._problem(src, f"image '{src}' is hidden, or links to a hidden file (a name"
                               " starting with '.' or ending in '~'), and builds do not read"
                               " hidden files: they would not see it change; rename it")
            return None
        if (size := path.stat().st_size) > MAX_IMAGE_BYTES:
            self._problem(src, f"image '{src}' is too large ({size >> 20} MiB; a card's image"
                               f" may have at most {MAX_IMAGE_BYTES >> 20} MiB)")
            return None
        data = path.read_bytes()
        if not is_image(data):
            self._problem(src, f"image '{src}' is not an image (PNG, JPEG, GIF, WebP, AVIF,"
                               " BMP or SVG); link an image file")
            return None
        media = self._media_for(path, data)
        self._used.append(media)
        return media.name

    def _media_for(self, path: Path, data: bytes) -> Media:
        # Content-addressed names: two "figure.png" in different folders never collide,
        # and an edited image gets a new name, so the note changes and updates in Anki.
        # Never a leading "_": Anki never updates such a file once a collection has it.
        digest = hashlib.sha1(data).hexdigest()[:10]
        name = f"{path.stem.lstrip('_') or 'image'}-{digest}{path.suffix.lower()}"
        source = path.relative_to(self.cards_root).as_posix()
        return Media(name, path, source)

    def _problem(self, needle: str, message: str) -> None:
        assert self._text is not None
        offset = self._text.source.find(needle)
        line = self._text.source.count("\n", 0, max(offset, 0))
        self.problems.append(Problem(self._text.where.path, self._text.where.line + line, message))


def render_checked(card: Card, topic: Topic, renderer: MarkdownRenderer,
                   ) -> tuple[Note, list[Problem]]:
    """The note, and the problems rendering found in this card (taken from the renderer,
    which lives as long as its process: in `watch`, for many builds)."""
    before = len(renderer.problems)
    note = render_card(card, topic, renderer)
    found = renderer.problems[before:]
    del renderer.problems[before:]
    return note, found


def render_card(card: Card, topic: Topic, renderer: MarkdownRenderer) -> Note:
    base = topic.source.parent
    media: list[Media] = []

    def field(name: str, text: Text | None) -> str:
        if text is None:
            return ""
        html, used, removed = renderer.html(text, base)
        media.extend(used)
        if removed and "unsafe-html" not in card.allow:
            renderer.problems.append(unsafe_html(card, name, text, removed))
        return html

    source = html_lib.escape(topic.label)  # a file or folder name may hold markup
    if card.is_cloze:
        body = _cloze_text(card, renderer)
        fields = (field("cloze", body), field("extra", card.extra), card.id, source)
        # Anki reads the deletions of the field as rendered: they must be those written.
        if body is not None and cloze.shape(fields[0]) != cloze.shape(body.source):
            renderer.problems.append(_deletions_problem(card, body, fields[0]))
        notetype = "cloze"
    else:
        fields = (field("front", card.front), field("back", card.back),
                  field("extra", card.extra), card.id, source)
        notetype = "basic"
    tags = tuple(dict.fromkeys((*topic.tags, *card.tags)))
    return Note(ids.note_guid(card.id), card.id, notetype, fields, tags,
                tuple(dict.fromkeys(media)))


def _cloze_text(card: Card, renderer: MarkdownRenderer) -> Text | None:
    text = card.cloze
    assert text is not None
    try:
        deletions = cloze.check_deletions(text.source)
    except cloze.BadDeletion as e:
        line = text.source.count("\n", 0, e.offset)
        renderer.problems.append(Problem(text.where.path, text.where.line + line,
                                         f"card '{card.id}': {e}"))
        return None
    if not deletions:
        renderer.problems.append(Problem(card.where.path, card.where.line,
                                         f"card '{card.id}': cloze has no deletion like"
                                         " {{c1::...}}"))
        return None
    return Text(cloze.pad_deletions(text.source), text.where)


def _deletions_problem(card: Card, body: Text, html: str) -> Problem:
    def listed(shape: tuple) -> str:  # c1 c2[c3]: c3 inside c2
        return " ".join(f"c{n}" + (f"[{listed(inner)}]" if inner else "")
                        for n, inner in shape)

    def shown(text: str) -> str:
        return listed(cloze.shape(text)) or "none"

    return Problem(body.where.path, body.where.line, (
        f"card '{card.id}': Anki would not read the cloze deletions as written (written:"
        f" {shown(body.source)}; read: {shown(html)}): a Markdown escape (\\{{ or \\}})"
        " or an entity becomes a brace that opens or ends one, a code block's highlighting"
        " splits one, and the sanitizer removes one in unsafe markup; put deletions in"
        " plain text or inline code, and braces unescaped"))


def unsafe_html(card: Card, name: str, text: Text, removed: tuple[str, ...]) -> Problem:
    """What the sanitizer removed from one field, at the line of the first of it."""
    shown = ", ".join(removed[:4]) + (f" and {len(removed) - 4} more" if len(removed) > 4 else "")
    needle = re.match(r"<?([^\s=>']+)", removed[0])
    offset = text.source.lower().find(needle.group(1).lower()) if needle else -1
    line = text.source.count("\n", 0, max(offset, 0))
    return Problem(text.where.path, text.where.line + line,
                   f"card '{card.id}': {name}: {shown}: not allowed in a card (could run code,"
                   " load from the network or restyle the card in every reviewer's Anki);"
                   " left out of what ships. Remove it, or add allow: [unsafe-html] to ship"
                   " the field without it", "error", "unsafe-html")


def is_image(data: bytes) -> bool:
    """Whether the bytes start as an image a card can show does (the formats browsers,
    and so Anki, display); a YAML file, a PDF or a video linked by mistake is not one."""
    return (data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a"))
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
            or (data[4:8] == b"ftyp" and data[8:12] in IMAGE_BRANDS)
            or (data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in BMP_HEADERS)
            or _is_svg(data))


def _is_svg(data: bytes) -> bool:
    """An SVG file: `<svg` first, after an XML declaration, a doctype or comments."""
    text = data[:65536].decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    while text.startswith(("<?", "<!")):
        if text.startswith("<!--"):
            end = text.find("-->") + 3
        elif (bracket := text.find("[")) != -1 and bracket < text.find(">"):
            end = text.find("]>") + 2  # a doctype with its own entities: <!DOCTYPE svg [...]>
        else:
            end = text.find(">") + 1
        if end <= 0:
            return False
        text = text[end:].lstrip(" \t\r\n")
    return text.startswith("<svg")
