"""Files shipped inside the package: note type templates, CSS and the preview page."""

from __future__ import annotations

from importlib.resources import files

TEMPLATES = files("deckgen").joinpath("templates")
