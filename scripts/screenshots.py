"""Make the README's day and night screenshots from `deckgen preview` of the real bank.

Usage: python3 scripts/screenshots.py [card-id]   (needs Debian's chromium and playwright)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
QUIET = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(card_id: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        cards = Path(scratch) / "cards"
        shutil.copytree(ROOT / "cards", cards)  # the build's state file stays out of the repo
        subprocess.run([sys.executable, "-m", "deckgen", "preview", "--cards", cards,
                        "--out", Path(scratch) / "build"], check=True, capture_output=True)
        index = Path(scratch) / "build" / "preview" / "index.html"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=QUIET)
            for mode in ("day", "night"):
                page = browser.new_page(viewport={"width": 820, "height": 900})
                page.goto(f"{index.as_uri()}#{mode}")
                page.evaluate("MathJax.startup.promise")
                page.fill("#search", card_id)
                page.add_style_tag(content=".bar { display: none; }")
                entry = page.locator(f'.entry[data-id="{card_id}"] .sides')
                entry.screenshot(path=str(ROOT / "docs" / f"card-{mode}.png"))
            browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dot-product-attention-scaling")
