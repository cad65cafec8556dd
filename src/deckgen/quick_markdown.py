"""The HTML deckgen's Markdown converter gives for a field of a few simple shapes, or None.

Converting Markdown is most of a cold build's time, yet most fields are a sentence or
two, or a short bullet list, with a little `**strong**`, `*em*`, `` `code` `` and `$math$`.
`render` writes those directly. It must give exactly what `markdown_ext.converter()` gives,
byte for byte: any difference would change the notes in every learner's collection.
What it is not certain of, it declines (None), and the converter renders that.

The shapes, and what keeps Python-Markdown 3.11.3 and its extensions (pymdownx 13.1
arithmatex in generic mode, superfences, tables, sane lists) on the simple path:

Blocks: paragraphs, tight lists of one-line "- " items, and a `$$..$$` formula alone
(arithmatex's block form), separated by blank lines.
Two lists in a row are declined (the converter makes them one loose list, items in <p>).
A list cannot interrupt a paragraph: after its first line, a "- " line is text. No line
starts with a space (code, continuation) or ends with one (two make a hard break); none
starts with what may open a block (`-`, `+`, `#`, `>`, `=`, `~`, `|`, "1. ", "1) "), and
each holds a letter or digit, so none is a rule, a setext underline or a table row.

Inline, within a line, nested only as code or math inside emphasis:
- `` `code` ``: single backticks; the converter strips the content and escapes &, <, >.
- `$math$`: no space just inside either `$` (arithmatex's smart dollars), no `\\` at
  the end (it would escape the closing `$`); kept as `\\(math\\)` in a span, with the
  serializer's escaping of &, < and >.
- `*em*`, `**strong**`: no space just inside, no `*` just outside, so each asterisk run
  pairs with the next (Python-Markdown's delimiter rules then give em and strong).
No two spans touch ("``" and "$$" are other syntax). Text holds no other `*`, `$` or
backtick, no `\\` (escapes), `<` (HTML), `[`, `]` (links) or `|`, and `_` only between
letters or digits (never emphasis then). No `&` starts an entity or a character
reference (the converter keeps those, and even rewrites "&#12 " to "&#12; "). In code
and math, no `<` opens a comment, declaration or end tag (the raw HTML pass rewrites
comments); the other tags there are never at a line's start, so that pass keeps them as
text. No control characters, and no whitespace but spaces and line breaks.
"""

from __future__ import annotations

import re

# Control characters and every whitespace character but the space (what `\s` matches):
# the converter's emphasis rules treat these as spaces, its normalizing rewrites some.
_ODD = r"\x00-\x1f\x7f-\x9f\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# An `&` that starts no entity or character reference: each would be kept as it is, or
# rewritten (a `;` added to "&#12 "), not escaped to "&amp;".
# Case-insensitive, as the serializer's own test: it takes İ, ı, ſ and the Kelvin sign
# for letters too.
_AMP = r"&(?!#|(?i:[a-z0-9][-.a-z0-9]*);)"
# Text outside code and math: runs of inert characters, and `&` and `_` where inert.
_TEXT = rf"(?:[^{_ODD}*`$\\<\[\]|_&]++|(?<=[^\W_])_(?=[^\W_])|{_AMP})"
# The inside of code or math (math adds: no `$`).
_RAW = rf"(?:[^{_ODD}`{{extra}}&<]++|{_AMP}|<(?![!?/]))++"
# Never two spans back to back: "``" and "$$" are other syntax.
_CODE = r"`" + _RAW.format(extra="") + r"`(?!`)"
_MATH = r"\$(?! )" + _RAW.format(extra="$") + r"(?<![ \\])\$(?!\$)"
_INNER = rf"(?:{_TEXT}|{_CODE}|{_MATH})++"
_EMPHASIS = rf"(?:\*\*(?! ){_INNER}(?<! )\*\*|\*(?! ){_INNER}(?<! )\*)(?!\*)"
# One line of a paragraph, or a list item after its "- ": nothing at its start that may
# open a block; a letter or digit (no rule, setext underline or table row); no trailing
# space (a hard break).
_LINE = re.compile(rf"(?![-+#>=~|\s]|\d+[.)](?: |$))(?=.*?[^\W_])"
                   rf"(?:{_TEXT}|{_CODE}|{_MATH}|{_EMPHASIS})++(?<! )")
# A display formula alone in its block, arithmatex's block form: kept verbatim.
_DISPLAY = re.compile(r"\$\$(" + _RAW.format(extra="$") + r")(?<!\\)\$\$")
_BLANK_LINES = re.compile(r"\n\n+")
_SPAN = re.compile(r"`([^`]+)`|\$([^$]+)\$|(\*\*?)")


def render(source: str) -> str | None:
    """The converter's HTML for `source`, or None when `source` is not a shape handled
    here (the converter must render it then)."""
    if not source.strip():
        return ""  # the converter's answer for blank text
    if "\r" in source:
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    blocks = []
    after_list = False
    for block in _BLANK_LINES.split(source.strip("\n")):
        lines = block.split("\n")
        if block.startswith("- "):
            # Two lists in a row would be one loose list, its items in <p>s.
            if after_list or not _is_list(lines):
                return None
            items = "</li>\n<li>".join(_inline(_item(line)) for line in lines)
            blocks.append(f"<ul>\n<li>{items}</li>\n</ul>")
        elif _is_paragraph(lines):
            blocks.append(f"<p>{_inline(block)}</p>")
        elif display := _DISPLAY.fullmatch(block):
            # arithmatex escapes quotes in display math, not in inline math.
            math = _escaped(display[1]).replace('"', "&quot;")
            blocks.append(f'<div class="arithmatex">\\[{math}\\]</div>')
        else:
            return None
        after_list = block.startswith("- ")
    return "\n".join(blocks)


def _is_list(lines: list[str]) -> bool:
    """A tight list of one-line items (a line without "- " would continue an item)."""
    return all(line.startswith("- ") and _LINE.fullmatch(_item(line)) for line in lines)


def _item(line: str) -> str:
    """A list item's text: the converter takes every space after the marker as part of
    it ("-   a" is the item "a")."""
    return line[1:].lstrip(" ")


def _is_paragraph(lines: list[str]) -> bool:
    """Lines of text. A list cannot interrupt a paragraph: after its first line, a
    "- " line is text too."""
    fullmatch = _LINE.fullmatch
    return bool(fullmatch(lines[0])) and all(
        fullmatch(line, 2 if line.startswith("- ") else 0) for line in lines[1:])


def _inline(text: str) -> str:
    """The HTML of accepted inline text: only escaping and spans are left to do."""
    text = _escaped(text)
    if "`" in text or "$" in text or "*" in text:
        text = _SPAN.sub(_Spans().replace, text)
    return text


def _escaped(text: str) -> str:
    """As the converter's serializer escapes text."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


class _Spans:
    """Replaces one accepted text's spans in order; each asterisk run opens or closes."""

    def __init__(self):
        self.open: str | None = None

    def replace(self, match: re.Match[str]) -> str:
        code, math, stars = match.groups()
        if code is not None:
            return f"<code>{code.strip()}</code>"
        if math is not None:
            return f'<span class="arithmatex">\\({math}\\)</span>'
        tag = "strong" if len(stars) == 2 else "em"
        if self.open:
            self.open = None
            return f"</{tag}>"
        self.open = tag
        return f"<{tag}>"
