"""Shared fixtures: a scratch copy of the fixture cards, the CLI, a real Anki collection."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from anki.collection import Collection

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    """A writable copy of tests/fixtures/cards."""
    target = tmp_path / "cards"
    shutil.copytree(FIXTURES / "cards", target)
    return target


@pytest.fixture
def collection(tmp_path: Path):
    folder = tmp_path / "collection"
    folder.mkdir()
    col = Collection(str(folder / "collection.anki2"))
    yield col
    col.close()


@pytest.fixture
def templates(tmp_path: Path, monkeypatch) -> Path:
    """An editable copy of the note type templates that builds use, as after an upgrade.
    (note_types() is cached per process: clear it after editing.)"""
    from deckgen import notetypes, resources

    folder = tmp_path / "templates"
    shutil.copytree(resources.TEMPLATES, folder)
    monkeypatch.setattr(resources, "TEMPLATES", folder)
    notetypes.note_types.cache_clear()
    yield folder
    monkeypatch.undo()
    notetypes.note_types.cache_clear()
