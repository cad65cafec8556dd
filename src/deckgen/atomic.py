"""Files that appear whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def temp_beside(path: Path) -> Path:
    """An empty temporary file in `path`'s folder (same file system, so os.replace is
    atomic), readable like any file the user creates."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = temp_beside(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
