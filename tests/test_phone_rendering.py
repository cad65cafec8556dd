"""Cards rendered by the real Anki library, shown in chromium at phone size, day and night."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser import MEASURE, PHONE, anki_page, anki_sides, chromium, copy_mathjax, wait_for_mathjax

FIXTURE = Path(__file__).parent / "fixtures" / "phone"
MIN_FONT_PX = 16
MIN_CONTRAST = 4.5


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, list[tuple[str, str]]]:
    """A folder holding the deck's media, and (name, html) for the front and back of
    every card of the phone fixture deck."""
    pages, sides = anki_sides(FIXTURE, tmp_path_factory.mktemp("phone"), "phone.apkg")
    return pages, [(name.replace(" ", "-"), html) for name, html in sides]


@pytest.fixture(scope="module")
def sides(rendered):
    return rendered[1]


@pytest.fixture(scope="module")
def measurements(rendered):
    """Measure every side at 390x844 in day and night mode; keep screenshots beside."""
    pages, sides = rendered
    mathjax = copy_mathjax(pages)
    results = {}
    with chromium() as browser:
        page = browser.new_page(viewport=PHONE)
        for night in (False, True):
            mode = "night" if night else "day"
            for name, html in sides:
                path = pages / f"{name}-{mode}.html"
                path.write_text(anki_page(html, night, mathjax), encoding="utf-8")
                page.goto(path.as_uri())
                wait_for_mathjax(page)
                page.screenshot(path=str(path.with_suffix(".png")), full_page=True)
                results[name, mode] = page.evaluate(MEASURE)
    texts = [t for m in results.values() for t in m["texts"]]
    print(f"\nscreenshots in {pages}; smallest body font"
          f" {min(t['size'] for t in texts if not t['footer'])}px; worst contrast"
          f" {min(t['contrast'] for t in texts):.2f}; widest page"
          f" {max(m['scrollWidth'] for m in results.values())}px")
    return results


def test_fixture_covers_every_kind_of_content(sides):
    names = {name.rsplit("-", 2)[0] for name, _ in sides}
    assert names == {"long-chinese", "wide-table", "long-code", "wide-formula", "wide-image",
                     "cloze-formula"}


def test_every_formula_is_typeset_without_errors(measurements):
    for key, m in measurements.items():
        assert m["mathErrors"] == 0, key
        assert m["typeset"] == m["formulas"], key
    assert sum(m["formulas"] for m in measurements.values()) > 10


def test_nothing_scrolls_the_page_sideways(measurements):
    for key, m in measurements.items():
        assert m["scrollWidth"] <= PHONE["width"], key


def test_images_scale_down_to_the_screen(measurements):
    widths = [w for m in measurements.values() for w in m["images"]]
    assert widths and max(widths) <= PHONE["width"]


def test_body_text_is_at_least_16px(measurements):
    for key, m in measurements.items():
        body = [t for t in m["texts"] if not t["footer"]]
        assert body, key
        small = [t for t in body if t["size"] < MIN_FONT_PX]
        assert small == [], key


def test_text_contrast_is_at_least_4_5_in_day_and_night(measurements):
    for key, m in measurements.items():
        low = [t for t in m["texts"] if t["contrast"] < MIN_CONTRAST]
        assert low == [], key
