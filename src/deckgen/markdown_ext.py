"""deckgen's Python-Markdown converter: the extensions it loads, and the pieces deckgen
adds (display-math spacing and image collection)."""

from __future__ import annotations

import re
from collections.abc import Callable

from markdown import Extension, Markdown
from markdown.extensions.sane_lists import SaneListExtension
from markdown.extensions.tables import TableExtension
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from pymdownx.arithmatex import ArithmatexExtension
from pymdownx.highlight import HighlightExtension
from pymdownx.superfences import SuperFencesCodeExtension

FENCE = re.compile(r"^\s*(```|~~~)")
DISPLAY_OPEN = re.compile(r"^\s*(\$\$|\\\[)")
DISPLAY_CLOSE = {"$$": re.compile(r"\$\$\s*$"), "\\[": re.compile(r"\\\]\s*$")}


class DisplayMathSpacing(Preprocessor):
    """Give each display formula that starts a line blank lines around it.

    arithmatex only sees `$$..$$` and `\\[..\\]` as blocks of their own; authors
    often write them right under a sentence, where they would stay raw text.
    """

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        in_fence = in_math = False
        closer = None
        for line in lines:
            if not in_math and FENCE.match(line):
                in_fence = not in_fence
            opening = None if in_fence or in_math else DISPLAY_OPEN.match(line)
            if opening:
                closer = DISPLAY_CLOSE[opening.group(1)]
                if out and out[-1].strip():
                    out.append("")
                rest = line[opening.end():]
                in_math = not closer.search(rest)
                out.append(line)
                if not in_math:
                    out.append("")
                continue
            out.append(line)
            if in_math and closer.search(line):
                in_math = False
                out.append("")
        return out


class ImageCollector(Treeprocessor):
    """Hands every image src to `resolve`, which returns the name to use, or None when
    there is none (the src is then dropped: an image that cannot ship)."""

    def __init__(self, md: Markdown, resolve: Callable[[str], str | None]):
        super().__init__(md)
        self.resolve = resolve

    def run(self, root):
        for img in root.iter("img"):
            src = img.get("src", "")
            name = self.resolve(src) if src else None
            if name is None:
                img.attrib.pop("src", None)
            else:
                img.set("src", name)


class DeckgenExtension(Extension):
    def __init__(self, resolve_image: Callable[[str], str | None]):
        super().__init__()
        self.resolve_image = resolve_image

    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(DisplayMathSpacing(md), "deckgen-display-math", 40)
        md.treeprocessors.register(ImageCollector(md, self.resolve_image), "deckgen-images", 0)


def _extensions() -> list[Extension]:
    # Instances, not names: names make Markdown scan every installed package's entry points.
    return [
        # align="left", not style="text-align: left": no style attribute ships.
        TableExtension(use_align_attribute=True),
        SaneListExtension(),
        # generic: math goes out as \(..\) and \[..\], the delimiters Anki's MathJax reads.
        ArithmatexExtension(generic=True),
        SuperFencesCodeExtension(),
        # Pygments classes, coloured by the note type's CSS for day and night mode.
        HighlightExtension(css_class="highlight", guess_lang=False),
    ]


def converter(resolve_image: Callable[[str], str | None]) -> Markdown:
    """The Markdown converter every field goes through (or quick_markdown, which gives
    the same HTML); `resolve_image` turns an image's src into its packaged name."""
    return Markdown(extensions=[*_extensions(), DeckgenExtension(resolve_image)])
