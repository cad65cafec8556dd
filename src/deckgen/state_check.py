"""Check a state file's values before a build trusts them: it is committed, so it gets
edited by hand and merged by git."""

from __future__ import annotations

MAX_MTIME = 253402300799  # 9999-12-31: seconds Anki and SQLite both hold
NOTE_KINDS = ("basic", "cloze")  # the note types' keys (notetypes.py)


def stamp_problem(key: object, stamp: object, sizes: tuple[int, ...]) -> str | None:
    """Why one entry of "notes" (4 or 5 values; older files have 4) or "notetypes" (3) is
    unusable, or None."""
    if not isinstance(stamp, list) or len(stamp) not in sizes:
        return f"'{key}' must be a list of {' or '.join(map(str, sizes))} values"
    digest, mtime, *names = stamp
    if not all(isinstance(v, str) for v in (digest, *names)):
        return f"'{key}': every value but the second must be text"
    if type(mtime) is not int or not 0 <= mtime <= MAX_MTIME:
        return f"'{key}': the second value must be a time in whole seconds (got {mtime!r})"
    if len(stamp) == 5 and stamp[4] not in NOTE_KINDS:
        return f"'{key}': the fifth value must be {' or '.join(map(repr, NOTE_KINDS))}"
    return None
