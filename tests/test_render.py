"""Rendering: golden files for math, code, tables and cloze, plus images as media.

Set DECKGEN_UPDATE_GOLDEN=1 to rewrite the expected .html files after a deliberate change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deckgen import cloze
from deckgen.model import Location, Text
from deckgen.render import MarkdownRenderer, is_image

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.md"))


def render(source: str, cards_dir: Path = GOLDEN) -> str:
    renderer = MarkdownRenderer(cards_dir)
    html, _, removed = renderer.html(Text(source, Location("x.yaml", 1)), cards_dir)
    assert renderer.problems == [] and removed == ()
    return html


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    source = (GOLDEN / f"{case}.md").read_text(encoding="utf-8")
    if case.startswith("cloze"):
        source = cloze.pad_deletions(source)
    html = render(source) + "\n"
    expected = GOLDEN / f"{case}.html"
    if os.environ.get("DECKGEN_UPDATE_GOLDEN"):
        expected.write_text(html, encoding="utf-8")
    assert html == expected.read_text(encoding="utf-8")


def test_tex_is_kept_byte_for_byte():
    tex = r"\frac{a_1*b_2}{c_{i}} < \sqrt[3]{x} \\ y & z"
    html = render(f"Inline ${tex}$ here.")
    escaped = tex.replace("&", "&amp;").replace("<", "&lt;")
    assert f"\\({escaped}\\)" in html


def test_price_is_not_math():
    assert render("costs $5 today") == "<p>costs $5 today</p>"


def test_images_become_uniquely_named_media(tmp_path):
    for folder, data in (("a", b"\x89PNG first"), ("b", b"\x89PNG second")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "figure.png").write_bytes(data)
    renderer = MarkdownRenderer(tmp_path)
    html, used, _ = renderer.html(
        Text("![1](a/figure.png) ![2](b/figure.png)", Location("x.yaml", 1)), tmp_path)
    names = [m.name for m in used]
    assert len(set(names)) == 2 and all(n.startswith("figure-") for n in names)
    assert f'src="{names[0]}"' in html and f'src="{names[1]}"' in html


def test_a_long_lived_renderer_keeps_no_problems_between_cards(tmp_path):
    # `watch` renders with one renderer for as long as it runs: nothing may pile up in it.
    from deckgen.model import Card, Topic
    from deckgen.render import render_checked

    renderer = MarkdownRenderer(tmp_path)
    topic = Topic("t", "D", tmp_path / "t.yaml", "t.yaml", ())
    card = Card("a", Location("t.yaml", 3), front=Text("q", Location("t.yaml", 4)),
                back=Text("![x](missing.png)", Location("t.yaml", 5)))
    for _ in range(3):
        _, problems = render_checked(card, topic, renderer)
        assert [p.message for p in problems] == ["image 'missing.png' not found"]
    assert renderer.problems == []


@pytest.mark.parametrize("data, image", [
    (b"\x89PNG\r\n\x1a\n", True),
    (b"\xff\xd8\xff\xe0", True),
    (b"GIF89a", True),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", True),
    (b"\x00\x00\x00\x1cftypavif", True),
    (b"BM" + bytes(12) + (40).to_bytes(4, "little"), True),
    (b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x">\n<svg/>',
     True),
    (b"<!-- " + b"x" * 3000 + b" -->\n<svg xmlns='http://www.w3.org/2000/svg'/>", True),
    (b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x" [\n'
     b'  <!ENTITY ns_svg "http://www.w3.org/2000/svg">\n]>\n<svg/>', True),  # Illustrator's
    (b"\x00\x00\x00\x18ftypmp42", False),  # a video
    (b"BMW is a car", False),
    (b"deck: D\ncards: []\n", False),
    (b"%PDF-1.7", False),
])
def test_what_counts_as_an_image(data, image):
    assert is_image(data) is image
