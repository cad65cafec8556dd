"""Check a state file's values before a build trusts them: it is committed, so it gets
edited by hand and merged by git."""

from __future__ import annotations

MAX_MTIME = 253402300799  # 9999-12-31: seconds Anki and SQLite both hold


def stamp_problem(key: object, stamp: object, size: int) -> str | None:
    """Why one entry of "notes" (size 4) or "notetypes" (size 3) is unusable, or None."""
    if not isinstance(stamp, list) or len(stamp) != size:
        return f"'{key}' must be a list of {size} values"
    digest, mtime, *names = stamp
    if not all(isinstance(v, str) for v in (digest, *names)):
        return f"'{key}': every value but the second must be text"
    if type(mtime) is not int or not 0 <= mtime <= MAX_MTIME:
        return f"'{key}': the second value must be a time in whole seconds (got {mtime!r})"
    return None
