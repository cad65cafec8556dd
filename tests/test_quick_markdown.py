"""quick_markdown against the converter it stands in for: the same HTML, or no answer.

Random texts of the accepted shapes must be accepted and come out identical; the same
texts with special characters thrown in may be declined, never rendered differently.
Every field of the question bank and of a synthetic bank is checked too.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deckgen import cloze, quick_markdown, render
from deckgen.loader import read_topic
from deckgen.markdown_ext import converter
from deckgen.model import Location, Text
from deckgen.render import MarkdownRenderer
from deckgen.sanitize import sanitize

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
from synthetic import write_bank

CARDS = Path(__file__).parent.parent / "cards"
QUICK = settings(max_examples=300, deadline=None, derandomize=True, database=None)
_converter = converter(lambda src: None)


def full(source: str) -> str:
    return _converter.reset().convert(source)


def quick(source: str) -> str | None:
    return quick_markdown.render(source)


# Well-formed texts: the shapes quick_markdown promises to render.
PLAIN = "abcxyzABZ019的是中文，。、；：？！（）,.;:?!()'\"%/{}^@ "
WORDS = st.text(PLAIN, min_size=1, max_size=8) | st.sampled_from(
    ["Q&A 题", "a & b", "x_y", "~1", "#2", "a->b", "a+b=c", "-1", "1. 5", "{{c1::答案::提示}}",
     "{{c2::$x$}}", "RoPE", "GPT-4", "http://a.org/x", "3.5%", "ABC&1 x", "!"])
TIGHT = WORDS.map(str.strip).filter(bool)  # no space just inside a marker
CODE = st.lists(st.sampled_from(
    ["x", "a_b", "*", "**", "$", "$x$", "<t>", "<|user|>", "<0x00>", "a & b", "[i]", "|",
     "\\n", " ", "~", "#", "> ", "- "]), min_size=1, max_size=4).map("".join).filter(
    str.strip).map(lambda s: f"`{s}`")
MATH = st.lists(st.sampled_from(
    ["x", "\\frac{a}{b}", "_{<t}", "^2", "a*b", "|x|", "\\mid ", "<0", "A>0", "[x]", " + ",
     "~", "\\{", "y_t", "\\alpha", "\\\\", "{{c1::k}}", "#", "!"]), min_size=1,
    max_size=4).map("".join).map(str.strip).filter(lambda s: s and not s.endswith("\\")).map(
    lambda s: f"${s}$")
DISPLAY = MATH.map(lambda s: f"${s}$")  # $$...$$ alone in its block
ATOM = TIGHT | CODE | MATH
INNER = st.lists(ATOM, min_size=1, max_size=3).map(" ".join)
EMPHASIS = st.tuples(st.sampled_from(["*", "**"]), INNER).map(lambda t: t[0] + t[1] + t[0])
SEGMENT = WORDS | ATOM | EMPHASIS
AFTER = st.sampled_from([" ", "，", "。", " 和 ", "：", "（注）", "a"])  # never two spans touch
LINE = st.tuples(st.sampled_from(["a", "Z", "的", "（", "“", "'", "**b** ", "`c` ", "$x$ "]),
                 st.lists(st.tuples(SEGMENT, AFTER), max_size=5)).map(
    lambda t: (t[0] + "".join(a + b for a, b in t[1])).rstrip(" ")).filter(
    lambda line: re.search(r"[^\W_]", line))  # a letter or digit: never a rule or table row
PARAGRAPH = st.tuples(LINE, st.lists(st.tuples(st.booleans(), LINE), max_size=2)).map(
    lambda t: "\n".join([t[0], *(("- " if item else "") + line for item, line in t[1])]))
LIST = st.lists(st.tuples(st.sampled_from([" ", "  ", "    "]), LINE), min_size=1,
                max_size=4).map(lambda items: "\n".join(f"-{space}{item}" for space, item in items))


@st.composite
def documents(draw) -> str:
    blocks: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        after_list = bool(blocks) and blocks[-1].startswith("- ")
        blocks.append(draw(PARAGRAPH | DISPLAY if after_list else PARAGRAPH | LIST | DISPLAY))
    text = "".join(block + draw(st.sampled_from(["\n\n", "\n\n\n"])) for block in blocks)
    text = draw(st.sampled_from(["", "\n"])) + text[:-draw(st.integers(1, 2))]
    return text.replace("\n", "\r\n") if draw(st.booleans()) else text


@QUICK
@given(documents())
def test_the_accepted_shapes_are_accepted_and_identical(text):
    assert quick(text) == full(text)


# Near misses: well-formed texts with pieces of other syntax, or stray markers, inserted.
NEAR = ["*", "**", "***", "$", "$$", "`", "``", "```", " ", "  ", "_", "__", "\\", "\\(", "\\)",
        "\\[", "<", "<b>", "<div>", "<!--", "-->", "</", ">", "&", "&amp;", "&#1", "&x;", "&x",
        "#", "# ", "-", "- ", "--", "+ ", "* ", "1. ", "1) ", "\n", "\n\n", "\r", "\r\n", "|",
        "|-|", "[", "]", "[a](b)", "![i](a.png)", "~", "~~~", "\t", "\u3000", "\xa0", "=",
        "===", "---", "    ", "<t", "$x", "x$", " $", "$ ", "* x", "x *", "\x02", "\x03", ":",
        "{{c1::", "}}", "\u2028", "\ufeff", "\u0301", "a", "的", "2. ", "$$\n", "\n- ", "\n    "]


MARKS = re.compile(r"[*$`_&<>~\\\-\n ]")  # where a near miss is most likely to matter
INSERTIONS = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from([None, -1, 0, 1]),
                                st.sampled_from(NEAR)), min_size=1, max_size=4)


@QUICK
@given(documents(), INSERTIONS)
def test_near_misses_are_declined_or_identical(text, insertions):
    for at, beside, piece in insertions:
        marks = [m.start() for m in MARKS.finditer(text)]
        at = at % (len(text) + 1) if beside is None or not marks else max(
            marks[at % len(marks)] + beside, 0)
        text = text[:at] + piece + text[at:]
    answer = quick(text)
    assert answer is None or answer == full(text)


@QUICK
@given(st.lists(st.sampled_from(NEAR) | st.text("ab 的*$`_-\n", max_size=3), max_size=12)
       .map("".join))
def test_random_markup_is_declined_or_identical(text):
    answer = quick(text)
    assert answer is None or answer == full(text)


# Every one-character insertion, replacement and deletion in short texts of each shape:
# the near misses that matter most, exhaustively.
SEEDS = ["a $x$ b", "a *b* c", "**a** b", "- a `c` d\n- e", "x_y z", "Q&A b", "a\nb\n\nc",
         "$x_{<t}$ a", "`<t>` a", "1.5 a", "a #b", "a~b", "p\n- b", "a*b*c", "`a` *$x$*",
         "- a\n\nb", "**a**，b"]
EDITS = " *$`_\\<>&#-\n\r~a的[!|=+1.;:{\u3000"


def one_edit_away(text: str):
    for at in range(len(text) + 1):
        yield text[:at] + text[at + 1:]
        for char in EDITS:
            yield text[:at] + char + text[at:]
            yield text[:at] + char + text[at + 1:]


def test_one_edit_from_each_shape_is_declined_or_identical():
    edited = {text for seed in SEEDS for text in one_edit_away(seed)}
    answered = {text: quick(text) for text in edited}
    assert sum(html is not None for html in answered.values()) > len(edited) / 4
    for text, html in answered.items():
        assert html is None or html == full(text), text


@pytest.mark.parametrize(("source", "html"), [
    ("什么是 **RoPE**？", "<p>什么是 <strong>RoPE</strong>？</p>"),
    ("", ""),
    (" \n", ""),
    ("一行\n两行\r\n\r\n另一段\n", "<p>一行\n两行</p>\n<p>另一段</p>"),
    ("要点：\n- 甲\n- *乙*", "<p>要点：\n- 甲\n- <em>乙</em></p>"),  # a list can't interrupt
    ("$$\\text{\"if\"}$$", '<div class="arithmatex">\\[\\text{&quot;if&quot;}\\]</div>'),
    ("-  甲\n-   *乙*", "<ul>\n<li>甲</li>\n<li><em>乙</em></li>\n</ul>"),  # spaces after "-"
    ("甲\n\n$$x_{<t} & y$$", '<p>甲</p>\n<div class="arithmatex">\\[x_{&lt;t} &amp; y\\]</div>'),
    ("- 甲 `x<y`\n- 乙\n\n结论", "<ul>\n<li>甲 <code>x&lt;y</code></li>\n<li>乙</li>\n</ul>\n"
                              "<p>结论</p>"),
    ("损失 $-\\sum_t\\log P(x_t\\mid x_{<t})$ 最小",
     '<p>损失 <span class="arithmatex">\\(-\\sum_t\\log P(x_t\\mid x_{&lt;t})\\)</span> 最小</p>'),
    ("Q&A a*b*c **真，**她说", "<p>Q&amp;A a<em>b</em>c <strong>真，</strong>她说</p>"),
    ("{{c1::$x$::提示}} ` a `", '<p>{{c1::<span class="arithmatex">\\(x\\)</span>::提示}}'
                               " <code>a</code></p>"),
])
def test_pinned_examples(source, html):
    assert quick(source) == html
    assert full(source) == html


@pytest.mark.parametrize("source", [
    "- 甲\n\n- 乙",  # one loose list, items in <p>s
    "- 甲\n乙",  # a lazy continuation line
    "1. 甲", "# 标题", "> 引用", "    代码", "a  \nb", "a\n---", "a\n===", "|a|b|\n|-|-|",
    "a $$x$$", "$$x$$ a", "$ x$", "$x\\$", "`a``b`", "**a*", "*a**b*", "** a**", "a \\* b",
    "[a](b)", "a &\u212a; b",  # the Kelvin sign starts an entity to the serializer
    "a <b>c</b>", "x_y_", "a _b_ c", "&amp;", "&#12 a", "`&#12 a`", "`<!-- a --!>`", "a\tb",
    "a\u3000b", "~~~\nx\n~~~", "- - a", "- 1. a", "a\n\n+ b",
])
def test_other_syntax_is_declined(source):
    assert quick(source) is None


def test_every_whitespace_but_space_and_line_breaks_is_declined():
    # The converter's emphasis rules treat all of Unicode's whitespace (`\s`) as spaces.
    spaces = [chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()]
    accepted = [c for c in spaces if quick(f"a{c}b") is not None]
    assert accepted == ["\n", "\r", " "]
    assert quick("a\rb") == full("a\rb") == "<p>a\nb</p>"


def bank_fields(cards_dir: Path) -> list[str]:
    """Every Markdown field of a bank, as the renderer gets it (cloze deletions padded)."""
    fields = []
    for path in sorted(cards_dir.rglob("*.yaml")):
        topic, _ = read_topic(cards_dir, path)
        for card in topic.cards if topic else ():
            for text in (card.front, card.back, card.extra):
                fields += [text.source] if text else []
            if card.cloze and cloze.check_deletions(card.cloze.source):
                fields.append(cloze.pad_deletions(card.cloze.source))
    return fields


def assert_identical_where_answered(fields: list[str], least_accepted: float) -> None:
    answered = [(source, quick(source)) for source in fields]
    answered = [(source, html) for source, html in answered if html is not None]
    assert len(answered) >= least_accepted * len(fields)
    for source, html in answered:
        assert html == full(source), source


def test_the_question_bank_renders_identically():
    assert_identical_where_answered(bank_fields(CARDS), least_accepted=0.9)


def test_a_synthetic_bank_renders_identically(tmp_path):
    assert_identical_where_answered(bank_fields(write_bank(tmp_path, 1000)), 0.8)


def test_the_renderer_tries_the_quick_path_first(tmp_path, monkeypatch):
    renderer = MarkdownRenderer(tmp_path)
    converted, sanitized = [], []
    monkeypatch.setattr(renderer._md, "convert", lambda source: converted.append(source)
                        or "<p>converted</p>")
    monkeypatch.setattr(render, "sanitize", lambda html, image: sanitized.append(html)
                        or sanitize(html, image))
    where = Location("t.yaml", 1)
    assert renderer.html(Text("什么是 **RoPE**？", where), tmp_path)[0] == (
        "<p>什么是 <strong>RoPE</strong>？</p>")
    assert renderer.html(Text("1. 有序", where), tmp_path)[0] == "<p>converted</p>"
    assert converted == ["1. 有序"]
    assert sanitized == ["<p>什么是 <strong>RoPE</strong>？</p>", "<p>converted</p>"]
