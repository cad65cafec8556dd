"""Find the files under the cards folder, saying what could not be read.

A folder or file that cannot be read must never look like a topic that was deleted
(its package would be removed and its cards reported gone): each is an error. Hidden
files and folders (`.git`, editors' swap files) and `~` backups are not the author's
sources and are left out.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from deckgen.errors import UNSHOWABLE, Problem, os_reason

SUFFIXES = (".yaml", ".yml")
NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that are not UTF-8, as Python names them


def find_files(cards_dir: Path, skip: Path | None = None) -> tuple[list[Path], list[Problem]]:
    """Every file, sorted, and a problem for each folder or topic file that cannot be
    read. Symlinked folders are followed once; a symlink back into a folder already read
    is a loop. The folder `skip` (the output folder, which may be inside the cards
    folder) is left out."""
    found, problems = [], []
    seen: set[Path] = set()
    root = cards_dir.resolve()
    skipped = output_inside(cards_dir, skip)
    folders = [cards_dir]
    while folders:
        folder = folders.pop()
        try:
            real = folder.resolve(strict=True)
            entries = list(os.scandir(folder))
        except OSError as e:
            problems.append(Problem(str(folder), 1, f"cannot read this folder ({os_reason(e)});"
                                                    " fix its permissions or remove it"))
            continue
        if real == skipped:
            if topics := _topic_files(folder):
                problems.append(Problem(str(folder), 1, (
                    f"this output folder holds topic files ({', '.join(topics[:3])}), which a"
                    " build into it would leave out; give --out a folder of its own")))
            continue
        if real in seen:
            problems.append(Problem(str(folder), 1, "symlink loop: this folder is already read"
                                                    " under another name; remove the symlink"))
            continue
        seen.add(real)
        for entry in entries:
            if is_hidden(entry.name) or entry.name == "Icon\r":
                continue  # hidden, a backup, or a macOS folder icon
            if NOT_UTF8.search(entry.name):
                problems.append(Problem(str(folder), 1, f"the name {entry.name!r} is not valid"
                                                        " UTF-8; rename it"))
                continue
            if char := UNSHOWABLE.search(entry.name):  # it could print as lines of its own
                problems.append(Problem(str(folder), 1, (
                    f"the name {entry.name!r} has a control character"
                    f" U+{ord(char.group()):04X}; rename it")))
                continue
            if "\\" in entry.name and (is_source(entry.name) or entry.is_dir()):
                # A topic's path shows in each of its cards' footer (the Source field).
                problems.append(Problem(str(folder), 1, (
                    f"the name '{entry.name}' has a backslash, which Anki would read as TeX"
                    " in the footer of each card that names it; rename it")))
                continue
            path = Path(entry.path)
            if entry.is_symlink() and not _inside(path, root):
                problems.append(Problem(str(path), 1, "a link to outside the cards folder;"
                                                      " copy what it links to into the"
                                                      " folder, or remove the link"))
                continue
            try:
                is_folder = entry.is_dir()
            except OSError:  # a symlink loop
                problems.append(_unreadable(path))
                continue
            if is_folder:
                folders.append(path)
            elif entry.is_file():
                found.append(path)
            elif path.suffix in SUFFIXES:
                problems.append(_unreadable(path))
    return sorted(found), problems


def _topic_files(folder: Path) -> list[str]:
    """The topic files under a folder (hidden ones left out, as everywhere), relative to it."""
    found = []
    for parent, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if not is_hidden(f)]
        found += [os.path.relpath(os.path.join(parent, f), folder) for f in files
                  if f.endswith(SUFFIXES) and not is_hidden(f)]
    return sorted(found)


def is_hidden(name: str) -> bool:
    """A hidden file or folder, or a backup: not the author's sources."""
    return name.startswith(".") or name.endswith("~")


def output_inside(cards_dir: Path, out_dir: Path | None) -> Path | None:
    """The output folder, resolved, if it is another folder than the cards folder: what
    the build writes there is not the author's. (As the cards folder itself, it leaves
    nothing out.)"""
    if out_dir is None or (out := out_dir.resolve()) == cards_dir.resolve():
        return None
    return out


def _inside(path: Path, root: Path) -> bool:
    """Whether a link leads inside `root` (a broken one is reported where it is read)."""
    try:
        return path.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError):  # a loop (RuntimeError before Python 3.13), or nothing
        return True


def _unreadable(path: Path) -> Problem:
    try:
        os.stat(path)
        reason = "not a regular file"
    except OSError as e:
        reason = os_reason(e)
    return Problem(str(path), 1, f"cannot read this file ({reason}); fix it or remove it")


def is_source(path: str) -> bool:
    """Whether a file under the cards folder is a topic file."""
    return path.endswith(SUFFIXES)
