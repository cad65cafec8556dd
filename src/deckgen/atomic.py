"""Files that appear whole or not at all."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_SUFFIX = ".deckgen-tmp"


def temp_beside(path: Path) -> Path:
    """An empty temporary file in `path`'s folder (same file system, so os.replace is
    atomic), readable like any file the user creates."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                               suffix=TEMP_SUFFIX)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path to write; it replaces `path` if the block ends without error,
    and is removed if not."""
    tmp = temp_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def sweep(*folders: Path) -> None:
    """Remove the temporary files of builds that died (killed, or the machine stopped):
    those whose process is gone. A build still running keeps its own."""
    for folder in folders:
        for tmp in folder.glob(f".*{TEMP_SUFFIX}"):
            owner = tmp.name[: -len(TEMP_SUFFIX)].split(".")[-2]  # .NAME.PID.RANDOM
            if owner.isdigit() and not _alive(int(owner)):
                tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: not ours to judge
    return True
