"""One hash of everything outside the sources that shapes a build's output.

Kept apart from the cache so that a build with nothing to do, which compares this hash
with the last build's, imports almost nothing.
"""

from __future__ import annotations

import hashlib
from importlib.util import find_spec
from pathlib import Path

from deckgen import __version__, resources

CACHE_DIR = ".deckgen-cache"  # in the output folder: the build's own files
RENDER_VERSION = 1  # bump when rendering changes in a way the versions below miss
# What rendering depends on, and PyYAML: the cache keeps cards as it read them.
LIBRARIES = ("markdown", "pymdownx", "pygments", "nh3", "yaml")


def digest() -> str:
    """deckgen's own files, the note type templates and CSS, and the rendering libraries.

    Files are compared by path, size and mtime: an upgrade rewrites them. This costs
    a few stat calls, where importing the libraries to ask their versions would cost
    more than a whole no-change build may take.
    """
    ours = Path(__file__).parent
    files = [*sorted(ours.glob("*.py")), *sorted(resources.TEMPLATES.iterdir())]
    for library in LIBRARIES:
        spec = find_spec(library)
        files.append(Path(spec.origin) if spec and spec.origin else Path(library))
    content = (__version__, RENDER_VERSION, [file_stat(f) for f in files])
    return hashlib.sha256(repr(content).encode()).hexdigest()[:20]


def file_stat(path: Path) -> tuple[str, int, int]:
    """Path, size and mtime: a file rewritten (an upgrade, an edited image) differs."""
    try:
        st = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), st.st_size, st.st_mtime_ns)
