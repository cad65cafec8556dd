"""The allowlist every rendered field passes before it ships.

Anki runs a card's HTML, scripts and all, in every reviewer's app, and banks take
contributions. So deckgen judges the HTML that ships, not the source text: each field is
parsed by a real HTML5 parser and everything outside ALLOWLIST is dropped. Patterns over
the source cannot do this: entities (`jav&#x61;script:`), odd whitespace and nested
contexts (`<code>`, `srcdoc`, SVG `<animate>`) defeat them.

Why nh3: it binds Ammonia, whose parser is html5ever, the HTML5 parsing algorithm that
browsers (and so Anki's webviews) implement; it is an allowlist of tags, attributes,
classes and URL schemes over the parsed tree, maintained, and fast enough for every field
of a large bank (microseconds a field). bleach is deprecated, html5lib is pure Python
(a thousand times slower), lxml's Cleaner is a blocklist.

nh3 does the removing; it does not say what it removed, so `_Findings` reads the same
HTML with the standard library's parser to name it for the author. That reading only
words the message: what ships is always nh3's output.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3
from pygments.token import STANDARD_TYPES


@dataclass(frozen=True)
class Allowlist:
    tags: frozenset[str]
    attributes: dict[str, frozenset[str]]  # tag -> attributes with any value
    values: dict[str, dict[str, frozenset[str]]]  # tag -> attribute -> the values allowed
    classes: dict[str, frozenset[str]]  # tag -> the class names allowed
    url_schemes: frozenset[str]  # for <a href>; <img src> must name a packaged image


ALLOWLIST = Allowlist(
    # What Markdown, tables, the code highlighter and the math delimiters produce, and
    # sub/sup for formulas in prose. None of these runs code, loads anything or escapes
    # the card's layout.
    tags=frozenset({
        "p", "br", "hr", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6",
        "ul", "ol", "li", "strong", "em", "code", "pre", "sub", "sup",
        "table", "thead", "tbody", "tr", "th", "td",
        "a", "img", "span", "div",
    }),
    attributes={
        "a": frozenset({"href", "title"}),  # href: only http(s) and mailto, checked below
        "img": frozenset({"src", "alt", "title"}),  # src: only a packaged image
        "ol": frozenset({"start"}),
    },
    values={tag: {"align": frozenset({"left", "center", "right"})} for tag in ("th", "td")},
    classes={
        # Pygments' token classes, coloured by the note type's CSS; arithmatex marks math.
        "span": frozenset({*(c for c in STANDARD_TYPES.values() if c), "arithmatex"}),
        "div": frozenset({"highlight", "arithmatex"}),
    },
    url_schemes=frozenset({"http", "https", "mailto"}),
)

EVERY_ATTRIBUTE = set(string.ascii_lowercase)  # prefixes: every attribute name
SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.I)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Anki finds cloze deletions in the field's text, attributes included: a deletion or hint
# that starts or ends inside an attribute would move markup between the two on the card.
CLOZE_MARK = re.compile(r"\{\{|\}\}|::")
# Python-Markdown writes void elements the XHTML way; html5ever does not.
UNCLOSED = re.compile(r"<(?=[^<>]*(?:<|\Z))")  # linear: each scan stops at the next < or >
XHTML_VOID = re.compile(r"<(br|hr|img)\b([^<>]*?)\s*/>")


@dataclass(frozen=True)
class Sanitized:
    html: str  # what ships
    removed: tuple[str, ...]  # what was dropped, in the author's terms ("<script>")


class _AttributeFilter:
    """The attribute filter nh3 calls for every attribute: drops cloze markers and
    relative links, and packages `<img src>` through the `image` callback of the field
    being sanitized, asking it once per src. One field at a time: rendering runs on each
    process's main thread."""

    def __init__(self) -> None:
        self.image: Callable[[str], str | None] = lambda src: None
        self.names: dict[str, str | None] = {}

    def start(self, image: Callable[[str], str | None]) -> None:
        self.image, self.names = image, {}

    def packaged(self, tag: str, attribute: str, value: str) -> str | None:
        if (tag, attribute) != ("img", "src"):
            return value
        if value not in self.names:
            self.names[value] = self.image(value)
        return self.names[value]

    def keep(self, tag: str, attribute: str, value: str) -> str | None:
        if CLOZE_MARK.search(value):
            return None  # named by _Findings
        if (tag, attribute) == ("a", "href") and not SCHEME.match(value.strip()):
            return None  # a relative link: nothing to open in Anki; named by _Findings
        return self.packaged(tag, attribute, value)


_FILTER = _AttributeFilter()
_COMMON = {"tags": set(ALLOWLIST.tags), "clean_content_tags": {"script", "style"},
           "url_schemes": set(ALLOWLIST.url_schemes), "link_rel": None,
           "strip_comments": True}
# Built once: nh3.clean() builds its sanitizer again on every call, four times the cost
# of cleaning a typical field.
_CLEANER = nh3.Cleaner(
    **_COMMON, attribute_filter=_FILTER.keep,
    attributes={tag: set(names) for tag, names in ALLOWLIST.attributes.items()},
    tag_attribute_values={tag: {name: set(values) for name, values in by_name.items()}
                          for tag, by_name in ALLOWLIST.values.items()},
    allowed_classes={tag: set(names) for tag, names in ALLOWLIST.classes.items()})
# Every attribute kept: differs from _CLEANER's output only where an attribute went.
_ATTRIBUTES_KEPT = nh3.Cleaner(**_COMMON, attribute_filter=_FILTER.packaged,
                               generic_attribute_prefixes=EVERY_ATTRIBUTE)


def sanitize(html: str, image: Callable[[str], str | None]) -> Sanitized:
    """The field as it may ship, and what had to go.

    `image(src)` gives the packaged media name for an `<img src>`, or None after saying
    why there is none (missing, remote...): the sanitizer then drops the src quietly.
    """
    _FILTER.start(image)
    clean = _CLEANER.clean(html)
    if not CONTROL.search(clean) and _same_document(html, clean):
        return Sanitized(html, ())  # nothing removed: keep Markdown's spelling, notes unchanged
    findings = _Findings()  # names what went, in the author's terms
    findings.feed(_closed_only(html))
    findings.close()
    removed = findings.removed
    if not removed and _ATTRIBUTES_KEPT.clean(html) != clean:
        # Markup the standard library's parser reads otherwise than html5ever: still named.
        removed.append("attributes outside the allowlist")
    # A character reference such as &#31; comes out of the parser as the character; the
    # unit separator would split the note into extra fields.
    for char in sorted(set(CONTROL.findall(clean))):
        removed.append(f"control character U+{ord(char):04X}")
    clean = CONTROL.sub("", clean)
    if _same_document(html, clean):
        clean = html  # the same document: keep Markdown's spelling, so notes do not change
    return Sanitized(clean, tuple(dict.fromkeys(removed)))


def _same_document(html: str, clean: str) -> bool:
    """Whether nh3 gave back the same document, spelled its own way."""
    return XHTML_VOID.sub(r"<\1\2>", html).replace("\u00a0", "&nbsp;") == clean


def _closed_only(html: str) -> str:
    """The HTML with every `<` that opens no complete tag or comment written as `&lt;`.

    The standard library's parser looks for the end of such a `<` all the way to the end
    of the text, again for each one: quadratic time. nh3 reads them (as text) anyway."""
    last_close = html.rfind("-->")
    html = html[:last_close] + re.sub(r"<!--", "&lt;!--", html[last_close:]) if last_close >= 0 \
        else html.replace("<!--", "&lt;!--")
    return UNCLOSED.sub("&lt;", html)


class _Findings(HTMLParser):
    """Names what nh3 will drop: tags, attributes, classes, links and comments."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.removed: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWLIST.tags:
            self.removed.append(f"<{tag}>")
            return
        for name, value in attrs:
            if problem := _attribute_problem(tag, name, value or ""):
                self.removed.append(problem)

    handle_startendtag = handle_starttag

    def handle_comment(self, data: str) -> None:
        self.removed.append("an HTML comment")  # Anki's cloze cuts could open it up

    def handle_decl(self, decl: str) -> None:
        self.removed.append(f"<!{decl.split()[0] if decl.split() else ''}>")

    def handle_pi(self, data: str) -> None:
        self.removed.append("<?...>")


def _attribute_problem(tag: str, name: str, value: str) -> str | None:
    if name == "class" and tag in ALLOWLIST.classes:
        extra = [c for c in value.split() if c not in ALLOWLIST.classes[tag]]
        return f"class '{' '.join(extra)}' on <{tag}>" if extra else None
    if name in ALLOWLIST.values.get(tag, {}):
        allowed = ALLOWLIST.values[tag][name]
        return None if value in allowed else f"{name}='{_short(value)}' on <{tag}>"
    if name not in ALLOWLIST.attributes.get(tag, ()):
        return f"{name}= on <{tag}>"
    if CLOZE_MARK.search(value):
        return f"cloze markers ({{{{ }}}} or ::) inside {name}= on <{tag}>"
    scheme = SCHEME.match(_as_url(value))
    listed = scheme is not None and scheme.group(1).lower() in ALLOWLIST.url_schemes
    if (tag, name) == ("img", "src") and scheme and not listed:  # http(s): see `image`
        return f"image '{_short(value)}' (cards show only their packaged images)"
    if (tag, name) == ("a", "href") and not listed:
        return f"link '{_short(value)}' (only http, https and mailto)"
    return None


def _as_url(value: str) -> str:
    """As browsers read a URL: without tabs and newlines, ignoring surrounding blanks."""
    return re.sub(r"[\t\n\r]", "", value).strip("\x00- ")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."
