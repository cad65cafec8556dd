"""Files shipped inside the package: note type templates, CSS and the preview page."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
