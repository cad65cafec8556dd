"""A time limit for work that may not end soon enough on hostile input.

Python-Markdown slows down sharply on some unclosed constructs repeated thousands of
times (`<![CDATA[`, `[a](`): 20 KB can take half a minute. A field that takes longer
than any real card ever could is stopped and reported instead. The limit uses SIGALRM,
so it holds in a process's main thread on POSIX systems (where builds, render workers
and `watch` run); elsewhere the work runs without one.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LIMIT_S = 5.0  # a real card renders in about a millisecond


class TooSlow(Exception):
    pass


@contextmanager
def deadline(seconds: float | None = None) -> Iterator[None]:
    """Raise TooSlow in the block if it runs longer than `seconds` (default LIMIT_S)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() != threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise TooSlow

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds or LIMIT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
