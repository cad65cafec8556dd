"""deckgen: YAML question banks to Anki decks that update in place."""

__version__ = "0.1.0"
