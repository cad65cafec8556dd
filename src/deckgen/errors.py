"""Problems in the user's sources, reported as `path:line: level: message`."""

from __future__ import annotations

import errno
import os
import re
import sys
from dataclasses import dataclass

import click

# What a report must not print as is: control characters and line separators (a line
# break reads as a report line of its own to editors and CI) and text-direction controls
# (they reorder what the terminal shows). Names with one are refused; text quoted in a
# message prints them escaped.
UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, order=True)
class Problem:
    # Not deckgen.model.Compact: errors stands below every other module.
    path: str
    line: int
    message: str
    level: str = "error"  # "error" stops check and build; "warning" does not
    code: str = ""  # the lint's name, which `allow:` takes; "" for plain errors

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.level}: {showable(self.message)}"

    def __reduce__(self):
        return Problem, (self.path, self.line, self.message, self.level, self.code)

    def as_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "level": self.level, "code": self.code,
                "message": self.message}


def showable(text: str) -> str:
    """`text` on one line as written: UNSHOWABLE characters as \\uXXXX escapes."""
    return UNSHOWABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def os_reason(error: OSError) -> str:
    """What went wrong, in a few words: 'Permission denied', 'a symlink loop'..."""
    if error.errno == errno.ELOOP:
        return "a symlink loop"
    if error.errno in (errno.EEXIST, errno.ENOTDIR):  # making a folder where a file is
        return "a file is in the way of a folder"
    if error.errno == errno.ENOENT and error.filename and os.path.islink(error.filename):
        return "a symlink to nothing"
    return error.strerror or type(error).__name__


ADVICE = {
    errno.ENOSPC: "free some space and run it again",
    errno.EDQUOT: "free some space and run it again",
    errno.EACCES: "check the permissions of the folder and file",
    errno.EPERM: "check the permissions of the folder and file",
    errno.EROFS: "the file system is read-only; use another folder",
}


def os_error_message(error: OSError) -> str:
    """One line naming the path, what happened and what to do."""
    where = error.filename or "deckgen"
    advice = ADVICE.get(error.errno or 0, "fix it and run it again")
    return f"{where}: {os_reason(error)}; {advice}"


class DeckgenError(click.ClickException):
    """Any failure the user can fix; click turns it into exit code 1."""

    def show(self, file=None) -> None:
        click.echo(self.format_message(), file=file or sys.stderr)


class SourceErrors(DeckgenError):
    """Every problem found in one run, so the user can fix them all at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(map(str, self.problems)))
