"""Files shipped inside the package: note type templates, CSS and the preview page, the
source format's JSON Schema, and the new bank that `deckgen init` writes."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
SCHEMA = Path(__file__).parent / "topic.schema.json"
STARTER = Path(__file__).parent / "starter"
