"""Debian's chromium driven by playwright, and the measurements the rendering tests use."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, chromium keeps trying to reach Google's servers on a closed network.
QUIET = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}


@contextmanager
def chromium():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        try:
            yield browser
        finally:
            browser.close()


def copy_mathjax(folder: Path) -> str:
    """Copy the local MathJax into `folder`; return its file name."""
    with as_file(files("mathjax").joinpath("static", "mathjax", "es5", "tex-svg-full.js")) as js:
        shutil.copy2(js, folder / js.name)
        return js.name


def anki_page(card_html: str, night: bool, mathjax: str) -> str:
    """A card as Anki's reviewer shows it: the rendered side in a body of class "card"."""
    modes = " nightMode night_mode" if night else ""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>window.MathJax = {{tex: {{inlineMath: [["\\\\(", "\\\\)"]],
  displayMath: [["\\\\[", "\\\\]"]], processEscapes: false}}}};</script>
<script src="{mathjax}"></script></head>
<body class="card{modes}">{card_html}</body></html>"""


def wait_for_mathjax(page: Page) -> None:
    page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("MathJax.startup.promise")


# Colour helpers shared by the measuring scripts: WCAG relative luminance, and the
# background an element's text is drawn on.
COLOURS = """
  const rgba = s => { const p = s.match(/[\\d.]+/g).map(Number);
                      return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => [c.r, c.g, c.b].map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = el => { for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor); if (c.a > 0) return c; }
    return {r: 255, g: 255, b: 255, a: 1}; };
"""

MEASURE = """() => {""" + COLOURS + """
  const texts = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("mjx-container, style, script")) continue;
    if (!Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const style = getComputedStyle(el);
    const [hi, lo] = [lum(rgba(style.color)), lum(background(el))].sort((a, b) => b - a);
    texts.push({text: el.textContent.trim().slice(0, 40), size: parseFloat(style.fontSize),
                contrast: (hi + 0.05) / (lo + 0.05), footer: !!el.closest(".dg-footer")});
  }
  let widest = 0;
  for (const el of document.body.querySelectorAll("*")) {
    widest = Math.max(widest, el.getBoundingClientRect().right); }
  return {scrollWidth: document.documentElement.scrollWidth, texts,
          mathErrors: document.querySelectorAll("mjx-merror").length,
          formulas: document.querySelectorAll(".arithmatex").length,
          typeset: document.querySelectorAll(".arithmatex > mjx-container").length,
          images: Array.from(document.images).map(i => i.getBoundingClientRect().width)};
}"""


def anki_sides(cards: Path, root: Path, package: str) -> tuple[Path, list[tuple[str, str]]]:
    """Build `cards` under `root`, import `package` into a real Anki collection and return
    a folder holding its media, and (name, html) of the front and back of every card, as
    Anki renders them."""
    from anki.collection import Collection

    from helpers import build, import_package

    shutil.copytree(cards, root / "cards")
    build(root / "cards", root / "build")
    (root / "collection").mkdir()
    col = Collection(str(root / "collection" / "collection.anki2"))
    try:
        import_package(col, root / "build" / package)
        sides = []
        for cid in sorted(col.find_cards("")):
            card = col.get_card(cid)
            name = f"{card.note()['CardId']} c{card.ord + 1}"
            sides += [(f"{name} front", card.question()), (f"{name} back", card.answer())]
        pages = root / "pages"
        shutil.copytree(col.media.dir(), pages)
    finally:
        col.close()
    return pages, sides
