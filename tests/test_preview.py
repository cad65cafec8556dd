"""`deckgen preview`: an offline page of every card, with a night toggle and search."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from browser import chromium, wait_for_mathjax
from helpers import run

BANK = Path(__file__).parent.parent / "cards"


def write_preview(cards: Path, out: Path) -> Path:
    result = run("preview", "--cards", cards, "--out", out)
    assert result.exit_code == 0, result.output
    return out / "preview" / "index.html"


def open_offline(browser, index: Path, requests: list[str]):
    """A page that may load only local files; every other request is refused and noted."""
    page = browser.new_page(viewport={"width": 900, "height": 900})

    def guard(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.goto(index.as_uri())
    wait_for_mathjax(page)
    return page


def card_backgrounds(page) -> set[str]:
    return set(page.eval_on_selector_all(
        ".phone > .card", "cards => cards.map(c => getComputedStyle(c).backgroundColor)"))


def test_preview_works_offline_and_toggles_night_mode(cards, tmp_path):
    index = write_preview(cards, tmp_path / "build")
    requests: list[str] = []
    with chromium() as browser:
        page = open_offline(browser, index, requests)
        assert page.locator(".entry").count() == 6  # five notes, one with two cloze cards
        assert page.locator("mjx-container").count() > 5
        assert page.locator("mjx-merror").count() == 0
        assert page.locator("img").evaluate_all("imgs => imgs.every(i => i.naturalWidth > 0)")
        assert card_backgrounds(page) == {"rgb(255, 255, 255)"}
        page.screenshot(path=str(tmp_path / "preview-day.png"))

        page.click("#night")
        assert card_backgrounds(page) == {"rgb(30, 30, 30)"}
        assert page.locator(".phone > .card.nightMode").count() == 12
        page.screenshot(path=str(tmp_path / "preview-night.png"))
        page.click("#night")
        assert card_backgrounds(page) == {"rgb(255, 255, 255)"}
    assert requests == []


def test_preview_search_filters_by_id_and_text(cards, tmp_path):
    index = write_preview(cards, tmp_path / "build")
    with chromium() as browser:
        page = open_offline(browser, index, [])
        page.fill("#search", "tex-cloze")
        assert page.locator(".entry:visible").count() == 1
        page.fill("#search", "PyTorch")
        assert page.locator(".entry:visible .meta").all_inner_texts() == ["attention-code"]
        assert page.locator(".topic:visible h2").all_inner_texts() == ["测试::Transformer 与注意力"]
        page.fill("#search", "")
        assert page.locator(".entry:visible").count() == 6


def test_every_card_of_the_bank_fits_a_phone(tmp_path):
    shutil.copytree(BANK, tmp_path / "cards")
    index = write_preview(tmp_path / "cards", tmp_path / "build")
    with chromium() as browser:
        page = open_offline(browser, index, [])
        assert page.locator("mjx-merror").count() == 0
        assert page.locator(".arithmatex > mjx-container").count() == \
            page.locator(".arithmatex").count() > 100
        overflowing = page.eval_on_selector_all(
            ".phone > .card", """cards => cards.filter(c => c.scrollWidth > c.clientWidth)
                                  .map(c => c.closest('.entry').dataset.id)""")
        assert overflowing == []


def test_the_preview_can_be_shared_as_it_is(cards, tmp_path):
    """Images are as readable as the page: Anki keeps its media private (0600), and the
    preview's copies must not be, or a page served or sent along shows no image."""
    index = write_preview(cards, tmp_path / "build")
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.name: p.stat().st_mode & 0o777 for p in index.parent.rglob("*") if p.is_file()}
    assert set(modes.values()) == {0o666 & ~umask}, modes
