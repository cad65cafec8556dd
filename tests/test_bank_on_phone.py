"""Every card of the question bank, as the real Anki library renders it, on a 390 px phone
in day and night mode: no formula wider than its box or the card, no body text under 16 px,
no text below a 4.5:1 contrast.

Loading one page per side would take many minutes for a bank of hundreds of cards, so all
sides share one page: each sits in its own 390 px wide box of class "card" (the note type's
CSS is scoped to `.card`, as on Anki's body), MathJax typesets the page once, and night mode
is the same page with `nightMode night_mode` added to every box.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from browser import COLOURS, PHONE, anki_sides, chromium, copy_mathjax

CARDS = Path(__file__).parent.parent / "cards"
MIN_FONT_PX = 16
MIN_CONTRAST = 4.5
STYLE = re.compile(r"<style>.*?</style>", re.DOTALL)

# Anki's reviewer config for MathJax, but typesetting waits until each formula's TeX has
# been kept aside (data-tex), so that a failure can quote it.
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>window.MathJax = {{tex: {{inlineMath: [["\\\\(", "\\\\)"]],
  displayMath: [["\\\\[", "\\\\]"]], processEscapes: false}},
  startup: {{typeset: false}}}};</script>
<script src="{mathjax}"></script>
{styles}
<style>body {{ margin: 0; }} .dg-side {{ width: {width}px; box-sizing: border-box; }}</style>
</head><body>{sides}</body></html>"""

TYPESET = """async () => {
  for (const el of document.querySelectorAll(".arithmatex")) el.dataset.tex = el.textContent;
  await MathJax.startup.promise;
  await MathJax.typesetPromise();
}"""

# One list of problems per side, measured in the page's current mode.
MEASURE = """([minFont, minContrast]) => {""" + COLOURS + """
  const result = {};
  for (const side of document.querySelectorAll(".dg-side")) {
    const problems = [];
    const card = side.getBoundingClientRect();
    const right = card.right - parseFloat(getComputedStyle(side).paddingRight) + 1;
    if (side.querySelector("mjx-merror")) problems.push("MathJax error");
    for (const box of side.querySelectorAll(".arithmatex")) {
      const tex = (box.dataset.tex || "").trim();
      const math = box.querySelector("mjx-container > svg");
      if (!math) { problems.push(`formula not typeset: ${tex}`); continue; }
      const container = box.querySelector("mjx-container");
      const room = Math.min(box.clientWidth || Infinity, container.clientWidth || Infinity);
      const width = math.getBoundingClientRect().width;
      const edge = Math.max(math.getBoundingClientRect().right, box.getBoundingClientRect().right);
      if (width > room + 1)
        problems.push(`formula ${Math.round(width)}px in a ${Math.round(room)}px box: ${tex}`);
      else if (edge > right)
        problems.push(`formula past the card's edge by ${Math.round(edge - right)}px: ${tex}`);
    }
    if (side.scrollWidth > side.clientWidth + 1)
      problems.push(`card scrolls sideways: ${side.scrollWidth}px`);
    for (const el of side.querySelectorAll("*")) {
      if (el.closest("mjx-container, style, script")) continue;
      if (!Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) continue;
      const style = getComputedStyle(el);
      const text = el.textContent.trim().slice(0, 40);
      const size = parseFloat(style.fontSize);
      if (size < minFont && !el.closest(".dg-footer"))
        problems.push(`text ${size}px: ${text}`);
      const [hi, lo] = [lum(rgba(style.color)), lum(background(el))].sort((a, b) => b - a);
      const contrast = (hi + 0.05) / (lo + 0.05);
      if (contrast < minContrast) problems.push(`contrast ${contrast.toFixed(2)}: ${text}`);
    }
    result[side.dataset.name] = problems;
  }
  return result;
}"""

NIGHT = """() => { for (const side of document.querySelectorAll(".dg-side"))
  side.classList.add("nightMode", "night_mode"); }"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, list[tuple[str, str]]]:
    """A folder holding the bank's media, and (name, html) for the front and back of
    every card of the bank, as Anki renders them after importing all.apkg."""
    return anki_sides(CARDS, tmp_path_factory.mktemp("bank"), "all.apkg")


@pytest.fixture(scope="module")
def problems(rendered) -> dict[tuple[str, str], list[str]]:
    """(side, mode) -> what is wrong with it, all sides measured in one page."""
    pages, sides = rendered
    styles = dict.fromkeys(s for _, side in sides for s in STYLE.findall(side))
    body = "".join(f'<div class="card dg-side" data-name="{html.escape(name)}">'
                   f"{STYLE.sub('', side)}</div>" for name, side in sides)
    path = pages / "bank.html"
    path.write_text(PAGE.format(mathjax=copy_mathjax(pages), styles="".join(styles),
                                width=PHONE["width"], sides=body), encoding="utf-8")
    found = {}
    with chromium() as browser:
        page = browser.new_page(viewport=PHONE)
        page.set_default_timeout(300_000)
        page.goto(path.as_uri())
        page.evaluate(TYPESET)
        for mode in ("day", "night"):
            if mode == "night":
                page.evaluate(NIGHT)
            for name, listed in page.evaluate(MEASURE, [MIN_FONT_PX, MIN_CONTRAST]).items():
                found[name, mode] = listed
    assert len(found) == 2 * len(sides)
    return found


def test_every_side_of_every_card_is_measured(rendered, problems):
    _, sides = rendered
    assert len({name.split()[0] for name, _ in sides}) > 100
    assert sum("arithmatex" in side for _, side in sides) > 100
    assert {mode for _, mode in problems} == {"day", "night"}


def test_every_side_reads_on_a_phone_in_day_and_night(problems):
    modes: dict[tuple[str, str], list[str]] = {}
    for (name, mode), listed in sorted(problems.items()):
        for problem in listed:
            modes.setdefault((name, problem), []).append(mode)
    bad = [f"{name} ({', '.join(mode)}): {problem}" for (name, problem), mode in modes.items()]
    assert bad == [], f"{len(bad)} problems (card id, cloze number, side):\n" + "\n".join(bad)
