"""The optional parts of deckgen: the Anki library and MathJax, in the `anki` extra.

The core (build, check, diff, watch) installs anywhere; the Anki library's wheel needs a
recent glibc, and MathJax is 43 MB, so only `preview` and `sync` ask for them.
"""

from __future__ import annotations

from importlib.util import find_spec

from deckgen.errors import DeckgenError

ANKI_MODULES = ("anki", "mathjax")  # the anki and django-static-mathjax distributions
INSTALL_ANKI = "pip install 'deckgen[anki]'"


def has_anki(modules: tuple[str, ...] = ANKI_MODULES) -> bool:
    # find_spec finds the modules without importing them (anki takes a second to import).
    return all(find_spec(name) is not None for name in modules)


def require_anki(command: str, modules: tuple[str, ...] = ANKI_MODULES) -> None:
    """Fail with one line saying what to install if `command` cannot run here."""
    if not has_anki(modules):
        needs = "the Anki library and MathJax" if "mathjax" in modules else "the Anki library"
        raise DeckgenError(f"deckgen {command} needs {needs}: {INSTALL_ANKI}")
