"""deckgen: YAML question banks to Anki decks that update in place."""

__version__ = "0.1.0"
COMBINED = "all"  # file stem of the package holding every topic; no topic may take it
