"""A second process for rebuilding a large bank after an edit.

Parsing the edited topic file, importing Markdown, Pygments and genanki, and setting up
the converter take a third of a one-card rebuild of a 10,000-card bank. A helper does
them on another core while the build loads its cache, then renders the changed cards.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from deckgen.environment import CACHE_DIR
from deckgen.manifest import MANIFEST

if TYPE_CHECKING:
    from deckgen.errors import Problem
    from deckgen.model import Topic

LARGE = 3_000_000  # bytes of YAML (some 3,000 cards): a smaller build ends before it helps


class Helper:
    def __init__(self, pool: ProcessPoolExecutor, cards_dir: Path, edited: list[Path]):
        from deckgen.collect import warm_up

        self._pool = pool
        self._parsed = {path: pool.submit(_parse, cards_dir, path) for path in edited}
        pool.submit(warm_up, cards_dir)  # after the parsing: this process waits for that

    def parsed(self, path: Path, digest: str) -> tuple[Topic | None, list[Problem]] | None:
        """The file as the helper read it, if it read these very bytes."""
        future = self._parsed.get(path)
        if future is None:
            return None
        try:
            read_digest, result = future.result()
        except BrokenExecutor:  # the helper died (killed, out of memory): parse here
            return None
        return result if read_digest == digest else None

    def run(self, fn, *args):
        """fn(*args) in the helper, or here if the helper died."""
        try:
            return self._pool.submit(fn, *args).result()
        except BrokenExecutor:
            return fn(*args)


@contextmanager
def helper(cards_dir: Path, out_dir: Path, sources: list[Path]) -> Iterator[Helper | None]:
    """A helper for a large bank with source files edited since the last build, else None.

    Files count as edited when they changed after the last build's manifest: a guess
    that only decides what the helper parses ahead. The build still checks every file.
    """
    stats = [path.stat() for path in sources]
    try:
        last_build = (out_dir / CACHE_DIR / MANIFEST).stat().st_mtime_ns  # written last
    except OSError:
        last_build = None  # a cold build renders in a pool of its own
    if (last_build is None or (os.cpu_count() or 1) < 2
            or sum(st.st_size for st in stats) < LARGE):
        yield None
        return
    edited = [path for path, st in zip(sources, stats) if st.st_mtime_ns >= last_build]
    if not edited:
        yield None
        return
    pool = ProcessPoolExecutor(1)  # it keeps the paused collector: it lives as briefly
    try:
        yield Helper(pool, cards_dir, edited)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # its exit overlaps the build's end


def _parse(cards_dir: Path, path: Path) -> tuple[str, tuple[Topic | None, list[Problem]]]:
    from deckgen.loader import read_topic

    raw = path.read_bytes()
    return hashlib.sha256(raw).hexdigest(), read_topic(cards_dir, path, raw)
